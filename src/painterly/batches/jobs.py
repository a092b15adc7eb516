"""Batch jobs: expanding files, folders, globs and manifests into one job per output.

A manifest is a CSV file with a header row, or JSON Lines. Columns/keys: ``content``
(required), ``style`` (one path; several separated by ";" in CSV, or a JSON list), ``output``
(optional, relative to OUT_DIR) and any :class:`~painterly.config.StyleConfig` option
(``size``, ``style_weight`` or ``style-weight``, ...). Relative paths are relative to the
manifest's folder. A bad line fails only its own job.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import StyleConfig
from ..errors import ConfigError
from ..images import OUTPUT_FORMATS
from ..options import config_from_options, field_value

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".avif", ".heic", ".heif"})
MANIFEST_SUFFIXES = frozenset({".csv", ".jsonl", ".ndjson"})


@dataclass(frozen=True)
class Job:
    """One output: ``content`` painted in ``styles`` (blended) with ``config``."""

    content: Path
    styles: tuple[Path, ...]
    output: str  # relative to OUT_DIR, "/"-separated
    config: StyleConfig
    source: str  # where the job came from: the content path, or "list.csv:3"


def expand(
    inputs: Sequence[str | os.PathLike[str]],
    styles: Sequence[str | os.PathLike[str]],
    config: StyleConfig,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    output_format: str = "png",
    each_style: bool = False,
) -> tuple[list[Job], list[dict[str, Any]]]:
    """Jobs for ``inputs``, and a failure record ({"input", "reason"}) for each input that yields none.

    Folders contribute their image files (not sub-folders; use a ``**`` glob for those), globs
    their matching image files; files inside ``out_dir`` are left out of both. A file named
    explicitly is always a job. ``each_style`` makes one job per style instead of one blend.
    """
    fmt = check_format(output_format)
    base_styles = tuple(Path(s) for s in styles)
    outside = _abs(Path(out_dir)) if out_dir is not None else None
    rows: list[tuple[Path, tuple[Path, ...], str | None, StyleConfig, str]] = []
    failed: list[dict[str, Any]] = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text)
        if path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file():
            for source, row in _manifest_rows(path):
                if isinstance(row, str):
                    failed.append({"input": source, "reason": row})
                    continue
                content, row_styles, output, options = row
                try:
                    cfg = config_from_options(options, base=config) if options else config
                except ConfigError as e:
                    failed.append({"input": source, "reason": str(e)})
                    continue
                rows.append((content, row_styles or base_styles, output, cfg, source))
            continue
        found, reason = _image_paths(text, outside)
        if reason:
            failed.append({"input": text, "reason": reason})
        rows.extend((p, base_styles, None, config, str(p)) for p in found)
    jobs: list[Job] = []
    seen: set[tuple[Path, tuple[Path, ...], str | None]] = set()
    for content, row_styles, output, cfg, source in rows:
        if not row_styles:
            failed.append({"input": source, "reason": "no style image: give --style, or a style column in the manifest"})
            continue
        groups = [(s,) for s in row_styles] if each_style and output is None else [row_styles]
        for group in groups:
            key = (_abs(content), tuple(_abs(s) for s in group), output)
            if key in seen:
                continue
            seen.add(key)
            try:
                cfg.blend_weights(len(group))
                cfg.scales_for(len(group))
            except ConfigError as e:
                failed.append({"input": source, "reason": str(e)})
                continue
            jobs.append(Job(content, group, output or "", cfg, source))
    return _name_outputs(jobs, fmt, each_style, failed), failed


def check_format(output_format: str) -> str:
    fmt = output_format.lower().lstrip(".")
    if "." + fmt not in OUTPUT_FORMATS:
        names = ", ".join(sorted({s.lstrip(".") for s in OUTPUT_FORMATS}))
        raise ConfigError(f"--format: unknown image type {output_format!r}; use one of {names}")
    return fmt


def _abs(p: Path) -> Path:
    return Path(os.path.abspath(p))


def _image_paths(text: str, outside: Path | None) -> tuple[list[Path], str]:
    def wanted(p: Path) -> bool:
        inside = outside is not None and (outside == _abs(p).parent or outside in _abs(p).parents)
        return (p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                and not p.is_dir() and not inside)

    path = Path(text)
    if path.is_dir():
        try:
            found = [p for p in sorted(path.iterdir()) if wanted(p)]
        except OSError as e:
            return [], f"folder cannot be listed ({e.strerror}); check its permissions"
        return found, "" if found else f"folder has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})"
    if path.exists() or path.is_symlink():  # before globbing: "shot[1].jpg" is a file name
        return [path], ""
    if any(c in text for c in "*?["):
        found = [p for p in map(Path, sorted(glob.glob(text, recursive=True))) if wanted(p)]
        return found, "" if found else "matched no image files"
    return [], "no such file or folder; check the path"


# Manifests: CSV with a header row, or JSON Lines. Columns/keys: content (required), style
# (one path, or several separated by ";" in CSV / a list in JSON), output (optional, relative
# to OUT_DIR), and any StyleConfig option (e.g. size, style_weight or style-weight).
ManifestRow = tuple[Path, tuple[Path, ...], "str | None", dict[str, Any]]


def _manifest_rows(path: Path) -> Iterator[tuple[str, ManifestRow | str]]:
    """(where, row or the reason the line is unusable) for each line of a CSV or JSONL manifest."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        yield str(path), f"manifest cannot be read ({getattr(e, 'strerror', None) or e})"
        return
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        for record in reader:
            values = {k: v for k, v in record.items() if k is not None and v not in (None, "")}
            if values:
                yield f"{path}:{reader.line_num}", _manifest_row(values, path.parent, csv=True)
        return
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield f"{path}:{n}", f"not valid JSON ({e.msg})"
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("options", {}), dict):
            yield f"{path}:{n}", 'each line must be a JSON object (with "options", if any, an object too)'
            continue
        options = obj.pop("options", {})
        yield f"{path}:{n}", _manifest_row({**obj, **options}, path.parent, csv=False)


