"""A work folder next to an output: finished pieces kept on disk, so that a rerun of the same command resumes.

A video keeps its finished frames (``OUT.frames/``, painterly.video.work), a tiled painting the finished
tiles of its current tiled scale (``OUT.tiles/``, painterly.tilefolder). Each folder holds the pieces and
``manifest.json``: a hash of everything that shapes them (the key, :func:`digest`) and the run's seed (a run
without ``--seed`` draws one; a resumed run keeps the one it started with). A folder whose key differs is
emptied of its pieces and started afresh, so a changed command never reuses stale ones; a folder without a
manifest that is not empty is refused (not ours).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, ClassVar, Self

import torch
from PIL import Image

from .errors import ImageError
from .files import write_bytes_atomic
from .images import Loaded
from .meta import describe_input

MANIFEST = "manifest.json"


class WorkFolder:
    """A keyed folder of finished pieces: :attr:`MARK` names its kind in the manifest, :attr:`PIECES` are the
    globs of its pieces (removed when the key differs), :attr:`error` what a folder that cannot be used raises."""

    MARK: ClassVar[str] = "painterly_work"
    PIECES: ClassVar[tuple[str, ...]] = ()
    error: ClassVar[type[Exception]] = ImageError

    def __init__(self, path: Path, key: str):
        self.path = path
        self.key = key
        self.manifest: dict[str, Any] = {}

    def open(self, seed: int, **fields: Any) -> bool:
        """Take over the folder of a run with the same key (True), or start it afresh with ``seed`` and
        ``fields`` in its manifest (False)."""
        manifest = self.path / MANIFEST
        if self.path.exists():
            if not self.path.is_dir():
                raise self.error(f"{self.path} exists and is not a folder; remove it or choose another --output")
            try:
                old = json.loads(manifest.read_text())
            except FileNotFoundError:
                if any(self.path.iterdir()):
                    raise self.error(f"{self.path} exists and is not a painterly work folder; remove it or "
                                     "choose another --output") from None
                old = {}
            except (OSError, ValueError):
                old = {}
            if old.get("key") == self.key:
                self.manifest = old
                return True
            for pattern in self.PIECES:
                for f in self.path.glob(pattern):
                    f.unlink()
        self.path.mkdir(exist_ok=True)
        self.manifest = {self.MARK: 1, "key": self.key, "seed": seed, **fields}
        self.write()
        return False

    def write(self) -> None:
        """The manifest, whole or untouched."""
        write_bytes_atomic(self.path / MANIFEST, (json.dumps(self.manifest, indent=1) + "\n").encode())

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    @classmethod
    def attach(cls, path: Path, key: str) -> Self | None:
        """The folder another process opened, if this one sees it (same path, same key); else None."""
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("key") != key:
            return None
        folder = cls(path, key)
        folder.manifest = manifest
        return folder

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def digest(value: Any) -> str:
    """SHA-256 of ``value`` as sorted JSON (what is not JSON, as its ``str``): a work folder's key."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def describe(src: Any) -> Any:
    """What a key holds of an input: a tensor's or a picture's pixels as SHA-256, a file's hash, else its name."""
    if src is None:
        return None
    if isinstance(src, Loaded):
        src = src.rgb
    if isinstance(src, torch.Tensor):
        return hashlib.sha256(src.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()
    if isinstance(src, Image.Image):
        return hashlib.sha256(src.tobytes()).hexdigest()
    return describe_input(src).get("sha256", str(src))
