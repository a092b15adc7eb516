"""``painterly again RESULT [-o NEW] [flags]``: paint a result again from its own record.

The record (the PNG's ``painterly`` text chunk, or ``RESULT.json`` beside it) holds the options
with the seed, the inputs with their hashes, the device and the CPU threads. The inputs are found
by their recorded paths (as given then: relative to the folder the command ran in, else to the
result's folder) and must have the recorded hashes; any flag given overrides the record. On the
CPU, with the same inputs, options, threads and versions, the new result's pixels are the old
one's exactly; where something differs (another device or thread count, another torch) a note
says so before painting.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

import torch

from ..config import StyleConfig
from ..devices import name, resolve_device, use_threads
from ..errors import ConfigError, ImageError
from ..meta import file_digest, read_record, versions
from ..options import config_from_options
from ..prints import MAX_DPI
from .guard import Parser, command
from .options import add_style_options, config_from_args
from .paint import add_output_options, paint_files

INPUT_NAMES = {"content": "content", "styles": "style", "masks": "--mask", "coarse_style": "--coarse-style",
               "fine_style": "--fine-style", "init": "--init"}


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="painterly again",
               description="Paint a result again from its record: the same options, seed and inputs (checked by "
               "their hashes); any flag given overrides the record (e.g. --size 1024).")
    p.add_argument("result", help="a result painterly wrote (its PNG record, or RESULT.json beside it), or that JSON file")
    add_output_options(p, again=True)
    add_style_options(p)
    return p


def _find(entry: Any, what: str, result: Path) -> str | None:
    """The recorded input ``entry`` ({"path", "sha256"}) as a path here, checked by its hash."""
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise ImageError(f"{result}: its record's {what} is not a file entry; it cannot be painted again")
    recorded = Path(entry["path"])
    found = next((p for p in (recorded, result.parent / recorded, result.parent / recorded.name) if p.is_file()), None)
    if found is None:
        raise ImageError(f"{what} {recorded}: not found (named by {result}'s record); put it back, or run "
                         "painterly again from the folder the result was painted in")
    want = entry.get("sha256")
    if want is not None and file_digest(found) != want:
        raise ImageError(f"{what} {found}: changed since {result} was painted (its sha256 differs from the "
                         "record's); restore the original to paint it again")
    return str(found)


def recorded_inputs(record: dict[str, Any], result: Path) -> dict[str, Any]:
    """The record's input files as paths here: ``content``, ``styles``, ``masks``, ``coarse_style``,
    ``fine_style``, ``init``; each found and checked by :func:`_find`."""
    inputs = record["inputs"]
    if "content" not in inputs:
        raise ImageError(f"{result}: its record names no content photo (a video's or a texture's record?); "
                         "painterly again repaints images painted by painterly")
    found: dict[str, Any] = {}
    for key, what in INPUT_NAMES.items():
        entry = inputs.get(key)
        found[key] = [_find(e, what, result) for e in entry] if isinstance(entry, list) else _find(entry, what, result)
    found["styles"] = found["styles"] or []
    return found


def _machine(args: argparse.Namespace, record: dict[str, Any], recorded: StyleConfig) -> tuple[StyleConfig, list[str]]:
    """The recorded options on the recorded device (where this machine has it) and threads, unless the flags
    say otherwise; and the notes on what will differ from the record."""
    device, threads = recorded.device, recorded.threads
    if args.device is None and isinstance(record.get("device"), str):
        with contextlib.suppress(ConfigError):  # not here: the recorded options' own (auto), and a note below
            device = name(resolve_device(record["device"]))
    if args.threads is None and isinstance(record.get("threads"), int):
        threads = record["threads"]
    cfg = config_from_args(args, base=recorded.replace(device=device, threads=threads))
    used = name(resolve_device(cfg.device))
    use_threads(cfg.threads)
    notes = []
    if record.get("device") not in (None, used):
        notes.append(f"painting on {used}, not {record['device']}")
    if record.get("threads") not in (None, torch.get_num_threads()) and used == "cpu":
        notes.append(f"painting with {torch.get_num_threads()} CPU threads, not {record['threads']}")
    then, now = record.get("painterly"), versions()
    for pkg in ("torch", "painterly"):
        was = then.get(pkg) if isinstance(then, dict) else None
        if was is not None and was != now.get(pkg):
            notes.append(f"{pkg} is {now.get(pkg)} here, not {was}")
    return cfg, notes


def again(argv: list[str]) -> int:
    """Paint a result again from its record (see the module docstring)."""
    args = build_parser().parse_args(argv)
    record = read_record(args.result)
    result = Path(args.result[:-5] if args.result.lower().endswith(".json") else args.result)  # the image
    recorded = config_from_options(record["config"], source=f"{result}: its record")
    cfg, notes = _machine(args, record, recorded)
    files = recorded_inputs(record, result)
    if files["init"] is not None and cfg.init == recorded.init:  # the recorded start image, found here
        cfg = cfg.replace(init=files["init"])
    out_suffix = Path(args.output).suffix.lower() if args.output else result.suffix.lower()
    if args.output is None:
        args.output = str(result.with_name(f"{result.stem}.again{result.suffix}"))
    if args.bit_depth is None:
        args.bit_depth = record.get("bit_depth") if out_suffix in (".png", ".tif", ".tiff") else 8
        args.bit_depth = args.bit_depth if args.bit_depth in (8, 16) else 8
    if args.quality is None and out_suffix in (".jpg", ".jpeg", ".webp") and isinstance(record.get("quality"), int):
        args.quality = record["quality"]
    dpi = record.get("dpi")
    args.dpi = float(dpi) if isinstance(dpi, (int, float)) and not isinstance(dpi, bool) and 0 < dpi <= MAX_DPI else None
    args.content, args.styles = files["content"], files["styles"]
    controls = {"masks": files["masks"] or None, "coarse_style": files["coarse_style"], "fine_style": files["fine_style"]}
    if notes:
        print(f"painterly: note: {'; '.join(notes)}: the result will be close to {result}, not identical",
              file=sys.stderr)
    return paint_files(args, cfg, controls, again_of={"path": str(result), "seed": recorded.seed})


main = command(again)
