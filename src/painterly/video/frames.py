"""Painting frames: a shot's first like an image, every later one from the previous frame warped
onto it, with the temporal loss (Ruder et al. 2016), through the one engine; and the loop over a
clip's frames (:func:`paint_frames`), for a whole clip (:mod:`.render`) and for one chunk (:mod:`.chunks`).

A shot is prepared once (:class:`painterly.plan.Plan`, from its first frame): its controls, and, at
its first later frame, its style loss and the later frames' scale with its memory plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from .. import color
from ..config import PreserveColors, StyleConfig
from ..controls import Controls
from ..engine import Engine
from ..events import Step
from ..features import VGG19Features
from ..images import Loaded
from ..losses import StyleLoss
from ..neighbors import StyleBank
from ..optimize import ObjectiveFn
from ..pipeline import Painter
from ..plan import Plan
from ..scales import Scale, plan_scales
from .config import VideoConfig
from .io import FramePlan, VideoInfo, read_frames
from .progress import FrameCallback, FrameStep, Pace
from .temporal import FramePrior, Motion, TemporalObjective


def work_space(x: torch.Tensor, cfg: StyleConfig) -> torch.Tensor:
    """A finished frame as the optimisation sees images (gray in luminance mode)."""
    if cfg.preserve_colors is PreserveColors.LUMINANCE:
        return color.gray3(color.luminance(x))
    return x


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits, as the frame is stored, so a resumed run continues from the same pixels."""
    return x.detach().float().cpu().clamp(0, 1).mul(255).round().div(255)


@dataclass(frozen=True)
class Clip:
    """A clip checked and planned (everything before the network loads). ``first``: the first frame
    and its painting's plan, made by the check (the one shot start whose plan is made in advance)."""

    info: VideoInfo
    plan: FramePlan
    hw: tuple[int, int]
    cfg: StyleConfig  # size set to the output's long edge
    styles: list[Loaded]
    controls: dict[str, Any]
    first: tuple[torch.Tensor, Plan] | None = None

    @property
    def frames(self) -> int:
        return len(self.plan.sources)

    def read(self) -> Iterable[torch.Tensor]:
        return read_frames(self.info, self.plan, self.hw)


@dataclass
class Shot:
    """What a shot's frames share: the controls (prepared once, from its first frame), and, made at its
    first later frame, the style loss and the later frames' scale (with its memory plan)."""

    controls: Controls
    style: StyleLoss | StyleBank | None = None
    scales: tuple[Scale, ...] = ()


class FrameRenderer:
    """Paints the frames of one video with one network."""

    def __init__(self, cfg: StyleConfig, vcfg: VideoConfig, styles: list[Loaded], controls: dict[str, Any],
                 prepared: tuple[torch.Tensor, Plan] | None = None):
        self.cfg, self.vcfg, self.styles, self.controls = cfg, vcfg, styles, controls
        self.painter = Painter(cfg)
        self.shot: Shot | None = None
        self.prepared = prepared  # (frame, its plan), prepared before the network loaded

    def seed(self, seed: int) -> StyleConfig:
        self.cfg = self.painter.config = self.cfg.replace(seed=seed)
        torch.manual_seed(seed)
        return self.cfg

    def _plan(self, frame: torch.Tensor) -> Plan:
        """The plan of a shot that starts at ``frame``: the one made in advance for it, else made now."""
        if self.prepared is not None and torch.equal(self.prepared[0], frame):
            plan = self.prepared[1]
            self.prepared = None
            return plan.with_seed(self.cfg.seed)  # type: ignore[arg-type]
        return self.painter.prepare(Loaded(frame), self.styles, **self.controls, tileable=False)  # frames paint whole

    def start_shot(self, frame: torch.Tensor) -> None:
        """Prepare the shot whose first frame ``frame`` is painted already (kept, or by another chunk)."""
        self.shot = Shot(self._plan(frame).controls)

    def first(self, frame: torch.Tensor, report: Callable[[int, int, float, dict[str, float]], None]) -> torch.Tensor:
        """A shot's first frame, painted as an image."""
        def callback(step: Step) -> None:
            report(step.done, step.total, step.loss, step.terms)

        plan = self._plan(frame)
        self.shot = Shot(plan.controls)
        return self.painter.run(plan, callback=callback).image

    def next(self, frame: torch.Tensor, prior: FramePrior,
             report: Callable[[int, int, float, dict[str, float]], None]) -> torch.Tensor:
        """A later frame: from the warped previous frame, with the temporal loss."""
        assert self.shot is not None
        cfg, p, shot = self.cfg, self.painter, self.shot
        hw: tuple[int, int] = tuple(frame.shape[-2:])  # type: ignore[assignment]
        if shot.style is None:
            shot.style = p.targets(shot.controls, hw)
            shot.scales = plan_scales([(hw, self.vcfg.iterations_after_first(cfg))], cfg, p.device)
        seen = color.prepare(frame, [], cfg.preserve_colors, cfg.color_match)[0]
        controls = dataclasses.replace(shot.controls, original=frame, content=seen)
        style = shot.style

        def objective_for(net: VGG19Features, hw: tuple[int, int]) -> ObjectiveFn:
            base = p.objective(net, hw, cfg, seen.to(p.device), style)
            return TemporalObjective(base, prior, self.vcfg.temporal_weight)

        engine = Engine(p.extractor, cfg, p.device, lambda s: report(s.iteration, s.iterations, s.loss, s.terms),
                        finish=lambda img: controls.finish(p.finish_colours(img.cpu(), controls.styles)),
                        coordinates=p.coordinates, blowup=p.blowup)
        return engine.run(prior.warped, shot.scales, objective_for).image