def _manifest_row(values: dict[str, Any], base: Path, *, csv: bool) -> ManifestRow | str:
    values = {str(k).strip().lower().replace("-", "_"): v for k, v in values.items()}
    content = values.pop("content", None)
    if not content or not isinstance(content, str):
        return 'no "content" image given'
    raw = values.pop("styles", values.pop("style", []))
    styles = raw.split(";") if csv and isinstance(raw, str) else [raw] if isinstance(raw, str) else raw
    if not isinstance(styles, list) or not all(isinstance(x, str) for x in styles):
        return '"style" must be a path or a list of paths'
    output = values.pop("output", None)
    if output is not None:
        out = Path(str(output))
        if out.is_absolute() or ".." in out.parts:
            return f"output {output}: give a path relative to OUT_DIR"
        if out.suffix.lower() not in OUTPUT_FORMATS:
            return f"output {output}: unknown image type; use one of {', '.join(sorted(OUTPUT_FORMATS))}"
        output = out.as_posix()
    preset = values.get("preset")
    if isinstance(preset, str) and preset.lower().endswith(".toml"):
        values["preset"] = str(base / preset.strip())  # a preset file, next to the manifest
    try:
        options = {k: v if k == "preset" else field_value(k, v, text=csv) for k, v in values.items()}
    except ConfigError as e:
        return str(e)
    return base / content.strip(), tuple(base / x.strip() for x in styles if x.strip()), output, options


def _name_outputs(jobs: list[Job], fmt: str, each_style: bool, failed: list[dict[str, Any]]) -> list[Job]:
    """Give automatic names (``<content stem>[--<style stem>].<fmt>``) to jobs without one; a name
    two jobs would share gets a short hash of the content path, so reruns name them the same."""
    def auto(job: Job) -> str:
        return job.content.stem + (f"--{job.styles[0].stem}" if each_style else "") + "." + fmt

    taken = {j.output for j in jobs if j.output}
    counts: dict[str, int] = {}
    for j in jobs:
        if not j.output:
            counts[auto(j)] = counts.get(auto(j), 0) + 1
    named: list[Job] = []
    owners: dict[str, str] = {}
    for j in jobs:
        name = j.output
        if not name:
            name = auto(j)
            if counts[name] > 1 or name in taken:
                tag = hashlib.sha1(str(_abs(j.content)).encode()).hexdigest()[:6]
                name = f"{Path(name).stem}-{tag}.{fmt}"
        if name in owners:
            failed.append({"input": j.source, "output": name, "reason": f"output {name} is also written by {owners[name]}"})
            continue
        owners[name] = j.source
        named.append(Job(j.content, j.styles, name, j.config, j.source))
    return named
