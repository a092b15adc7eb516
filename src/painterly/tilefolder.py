"""The finished tiles of a tiled painting's current scale, kept next to the output so that a rerun resumes.

``OUT.tiles/`` (a :class:`painterly.workfolder.WorkFolder`, as a video's ``OUT.frames/``) holds the start of
the tiled scale being painted (``start.npy``), one file per finished tile (``tile_0003.npy``) and the
manifest: the key (:func:`tiles_key`), the run's seed, the scale begun (``scale``, its index in the plan's
scales) and each finished tile's loss. Images are float32 (1, 3, H, W) NumPy files as painted: a tile kept
in 8 bits would blend into another picture than the run that was stopped would have made. The engine reads
and writes it through :class:`painterly.engine.TileStore`: a run started again skips the scales before the
kept one, starts it from the kept start and paints only the tiles that are missing. The shell that made
the folder removes it once the picture is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from . import spill
from .config import MACHINE_FIELDS
from .files import atomic_write
from .plan import Plan
from .workfolder import WorkFolder, describe, digest

START = "start.npy"
TILE_NAME = "tile_{:04d}.npy"


def tile_folder_for(output: str | Path) -> Path:
    """Where the finished tiles of ``output`` wait: ``OUT.tiles`` next to it."""
    return Path(str(output) + ".tiles")


def tiles_key(plan: Plan, seed: int | None) -> str:
    """A hash of everything that shapes a tiled painting: its options (the machine's left out: a CPU's tiles
    and a GPU's count as the same; ``seed`` as the user gave it, None for a drawn one, which the folder
    records), the images as the optimisation sees them, and the scales with their tiles and L-BFGS histories
    (which the memory plan may choose). Pools and worker counts are left out: they paint the same tiles."""
    c = plan.controls
    cfg = {k: v for k, v in plan.cfg.replace(seed=seed).to_dict().items() if k not in MACHINE_FIELDS}
    images = [describe(x) for x in (c.original, c.content, *c.styles, c.coarse, c.fine, c.keep,
                                     *(s.raw for s in c.sources), plan.init_image)]
    scales = [(s.hw, s.iterations, s.tile, s.memory.lbfgs_history if s.memory else None) for s in plan.scales]
    return digest({"config": cfg, "images": images, "scales": scales})


class TileFolder(WorkFolder):
    """``OUT.tiles/``: the :class:`painterly.engine.TileStore` of a tiled painting's command."""

    MARK = "painterly_tiles"
    PIECES = (START, "tile_*.npy")

    def __init__(self, path: Path, key: str):
        super().__init__(path, key)
        self._start: torch.Tensor | None = None

    def open(self, seed: int, **fields: Any) -> bool:
        return super().open(seed, scale=None, tiles={}, **fields)

    @property
    def kept(self) -> tuple[int, int] | None:
        """(the scale begun, its tiles kept), or None before a tiled scale began."""
        k = self.manifest.get("scale")
        return None if k is None else (int(k), len(self.manifest.get("tiles", {})))

    def resume(self) -> tuple[int, torch.Tensor] | None:
        k = self.manifest.get("scale")
        if k is None:
            return None
        self._start = self._load(START)
        return None if self._start is None else (int(k), self._start)

    def begin(self, k: int, start: torch.Tensor) -> dict[int, tuple[torch.Tensor, float]]:
        if self.manifest.get("scale") == k:
            kept = self._start if self._start is not None else self._load(START)
            if kept is not None and spill.equal(kept, start.cpu()):
                return {j: (image, loss) for j, loss in self._tiles() if (image := self._load(TILE_NAME.format(j)))
                        is not None}
        for f in self.path.glob("tile_*.npy"):
            f.unlink()
        self._save(START, start)
        self.manifest.update(scale=k, tiles={})
        self.write()
        return {}

    def keep(self, j: int, image: torch.Tensor, loss: float) -> None:
        self._save(TILE_NAME.format(j), image)  # the tile, then the manifest that names it
        self.manifest["tiles"][str(j)] = loss
        self.write()

    def _tiles(self) -> list[tuple[int, float]]:
        return [(int(j), float(loss)) for j, loss in self.manifest.get("tiles", {}).items()]

    def _save(self, name: str, image: torch.Tensor) -> None:
        atomic_write(self.path / name, lambda f: spill.write_npy(f, image))

    def _load(self, name: str) -> torch.Tensor | None:
        """An image kept in the folder, or None when it is missing or damaged (that piece is painted again)."""
        try:
            image = spill.read_npy(self.path / name)
        except (OSError, ValueError):
            return None
        return image if image.dim() == 4 else None
