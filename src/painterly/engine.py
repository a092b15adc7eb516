"""The engine under every command: a schedule of scales, each planned, optimised and reported.

Painting an image, a later video frame, a texture and the explain figure's reconstructions are
one loop over :class:`Scale` s, which only :func:`plan_scales` makes: every caller's scales carry
their memory plan (on the CPU), made before the network loads. For each scale: apply the memory
plan (gradient checkpointing, malloc keeping freed memory, the L-BFGS history), build that scale's
objective, run :func:`optimize`, turn its
iterations into :class:`Step` events over the whole run, and turn Ctrl-C into
:class:`Interrupted` holding the best image so far as the caller finishes its results. What
differs between commands (the objective, the start, the resizing, the finishing) is what a
caller passes in; this module is the one place that calls :func:`optimize`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from . import allocator, devices, memory, neighbors, vgg
from .config import ITERATION_REFERENCE_SIZE, Method, StyleConfig
from .errors import OutOfMemory
from .events import Callback, Step
from .features import VGG19Features
from .images import fit_long_edge, resize
from .objective import style_long_edge
from .optimize import BLOWUP, Coordinates, Interrupted, ObjectiveFn, optimize

Size = tuple[int, int]
Schedule = Sequence[tuple[Size, int]]  # [((H, W), iterations), ...] from coarse to fine


def scale_schedule(hw: tuple[int, int], cfg: StyleConfig) -> list[tuple[tuple[int, int], int]]:
    """[((H, W), iterations), ...] from coarse to fine, ending at ``hw``.

    Sizes shrink by ``scale_factor`` from the output down to ``min_scale_size`` (long
    edge). Each scale's budget depends on its own size only: ``iterations`` at a 512 px
    long edge (:data:`ITERATION_REFERENCE_SIZE`), and in proportion to 1/long edge
    elsewhere (scales below the method's budget floor, else ``min_scale_size``, count as that
    size: :data:`painterly.config.SCHEDULES`). So most iterations
    run at the cheap sizes, the finest scales of a large render only refine, and a
    256 px preview is exactly the first stage of any larger render of the same options:
    it shows the look the full render starts from and keeps. A single scale
    (``multiscale=False``) gets exactly ``iterations``.
    """
    plan = cfg.schedule
    if not cfg.multiscale:
        return [(hw, cfg.iterations)]
    sizes = [hw]
    long = max(hw) / plan.scale_factor
    while long >= plan.min_scale_size - 0.5:
        sizes.append(fit_long_edge(hw, round(long)))
        long /= plan.scale_factor
    sizes.reverse()
    ref = ITERATION_REFERENCE_SIZE * cfg.iterations
    floor = plan.budget_floor or plan.min_scale_size
    return [(s, max(min(cfg.iterations, 1), round(ref / max(*s, floor)))) for s in sizes]


def memory_plans(schedule: Sequence[tuple[tuple[int, int], int]], cfg: StyleConfig,
                 device: torch.device | None = None) -> dict[tuple[int, int], memory.MemoryPlan] | None:
    """One memory plan per scale, on the CPU (``device`` None or cpu) and on a CUDA GPU (from its free
    memory now); None elsewhere (MPS: not planned). Refuses a size that cannot fit before any work, and
    checkpoints / shortens the L-BFGS history only at the scales that need it. Built from the
    full size down, so that a refusal names the size the user asked for. L-BFGS keeps at most
    one history pair per iteration, so a short scale needs no more."""
    if device is None or device.type == "cpu":
        free, base, where = None, memory.BASE_BYTES, ""
    elif device.type == "cuda":
        free, base, where = devices.free_bytes(device), memory.GPU_BASE_BYTES, f" on {devices.name(device)}"
    else:
        return None
    if cfg.method is Method.NNST:
        deepest = vgg.deepest(neighbors.HYPERCOLUMN_LAYERS)

        def extra(hw: Size) -> int:
            return neighbors.bank_bytes(hw, [style_long_edge(s, hw) for s in cfg.style_scales or (cfg.style_scale,)])
    else:
        deepest = vgg.deepest(cfg.style_layers + cfg.content_layers)

        def extra(hw: Size) -> int:
            return memory.style_loss_bytes(hw, cfg.style_layers, cfg.style_loss)

    def needs(hw: Size) -> tuple[int, int]:  # a run at --size max(hw): its last scale's history and extra bytes
        return min(cfg.lbfgs_history, max(scale_schedule(hw, cfg)[-1][1], 1)), extra(hw)

    return {hw: memory.plan(hw, deepest, min(cfg.lbfgs_history, max(n, 1)), cfg.max_memory, extra(hw),
                            free_bytes=free, base_bytes=base, where=where, needs=needs)
            for hw, n in reversed(schedule)}


@dataclass(frozen=True)
class Scale:
    """One scale of a schedule: its size (H, W), its iterations and its memory plan (None off the CPU,
    where memory is not planned)."""

    hw: Size
    iterations: int
    memory: memory.MemoryPlan | None = None


def plan_scales(schedule: Schedule, cfg: StyleConfig, device: torch.device) -> tuple[Scale, ...]:
    """``schedule`` with each scale's memory plan (:func:`memory_plans`, on the CPU and CUDA): refuses a size
    that cannot fit before any work. The one way to make the scales :meth:`Engine.run` takes."""
    plans = memory_plans(schedule, cfg, device) or {}
    return tuple(Scale(hw, n, plans.get(hw)) for hw, n in schedule)


def _as_is(image: torch.Tensor) -> torch.Tensor:
    return image.detach().clamp(0, 1).cpu()


@dataclass(frozen=True)
class Outcome:
    """What a schedule ends with: the finished image, the last scale's loss, iterations run."""

    image: torch.Tensor
    loss: float
    iterations: int
    seconds: float


