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

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..images import ImageError, load_image, save_image
from ..workfolder import WorkFolder as _Folder
from ..workfolder import describe, digest  # noqa: F401  (the key's parts, shared with tiled paintings: re-exported)
from .io import VideoError

FRAME_NAME = "frame_{:06d}.png"
ROLES = ("frame", "lead", "tail")  # a finished frame; a chunk's lead-in; a chunk's end that the next one overlaps


def work_folder_for(output: str | Path) -> Path:
    """Where finished frames of ``output`` wait: ``OUT.frames`` next to it."""
    return Path(str(output) + ".frames")


class WorkFolder(_Folder):
    """Finished frames (PNG, 8-bit) and a manifest; frames of other options are discarded
    (painterly.workfolder)."""

    MARK = "painterly_frames"
    PIECES = tuple(f"{role}_*.png" for role in ROLES)
    error = VideoError

    def open(self, frames: int, seed: int) -> bool:  # type: ignore[override]
        return super().open(seed, frames=frames, shots=[0])

    @property
    def shots(self) -> list[int]:
        return list(self.manifest.get("shots", [0]))

    def add_shot(self, k: int) -> None:
        if k not in self.manifest["shots"]:
            self.manifest["shots"] = sorted(self.manifest["shots"] + [k])
            self.write()

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
