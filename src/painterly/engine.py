"""The engine under every command: a schedule of scales, each planned, optimised and reported.

Painting an image, a later video frame, a texture and the explain figure's reconstructions are
one loop over :class:`Scale` s, which only :func:`painterly.scales.plan_scales` makes: every caller's scales carry
their memory plan (on the CPU), made before the network loads. For each scale: apply the memory
plan (gradient checkpointing, malloc keeping freed memory, the L-BFGS history), build that scale's
objective, run :func:`optimize`, turn its
iterations into :class:`Step` events over the whole run, and turn Ctrl-C into
:class:`Interrupted` holding the best image so far as the caller finishes its results. A scale
whose plan says so is painted in overlapping tiles, each optimised alone (:meth:`Engine.paint_tile`,
the one road for a tile, in this process or on a pool's worker: painterly.tilepool) and blended
(painterly.tiles, docs/tiles.md), for callers that give a tile's objective; a caller may keep the
finished tiles (:class:`TileStore`), so that a run started again continues from them. What
differs between commands (the objective, the start, the resizing, the finishing) is what a
caller passes in; this module is the one place that calls :func:`optimize`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from . import allocator, devices, memory, spill, tiles
from .config import StyleConfig
from .errors import OutOfMemory
from .events import Callback, Step
from .features import VGG19Features
from .images import resize
from .optimize import BLOWUP, Coordinates, Interrupted, ObjectiveFn, optimize
from .scales import Scale

Size = tuple[int, int]


def _as_is(image: torch.Tensor) -> torch.Tensor:
    return spill.pixelwise(lambda x: x.detach().clamp(0, 1), image).cpu()


@dataclass(frozen=True)
class Outcome:
    """What a schedule ends with: the finished image, the last scale's loss, iterations run."""

    image: torch.Tensor
    loss: float
    iterations: int
    seconds: float


TileObjective = Callable[[VGG19Features, Size, tiles.Window], ObjectiveFn]
Report = Callable[[int, float, dict[str, float], torch.Tensor], None]
Painted = tuple[int, torch.Tensor, float, int]  # a tile's index in its scale's grid, its image, loss and iterations
# Paints the tiles ``todo`` (indices) of scale ``k`` from the scale's start elsewhere (a pool of workers,
# painterly.tilepool), yielding each as it is finished, in any order.
TilesElsewhere = Callable[[int, "Scale", torch.Tensor, list[int]], Iterator[Painted]]


class TileStore(Protocol):
    """Where a run keeps the finished tiles of its current tiled scale, so that the same run started again
    continues from them (painterly.tilefolder). Images are (1, 3, h, w) on the CPU."""

    def resume(self) -> tuple[int, torch.Tensor] | None:
        """(k, start) of the tiled scale an earlier run began (the scales before it are done), or None."""

    def begin(self, k: int, start: torch.Tensor) -> dict[int, tuple[torch.Tensor, float]]:
        """Tiled scale ``k`` starts from ``start``: the tiles kept of it (index -> image, loss) when it is the
        scale begun earlier, else none (and the store starts this scale afresh)."""

    def keep(self, j: int, image: torch.Tensor, loss: float) -> None:
        """Tile ``j`` of the current scale is finished."""


@dataclass
class _Run:
    """Where a run stands, for its :class:`Step` events: its start, the iterations done and in all (tiles
    counted one by one), the number of scales."""

    start: float
    total: int
    scales: int
    done: int = 0