@dataclass
class Engine:
    """Runs schedules with one network and one set of options.

    ``fit``: how an image moves to the next scale's size; ``show``: what a callback's :class:`Step`
    carries of the current image; ``finish``: what the run returns (and :class:`Interrupted` carries) of the
    last image; ``coordinates``: what the optimiser moves at a scale instead of its pixels (None: the pixels);
    ``blowup``: how many times the best loss so far a step may reach before it is undone (:func:`optimize`).
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

    def run(self, x: torch.Tensor, scales: Sequence[Scale],
            objective_for: Callable[[VGG19Features, Size], ObjectiveFn]) -> Outcome:
        """Optimise ``x`` through ``scales`` (:func:`plan_scales`); ``objective_for(network, size)`` builds each
        scale's objective (``network`` is the extractor as the scale's memory plan wants it run)."""
        start = time.perf_counter()
        total = sum(s.iterations for s in scales)
        done, loss, iterations = 0, float("nan"), 0
        with allocator.scope():
            for k, scale in enumerate(scales):
                hw, n, plan = scale.hw, scale.iterations, scale.memory
                allocator.keep_freed_memory(self.device.type == "cpu" and plan is not None and memory.heap_has_room(plan))
                net = self.extractor.checkpointed() if plan is not None and plan.checkpoint else self.extractor
                report = self._reporter(k, len(scales), hw, n, done, total, start)
                try:
                    x = self.fit(x, hw).to(self.device)
                    res = optimize(x, objective_for(net, hw), optimizer=self.cfg.optimizer, iterations=n,
                                   lr=self.cfg.lr, lbfgs_history=plan.lbfgs_history if plan else self.cfg.lbfgs_history,
                                   tolerance=self.cfg.tolerance, patience=self.cfg.patience, report=report,
                                   coordinates=self.coordinates(hw) if self.coordinates else None,
                                   blowup=self.blowup)
                except Interrupted as e:
                    raise Interrupted(self.finish(e.image)) from None
                except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError: the plan said it fits, the device disagreed
                    raise OutOfMemory(memory.out_of_memory(hw, devices.name(self.device), plan)) from None
                x, loss = res.image, res.loss
                done += n
                iterations += res.iterations
        return Outcome(self.finish(x), loss, iterations, time.perf_counter() - start)

    def _reporter(self, k: int, scales: int, hw: Size, n: int, done: int, total: int,
                  start: float) -> Callable[[int, float, dict[str, float], torch.Tensor], None] | None:
        callback = self.callback
        if callback is None:
            return None
        every = self.image_every

        def report(i: int, value: float, terms: dict[str, float], img: torch.Tensor) -> None:
            want = i == n or (every > 0 and i % every == 0)
            callback(Step(i, n, k, scales, hw, value, terms, done + i, total, time.perf_counter() - start,
                          self.show(img) if want else None))

        return report
