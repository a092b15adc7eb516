"""A tiled scale's tiles painted at once on a pool of workers: local processes or a Dask cluster.

The coarse scales, which are painted whole, stay in this process (the coordinator), and so does the blend:
only a tiled scale's tiles go out, one task per tile (:class:`OnPool`, the engine's
:data:`painterly.engine.TilesElsewhere`; the pools are :mod:`painterly.pools`, shared with ``painterly batch``
and ``painterly video``). A task carries the prepared plan (without the alpha and the ``--init`` image, which
a tile does not read) and the scale's start, pickled once per scale, and the tile's index. Nothing is
scattered ahead, so that a Dask scheduler that loses a worker runs its tile again on another by itself; a
local worker process that dies has its tile submitted again (:func:`painterly.pools.complete`).

A worker paints the tile with :meth:`painterly.engine.Engine.paint_tile`, the road every tile takes, on the
engine :meth:`painterly.pipeline.Painter.engine` makes of the plan, as this process would: the same objective
from the same inputs, so the tile is the one this process would paint (to float rounding: the blend adds
the tiles in the order they come back). Each worker makes the scale's own inputs (the painting's bank or
style targets, the whole picture's centre of the search or sample of its features) once per scale, from
the whole start it receives, and keeps them between that scale's tiles; it paints one tile at a time.
"""

from __future__ import annotations

import os
import pickle
import socket
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

import numpy as np
import torch

from . import allocator, tiles
from .engine import Engine, Painted
from .pipeline import Painter
from .plan import Plan
from .pools import TRIES, InProcess, Pool, PoolError, complete, start_pool
from .scales import Scale


@dataclass(frozen=True)
class ScaleTask:
    """What a worker needs to paint a tile of scale ``scale`` (its index in ``plan.scales``): the plan and the
    scale's start ((1, 3, H, W) on the CPU). ``run`` names the coordinator's run and scale: a worker keeps the
    engine (and the scale's inputs) of one run and scale."""

    plan: Plan
    scale: int
    start: torch.Tensor
    run: str


@dataclass(frozen=True)
class TileDone:
    """A worker's answer: the tile's image ((1, 3, h, w) in [0, 1], float32), loss, iterations, and which
    process painted it ("host pid N")."""

    image: np.ndarray
    loss: float
    iterations: int
    worker: str


_ENGINES: dict[str, Engine] = {}  # this worker's engine of the run and scale whose tiles it paints
_LOCK = threading.Lock()  # one tile at a time per process: a Dask worker's threads share one engine


def paint_tile(scale_task: bytes, j: int) -> TileDone:
    """Paint tile ``j`` of a :class:`ScaleTask` (pickled); runs on a worker (a pool's process or a Dask worker).
    Tasks and answers travel as plain pickles and arrays: torch's own pickling for processes would share a
    tensor's memory through a file descriptor, and a worker ended mid-transfer (Ctrl-C) leaves a traceback."""
    task: ScaleTask = pickle.loads(scale_task)
    with _LOCK:
        if task.run not in _ENGINES:
            _ENGINES.clear()  # the previous scale's bank and targets go
            _ENGINES[task.run] = Painter(task.plan.cfg).engine(task.plan)
        engine = _ENGINES[task.run]
        scale = task.plan.scales[task.scale]
        assert scale.tile is not None
        blend = tiles.Blend(task.start.to(engine.device), scale.tile)
        with allocator.scope():
            image, loss, n = engine.paint_tile(engine.network(scale), scale, tiles.Window(blend.tiles[j], blend))
    return TileDone(image.detach().float().cpu().numpy(), loss, n, f"{socket.gethostname()} pid {os.getpid()}")


class OnPool:
    """Paints a tiled scale's tiles on ``pool`` (an engine's ``tiles_elsewhere``). ``retried``: the tiles
    ((scale, tile) indices) painted again because their worker was lost; ``workers``: who painted them."""

    def __init__(self, pool: Pool, plan: Plan):
        self.pool = pool
        self.plan = replace(plan, alpha=None, init_image=None)  # what a worker reads of it
        self.run = uuid.uuid4().hex
        self.retried: list[tuple[int, int]] = []
        self.workers: set[str] = set()

    def __call__(self, k: int, scale: Scale, start: torch.Tensor, todo: list[int]) -> Iterator[Painted]:
        scale_task = pickle.dumps(ScaleTask(self.plan, k, start.detach().cpu(), f"{self.run}:{k}"))  # once per scale
        tasks = ((j, paint_tile, (scale_task, j)) for j in todo)
        for j, fut, reruns in complete(self.pool, tasks):
            try:
                done: TileDone = fut.result()
            except BrokenProcessPool:
                raise PoolError(f"{_which(j, scale)}: a worker process died each of the {TRIES} times it was painted "
                                "(out of memory? try a smaller --tile-size or fewer --workers)") from None
            except Exception as e:  # noqa: BLE001  (a worker's failure or a cluster's: the painting cannot finish)
                raise PoolError(f"{_which(j, scale)}: {type(e).__name__}: {e}".splitlines()[0]) from None
            if reruns:
                self.retried.append((k, j))
            self.workers.add(done.worker)
            yield j, torch.from_numpy(done.image), done.loss, done.iterations


def _which(j: int, scale: Scale) -> str:
    return f"tile {j + 1}/{len(scale.tiles)} of the {scale.hw[1]}x{scale.hw[0]} px scale"


def tile_pool(workers: int | None, scheduler: str | None, plan: Plan) -> Pool | None:
    """The pool that paints ``plan``'s tiled scales (:func:`painterly.pools.start_pool`: the Dask cluster at
    ``scheduler``, a :class:`PoolError` when it cannot be used, or ``workers`` local processes, at most one per
    tile), or None for one local worker: the tiles are then painted here, one by one, with their progress."""
    most = max((len(s.tiles) for s in plan.scales if s.tile), default=1)
    pool = start_pool(workers, scheduler, plan.cfg, most)
    return None if type(pool) is InProcess else pool