@dataclass
class Engine:
    """Runs schedules with one network and one set of options.

    ``fit``: how an image moves to the next scale's size; ``show``: what a callback's :class:`Step`
    carries of the current image; ``finish``: what the run returns (and :class:`Interrupted` carries) of the
    last image; ``coordinates``: what the optimiser moves at a scale instead of its pixels (None: the pixels);
    ``blowup``: how many times the best loss so far a step may reach before it is undone (:func:`optimize`);
    ``tile_objective(network, tile_hw, window)``: the objective of one tile of a tiled scale
    (:class:`painterly.tiles.Window`), for callers whose scales may be tiled (:func:`painterly.scales.plan_scales`);
    ``tiles_elsewhere``: paints a tiled scale's tiles elsewhere instead of one by one here (each with
    :meth:`paint_tile` there too); ``tile_store``: keeps the finished tiles for a run started again.
    A device that runs out of memory mid-run raises :class:`OutOfMemory` (one line).
    """

    extractor: VGG19Features
    cfg: StyleConfig
    device: torch.device
    callback: Callback | None = None
    image_every: int = 0
    fit: Callable[[torch.Tensor, Size], torch.Tensor] = resize
    show: Callable[[torch.Tensor], torch.Tensor] = _as_is
    finish: Callable[[torch.Tensor], torch.Tensor] = _as_is
    coordinates: Callable[[Size], Coordinates] | None = None
    blowup: float = BLOWUP
    tile_objective: TileObjective | None = None
    tiles_elsewhere: TilesElsewhere | None = None
    tile_store: TileStore | None = None

    def run(self, x: torch.Tensor, scales: Sequence[Scale],
            objective_for: Callable[[VGG19Features, Size], ObjectiveFn]) -> Outcome:
        """Optimise ``x`` through ``scales`` (:func:`painterly.scales.plan_scales`); ``objective_for(network, size)`` builds each
        scale's objective (``network`` is the extractor as the scale's memory plan wants it run); a tiled scale's
        tiles are optimised with :attr:`tile_objective`'s objectives, here or elsewhere, and blended
        (painterly.tiles). With :attr:`tile_store`, a run that an earlier one began continues from its tiles."""
        run = _Run(time.perf_counter(), sum(s.work for s in scales), len(scales))
        first, x = self._resume(x, scales, run)
        loss, iterations = float("nan"), 0
        with allocator.scope():
            for k, scale in enumerate(scales[first:], first):
                plan = scale.memory
                net = self.network(scale)
                try:
                    x = self.fit(x, scale.hw).to(self.device)
                    if scale.tile:
                        x, loss, n = self._tiled(x, k, scale, net, run)
                    else:
                        x, loss, n = self._optimize(x, scale, objective_for(net, scale.hw), self._reporter(run, k, scale))
                        run.done += scale.iterations
                except Interrupted as e:
                    raise Interrupted(self.finish(e.image)) from None
                except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError: the plan said it fits, the device disagreed
                    raise OutOfMemory(memory.out_of_memory(scale.hw, devices.name(self.device), plan)) from None
                iterations += n
        return Outcome(self.finish(x), loss, iterations, time.perf_counter() - run.start)

    def _resume(self, x: torch.Tensor, scales: Sequence[Scale], run: _Run) -> tuple[int, torch.Tensor]:
        """Where the run starts: the first scale from ``x``, or the tiled scale that :attr:`tile_store` says an
        earlier run began, from the start it kept (the scales before it are counted done)."""
        kept = self.tile_store.resume() if self.tile_store is not None else None
        if kept is None or not (0 <= kept[0] < len(scales)) or not scales[kept[0]].tile \
                or tuple(kept[1].shape[-2:]) != scales[kept[0]].hw:
            return 0, x
        run.done = sum(s.work for s in scales[:kept[0]])
        return kept[0], kept[1]

    def network(self, scale: Scale) -> VGG19Features:
        """The extractor as ``scale``'s memory plan wants it run (gradient checkpointing), with malloc keeping
        freed memory where the plan leaves the heap room for it (inside :func:`allocator.scope`)."""
        plan = scale.memory
        allocator.keep_freed_memory(self.device.type == "cpu" and plan is not None and memory.heap_has_room(plan))
        return self.extractor.checkpointed() if plan is not None and plan.checkpoint else self.extractor

    def _optimize(self, x: torch.Tensor, scale: Scale, objective: ObjectiveFn,
                  report: Report | None) -> tuple[torch.Tensor, float, int]:
        """One call of the optimiser at ``scale`` (or one of its tiles: ``x``'s size), from ``x``."""
        plan = scale.memory
        res = optimize(x, objective, optimizer=self.cfg.solver, iterations=scale.iterations,
                       lr=self.cfg.lr, lbfgs_history=plan.lbfgs_history if plan else self.cfg.lbfgs_history,
                       tolerance=self.cfg.tolerance, patience=self.cfg.patience, report=report,
                       coordinates=self.coordinates(tuple(x.shape[-2:])) if self.coordinates else None,  # type: ignore[arg-type]
                       blowup=self.blowup)
        return res.image, res.loss, res.iterations

    def paint_tile(self, net: VGG19Features, scale: Scale, window: tiles.Window,
                   report: Report | None = None) -> tuple[torch.Tensor, float, int]:
        """Tile ``window.tile`` of a tiled scale optimised from its crop of the scale's start, with
        :attr:`tile_objective`'s objective: (its image, loss, iterations). The one road for a tile, in this
        process's loop and on a pool's worker alike (painterly.tilepool)."""
        if self.tile_objective is None:
            raise ValueError("Engine.run: a tiled scale needs the caller's tile_objective (plan_scales(tileable=...))")
        t = window.tile
        objective = self.tile_objective(net, t.hw, window)
        return self._optimize(t.crop(window.start).contiguous(), scale, objective, report)

    def _tiled(self, x: torch.Tensor, k: int, scale: Scale, net: VGG19Features,
               run: _Run) -> tuple[torch.Tensor, float, int]:
        """A tiled scale from its start ``x``: each tile optimised from its crop of ``x`` (:meth:`paint_tile`),
        here one by one or by :attr:`tiles_elsewhere`, and blended as it ends (painterly.tiles); tiles that
        :attr:`tile_store` kept of this scale are blended first, and every finished tile is kept. (Starting a
        tile from its neighbours' painted overlap instead took nnst further from the picture painted whole: 0.66
        of the scale's change against 0.54, docs/tiles.md.) Ctrl-C's image is the blend so far over the start.
        Steps count the tiles; after each tile one more step carries the blend so far (its image after the last
        tile, and after each with ``image_every``; a tile's own image is never shown) and the count of tiles
        finished. The loss is the tiles' mean, weighted by their areas."""
        assert scale.tile is not None
        blend = tiles.Blend(x.detach(), scale.tile)
        count, store = len(blend.tiles), self.tile_store
        losses: dict[int, float] = {}
        for j, (image, value) in (store.begin(k, x.detach().cpu()) if store is not None else {}).items():
            blend.add(blend.tiles[j], image)
            losses[j] = value
            run.done += scale.iterations
        todo = [j for j in range(count) if j not in losses]
        painted = self.tiles_elsewhere(k, scale, x.detach(), todo) if self.tiles_elsewhere is not None else \
            self._tiles_here(net, k, scale, blend, todo, run)
        area = [t.height * t.width for t in blend.tiles]
        iterations = 0

        def mean() -> float:
            return sum(losses[i] * area[i] for i in losses) / sum(area[i] for i in losses)

        try:
            for j, image, value, n in painted:
                blend.add(blend.tiles[j], image)
                spill.trim()  # the pages of the whole picture that the tile read and wrote (painterly.spill)
                if store is not None:
                    store.keep(j, image.detach().cpu(), value)
                losses[j], iterations, run.done = value, iterations + n, run.done + scale.iterations
                if self.callback is not None:  # the blend so far
                    shown = self.show(blend.image()) if len(losses) == count or self.image_every > 0 else None
                    self.callback(Step(scale.iterations, scale.iterations, k, run.scales, scale.hw, mean(), {},
                                       run.done, run.total, time.perf_counter() - run.start, shown, len(losses), count))
        except KeyboardInterrupt:  # Ctrl-C while tiles are painted elsewhere, or in a callback
            raise Interrupted(blend.image()) from None
        return blend.image(), mean(), iterations

    def _tiles_here(self, net: VGG19Features, k: int, scale: Scale, blend: tiles.Blend, todo: list[int],
                    run: _Run) -> Iterator[Painted]:
        """The tiles ``todo`` painted one by one in this process, each reporting its steps (tile j of the
        scale's count); Ctrl-C adds the tile's best image so far to the blend."""
        for j in todo:
            t = blend.tiles[j]
            try:
                image, value, n = self.paint_tile(net, scale, tiles.Window(t, blend),
                                                  self._reporter(run, k, scale, (j + 1, len(blend.tiles))))
            except Interrupted as e:
                blend.add(t, e.image)
                raise Interrupted(blend.image()) from None
            yield j, image, value, n

    def _reporter(self, run: _Run, k: int, scale: Scale, tile: tuple[int, int] = (0, 0)) -> Report | None:
        """The optimiser's report at scale ``k`` (``tile``: the tile's number from 1 and the scale's count of
        tiles, or (0, 0) for a whole scale), as :class:`Step` events; a tile's steps carry no image."""
        callback = self.callback
        if callback is None:
            return None
        every, n, done = self.image_every, scale.iterations, run.done

        def report(i: int, value: float, terms: dict[str, float], img: torch.Tensor) -> None:
            want = not tile[1] and (i == n or (every > 0 and i % every == 0))
            callback(Step(i, n, k, run.scales, scale.hw, value, terms, done + i, run.total,
                          time.perf_counter() - run.start, self.show(img) if want else None, *tile))

        return report
