"""Video progress: the :class:`FrameStep` event, and the pace (seconds per frame, time left) it carries."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass(frozen=True)
class FrameStep:
    """Video progress. ``frame`` (0-based) of ``frames``; ``iteration`` of ``iterations``
    within that frame; ``painted`` of ``to_paint`` frames this run paints are finished
    (resumed frames are not counted). ``finished`` events carry the frame ``image``
    ((1, 3, H, W) in [0, 1]). ``reliable`` is the fraction of the frame under the temporal
    loss (NaN for a shot's first frame).

    For planning: ``done`` of ``frames`` frames are finished (kept from an earlier run
    included); ``seconds_per_frame`` is the wall-clock time per frame finished so far this run
    (all workers together), and ``eta`` the seconds left at that pace; both NaN until a frame
    is finished. In chunked runs (:mod:`.parallel`) workers in other processes report finished
    frames only, as they appear in the work folder."""

    frame: int
    frames: int
    iteration: int
    iterations: int
    loss: float
    terms: dict[str, float]
    painted: int
    to_paint: int
    finished: bool = False
    resumed: bool = False
    shot_start: bool = False
    reliable: float = float("nan")
    elapsed: float = 0.0
    image: torch.Tensor | None = None
    done: int = 0
    seconds_per_frame: float = float("nan")
    eta: float = float("nan")


FrameCallback = Callable[[FrameStep], None]


@dataclass
class Pace:
    """Counts the frames a run finishes and turns them into :class:`FrameStep` events.

    ``started``: when the run began (``elapsed``); the pace is measured from this object's
    creation (just before the first frame), so loading the network does not count."""

    frames: int
    to_paint: int
    started: float
    painted: int = 0
    since: float = field(default_factory=time.perf_counter)

    @property
    def done(self) -> int:
        return self.frames - self.to_paint + self.painted

    def finish(self) -> None:
        self.painted += 1

    def seconds_per_frame(self) -> float:
        return (time.perf_counter() - self.since) / self.painted if self.painted else math.nan

    def step(self, k: int, *, iteration: int = 0, iterations: int = 0, loss: float = math.nan,
             terms: dict[str, float] | None = None, **flags: object) -> FrameStep:
        """A :class:`FrameStep` for frame ``k`` with this run's counts and pace (``flags``: the
        event's other fields: ``finished``, ``resumed``, ``shot_start``, ``reliable``, ``image``)."""
        spf = self.seconds_per_frame()
        return FrameStep(k, self.frames, iteration, iterations, loss, terms or {}, self.painted, self.to_paint,
                         elapsed=time.perf_counter() - self.started, done=self.done, seconds_per_frame=spf,
                         eta=spf * (self.to_paint - self.painted), **flags)  # type: ignore[arg-type]


class VideoInterrupted(Exception):
    """Ctrl-C: ``done`` of ``frames`` frames are finished and kept in ``folder`` for a rerun."""

    def __init__(self, done: int, frames: int, folder: Path):
        super().__init__(f"interrupted with {done} of {frames} frames finished")
        self.done, self.frames, self.folder = done, frames, folder
