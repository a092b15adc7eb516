"""The image command's tiled scales: ``--workers``/``--scheduler`` (a tiled scale's tiles painted at once,
painterly.tilepool) and the work folder a run started again resumes from (``OUT.tiles/``, painterly.tilefolder).
docs/tiles.md, "Across a cluster" and "Resume"."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..plan import Plan
from ..pools import check_workers


def add_pool_options(p: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--scheduler``: where a tiled scale's tiles are painted."""
    g = p.add_argument_group("tiles at once (with --tile-size, or where the memory plan tiles a scale)")
    g.add_argument("--workers", type=int, metavar="N",
                   help="paint a tiled scale's tiles in N local processes at once (1: one by one in this process, "
                   "the default); the coarse scales, painted whole, stay in this process")
    g.add_argument("--scheduler", metavar="tcp://HOST:8786",
                   help="paint the tiles on this Dask scheduler's workers instead (a lost worker's tile is painted "
                   "again on another; see docs/tiles.md)")


def check_pool_options(args: argparse.Namespace) -> None:
    """``--workers`` below 1, with ``--scheduler``, or a scheduler that is not an address: one line, before any work."""
    check_workers(getattr(args, "workers", None), getattr(args, "scheduler", None), "tiles")


class TiledRun:
    """What a tiled painting's command adds to its run: the pool its tiles are painted on (``--workers``,
    ``--scheduler``; started first, so that a scheduler that cannot be used fails before any file is made),
    and ``OUT.tiles/``, which keeps the finished tiles of the current tiled scale (taken over when it was left
    by the same command; its seed then replaces a drawn one). ``plan``: the plan to run; :meth:`close` ends the
    pool and, once the picture is written (``finished``), removes the folder. Nothing for a painting without
    tiled scales, where ``--workers``/``--scheduler`` are refused."""

    def __init__(self, args: argparse.Namespace, plan: Plan, out: Path, seed: int | None):
        from ..tilefolder import TileFolder, tile_folder_for, tiles_key
        from ..tilepool import OnPool, tile_pool

        workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
        tiled = any(s.tile for s in plan.scales)
        if (workers is not None or scheduler is not None) and not tiled:
            raise ConfigError(f"--{'workers' if workers is not None else 'scheduler'} paints a tiled scale's tiles at "
                              f"once, and no scale of this {plan.out_hw[1]}x{plan.out_hw[0]} px painting is tiled; "
                              "add --tile-size PX below its size, or leave the option out")
        pool = tile_pool(workers, scheduler, plan) if tiled and (workers is not None or scheduler is not None) else None
        self.folder = TileFolder(tile_folder_for(out), tiles_key(plan, seed)) if tiled else None
        try:
            self.resumed = self.folder.open(int(plan.cfg.seed)) if self.folder is not None else False  # type: ignore[arg-type]
        except BaseException:
            if pool is not None:
                pool.close(cancel=True)
            raise
        self.plan = plan.with_seed(self.folder.seed) if self.folder is not None else plan
        self.pool = OnPool(pool, self.plan) if pool is not None else None
        self.where = {"workers": workers, "scheduler": scheduler}

    @property
    def hooks(self) -> dict[str, Any]:
        """:meth:`painterly.pipeline.Painter.run`'s keywords for the tiles."""
        return {"tiles_elsewhere": self.pool, "tile_store": self.folder}

    def note(self) -> str | None:
        """What a resumed run says before it starts."""
        kept = self.folder.kept if self.folder is not None and self.resumed else None
        if kept is None:
            return None
        scale = self.plan.scales[kept[0]]
        return (f"resuming from {self.folder.path}: {kept[1]} of {len(scale.tiles)} tiles of the "  # type: ignore[union-attr]
                f"{scale.hw[1]}x{scale.hw[0]} px scale are finished")

    def record(self) -> dict[str, Any]:
        """What the result's record says of tiles painted at once (nothing when they were painted here)."""
        if self.pool is None:
            return {}
        return {"tiled": {**self.where, "retried": [list(r) for r in self.pool.retried]}}

    def close(self, finished: bool) -> None:
        if self.pool is not None:
            self.pool.pool.close(cancel=not finished)
        if finished and self.folder is not None:
            self.folder.remove()