# The loop over frames: a whole clip, or one chunk ---------------------------------------------------
class FrameStore(Protocol):
    """Where a loop's frames are kept: the work folder, or a chunk's view of it."""

    @property
    def shots(self) -> list[int]: ...
    def load(self, k: int, hw: tuple[int, int]) -> torch.Tensor | None: ...
    def save(self, k: int, x: torch.Tensor) -> None: ...
    def add_shot(self, k: int) -> None: ...


@dataclass
class Painted:
    starts: list[int] = field(default_factory=list)  # frames that started a shot (kept ones included)
    painted: list[int] = field(default_factory=list)  # frames painted by this loop
    retried: list[int] = field(default_factory=list)  # chunked runs: first frames of chunks painted again


def paint_frames(renderer: FrameRenderer, store: FrameStore, inputs: Iterable[tuple[int, torch.Tensor]],
                 hw: tuple[int, int], pace: Pace, callback: FrameCallback | None, *,
                 shot_frame: torch.Tensor | None = None, start_prior: FramePrior | None = None,
                 motions: Mapping[int, Motion] | None = None) -> Painted:
    """Paint ``inputs`` ((index, frame) in order) one after another, skipping the frames ``store``
    holds already (a resumed run continues from them). The first frame, and any frame less than
    ``scene_cut`` of which follows from the one before, is a shot's first (painted like an
    image), unless ``start_prior`` is given for the first frame (a chunk starting inside a shot
    whose first frame was ``shot_frame``). ``motions``: frame ``k``'s :class:`Motion` from frame
    ``k - 1``, where it is known already (a chunk's, from the coordinator); the others are computed
    here. Ctrl-C propagates."""
    cfg, vcfg = renderer.cfg, renderer.vcfg
    out = Painted()
    known_shots = set(store.shots)
    prev_frame: torch.Tensor | None = None
    prev_out: torch.Tensor | None = None
    emit: Callable[[FrameStep], None] = callback or (lambda step: None)
    for k, frame in inputs:
        existing = store.load(k, hw)
        if existing is not None:
            if k in known_shots or shot_frame is None:
                shot_frame, renderer.shot = frame, None
                out.starts.append(k)
            emit(pace.step(k, finished=True, resumed=True, shot_start=k in known_shots, image=existing))
            prev_frame, prev_out = frame, existing
            continue
        prior = start_prior
        if prev_frame is not None and prev_out is not None:
            motion = motions[k] if motions is not None and k in motions else Motion.between(prev_frame, frame)
            prior = motion.prior(prev_frame, frame, work_space(prev_out, cfg), sharp=True, follow=True)
            if prior.reliable < vcfg.scene_cut:
                prior = None
        reliable = prior.reliable if prior is not None else float("nan")

        def report(i: int, n: int, loss: float, terms: dict[str, float], k: int = k, first: bool = prior is None,
                   reliable: float = reliable) -> None:
            emit(pace.step(k, iteration=i, iterations=n, loss=loss, terms=terms, shot_start=first, reliable=reliable))

        if prior is None:
            store.add_shot(k)
            out.starts.append(k)
            shot_frame, renderer.shot = frame, None
            image = renderer.first(frame, report)
        else:
            if renderer.shot is None:
                assert shot_frame is not None
                renderer.start_shot(shot_frame)
            image = renderer.next(frame, prior, report)
        image = quantise(image)
        store.save(k, image)
        out.painted.append(k)
        pace.finish()
        emit(pace.step(k, finished=True, shot_start=prior is None, reliable=reliable, image=image))
        prev_frame, prev_out = frame, image
    return out
