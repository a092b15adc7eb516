"""The engine under every command: a schedule of scales, each planned, optimised and reported.

Painting an image, a later video frame, a texture and the explain figure's reconstructions are
one loop. For each scale: set up the memory plan (gradient checkpointing, malloc keeping freed
memory, the L-BFGS history), build that scale's objective, run :func:`optimize`, turn its
iterations into :class:`Step` events over the whole run, and turn Ctrl-C into
:class:`Interrupted` holding the best image so far as the caller finishes its results. What
differs between commands (the objective, the start, the resizing, the finishing) is what a
caller passes in; this module is the one place that calls :func:`optimize`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from . import allocator, memory
from .config import StyleConfig
from .features import VGG19Features
from .images import resize
from .optimize import Interrupted, ObjectiveFn, optimize

Size = tuple[int, int]
Schedule = Sequence[tuple[Size, int]]  # [((H, W), iterations), ...] from coarse to fine


@dataclass(frozen=True)
class Step:
    """One iteration, as reported to callbacks.

    ``iteration``/``iterations`` count within the current scale, ``done``/``total``
    over the whole schedule. ``image`` ((1, 3, H, W) in [0, 1], at this scale's size) is
    set every ``image_every`` iterations and on each scale's last iteration.
    """

    iteration: int
    iterations: int
    scale: int
    scales: int
    size: tuple[int, int]
    loss: float
    terms: dict[str, float]
    done: int
    total: int
    elapsed: float
    image: torch.Tensor | None = None


Callback = Callable[[Step], None]


def draw_seed(seed: int | None) -> int:
    """``seed``, or a fresh random one (recorded with the result so that the run can be repeated)."""
    return seed if seed is not None else secrets.randbelow(2**31)


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

    ``plans``: the memory plan per scale size (:func:`painterly.pipeline.memory_plans`; None where
    memory is not planned, off the CPU); ``fit``: how an image moves to the next scale's size;
    ``show``: what a callback's :class:`Step` carries of the current image; ``finish``: what the
    run returns (and :class:`Interrupted` carries) of the last image.
    """

    extractor: VGG19Features
    cfg: StyleConfig
    device: torch.device
    callback: Callback | None = None
    image_every: int = 0
    plans: Mapping[Size, memory.MemoryPlan] | None = None
    fit: Callable[[torch.Tensor, Size], torch.Tensor] = resize
    show: Callable[[torch.Tensor], torch.Tensor] = _as_is
    finish: Callable[[torch.Tensor], torch.Tensor] = _as_is

    def run(self, x: torch.Tensor, schedule: Schedule,
            objective_for: Callable[[VGG19Features, Size], ObjectiveFn]) -> Outcome:
        """Optimise ``x`` through ``schedule``; ``objective_for(network, size)`` builds each scale's objective
        (``network`` is the extractor as the scale's memory plan wants it run)."""
        start = time.perf_counter()
        total = sum(n for _, n in schedule)
        done, loss, iterations = 0, float("nan"), 0
        with allocator.scope():
            for k, (hw, n) in enumerate(schedule):
                plan = self.plans.get(hw) if self.plans is not None else None
                allocator.keep_freed_memory(plan is not None and memory.heap_has_room(plan))
                net = self.extractor.checkpointed() if plan is not None and plan.checkpoint else self.extractor
                x = self.fit(x, hw).to(self.device)
                report = self._reporter(k, len(schedule), hw, n, done, total, start)
                try:
                    res = optimize(x, objective_for(net, hw), optimizer=self.cfg.optimizer, iterations=n,
                                   lr=self.cfg.lr, lbfgs_history=plan.lbfgs_history if plan else self.cfg.lbfgs_history,
                                   tolerance=self.cfg.tolerance, patience=self.cfg.patience, report=report)
                except Interrupted as e:
                    raise Interrupted(self.finish(e.image)) from None
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
