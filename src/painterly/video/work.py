"""The work folder of a video run: finished frames kept on disk so that a rerun resumes.

``OUT.frames/`` next to the output holds one 8-bit PNG per finished frame
(``frame_000000.png`` ...) and ``manifest.json`` with a hash of everything that shapes the
frames (the key) and the run's seed. A folder whose key differs is emptied of frames and
started afresh; a folder without a manifest that is not empty is refused (not ours).

Chunked runs (:mod:`.parallel`) also keep the two versions of each frame where chunks overlap:
``tail_*.png`` (the earlier chunk's) and ``lead_*.png`` (the later chunk's lead-in); the frame
itself is their cross-fade. Workers that see the folder write their frames into it directly.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..images import ImageError, Loaded, load_image, save_image, write_bytes_atomic
from ..meta import describe_input
from .io import VideoError

MANIFEST = "manifest.json"
FRAME_NAME = "frame_{:06d}.png"
ROLES = ("frame", "lead", "tail")  # a finished frame; a chunk's lead-in; a chunk's end that the next one overlaps


def work_folder_for(output: str | Path) -> Path:
    """Where finished frames of ``output`` wait: ``OUT.frames`` next to it."""
    return Path(str(output) + ".frames")


class WorkFolder:
    """Finished frames (PNG, 8-bit) and a manifest; frames of other options are discarded."""

    def __init__(self, path: Path, key: str):
        self.path = path
        self.key = key
        self.manifest: dict[str, Any] = {}

    def open(self, frames: int, seed: int) -> None:
        manifest = self.path / MANIFEST
        if self.path.exists():
            if not self.path.is_dir():
                raise VideoError(f"{self.path} exists and is not a folder; remove it or choose another --output")
            try:
                old = json.loads(manifest.read_text())
            except FileNotFoundError:
                if any(self.path.iterdir()):
                    raise VideoError(f"{self.path} exists and is not a painterly work folder; remove it or "
                                     "choose another --output") from None
                old = {}
            except (OSError, ValueError):
                old = {}
            if old.get("key") == self.key:
                self.manifest = old
                return
            for role in ROLES:
                for f in self.path.glob(f"{role}_*.png"):
                    f.unlink()
        self.path.mkdir(exist_ok=True)
        self.manifest = {"painterly_frames": 1, "key": self.key, "frames": frames, "seed": seed, "shots": [0]}
        self._write()

    def _write(self) -> None:
        write_bytes_atomic(self.path / MANIFEST, (json.dumps(self.manifest, indent=1) + "\n").encode())

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    @property
    def shots(self) -> list[int]:
        return list(self.manifest.get("shots", [0]))

    def add_shot(self, k: int) -> None:
        if k not in self.manifest["shots"]:
            self.manifest["shots"] = sorted(self.manifest["shots"] + [k])
            self._write()

    @classmethod
    def attach(cls, path: Path, key: str) -> WorkFolder | None:
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

    def frame(self, k: int, role: str = "frame") -> Path:
        return self.path / FRAME_NAME.replace("frame", role).format(k)

    def load(self, k: int, hw: tuple[int, int], role: str = "frame") -> torch.Tensor | None:
        p = self.frame(k, role)
        if not p.is_file():
            return None
        try:
            x = load_image(p, what="frame").rgb
        except (ImageError, OSError):  # a damaged frame is painted again
            return None
        return x if tuple(x.shape[-2:]) == hw else None

    def array(self, k: int) -> np.ndarray:
        with Image.open(self.frame(k)) as im:
            return np.asarray(im.convert("RGB"))

    def save(self, k: int, x: torch.Tensor, role: str = "frame") -> None:
        save_image(x, self.frame(k, role))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def describe(src: Any) -> Any:
    if src is None:
        return None
    if isinstance(src, Loaded):
        src = src.rgb
    if isinstance(src, torch.Tensor):
        return hashlib.sha256(src.detach().float().cpu().numpy().tobytes()).hexdigest()
    if isinstance(src, Image.Image):
        return hashlib.sha256(src.tobytes()).hexdigest()
    return describe_input(src).get("sha256", str(src))
