"""Painting one frame: a shot's first like an image, every later one from the previous frame
warped onto it, with the temporal loss (Ruder et al. 2016), through the one engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .. import color, neighbors
from ..config import Method, PreserveColors, StyleConfig
from ..controls import Controls
from ..engine import Engine, memory_plans
from ..events import Step
from ..features import VGG19Features
from ..images import Loaded
from ..objective import Objective
from ..optimize import ObjectiveFn
from ..pipeline import Painter
from .config import VideoConfig
from .temporal import FramePrior, TemporalObjective


def work_space(x: torch.Tensor, cfg: StyleConfig) -> torch.Tensor:
    """A finished frame as the optimisation sees images (gray in luminance mode)."""
    if cfg.preserve_colors is PreserveColors.LUMINANCE:
        return color.gray3(color.luminance(x))
    return x


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits, as the frame is stored, so a resumed run continues from the same pixels."""
    return x.detach().float().cpu().clamp(0, 1).mul(255).round().div(255)


@dataclass
class Shot:
    """Targets prepared once per shot (from its first frame)."""

    controls: Controls
    grams: dict[str, torch.Tensor]
    style_loss: Any
    bank: neighbors.StyleBank | None = None  # --method nnst


class FrameRenderer:
    """Paints the frames of one video with one network."""

    def __init__(self, cfg: StyleConfig, vcfg: VideoConfig, styles: list[Loaded], controls: dict[str, Any]):
        self.cfg, self.vcfg, self.styles, self.controls = cfg, vcfg, styles, controls
        self.painter = Painter(cfg)
        self.shot: Shot | None = None

    def seed(self, seed: int) -> StyleConfig:
        self.cfg = self.painter.config = self.cfg.replace(seed=seed)
        torch.manual_seed(seed)
        return self.cfg

    def start_shot(self, frame: torch.Tensor) -> None:
        cfg, p = self.cfg, self.painter
        controls = Controls.prepare(frame, [s.rgb for s in self.styles], cfg, **self.controls)
        hw = tuple(frame.shape[-2:])
        if cfg.method is Method.NNST:
            self.shot = Shot(controls, {}, None, p.style_bank(controls.styles, hw, cfg))  # type: ignore[arg-type]
            return
        style_loss = controls.style_loss(p.extractor, hw, bf16=p.bf16)  # type: ignore[arg-type]
        grams = p.style_targets(controls.styles, hw, cfg) if style_loss is None else {}  # type: ignore[arg-type]
        self.shot = Shot(controls, grams, style_loss)

    def first(self, frame: torch.Tensor, report: Callable[[int, int, float, dict[str, float]], None]) -> torch.Tensor:
        """A shot's first frame, painted as an image."""
        def callback(step: Step) -> None:
            report(step.done, step.total, step.loss, step.terms)

        result = self.painter.paint(Loaded(frame), self.styles, callback=callback, **self.controls)
        return result.image

    def next(self, frame: torch.Tensor, prior: FramePrior,
             report: Callable[[int, int, float, dict[str, float]], None]) -> torch.Tensor:
        """A later frame: from the warped previous frame, with the temporal loss."""
        assert self.shot is not None
        cfg, p = self.cfg, self.painter
        shot = self.shot
        seen = color.prepare(frame, [], cfg.preserve_colors, cfg.color_match)[0]
        controls = dataclasses.replace(shot.controls, original=frame, content=seen)
        hw: tuple[int, int] = tuple(frame.shape[-2:])  # type: ignore[assignment]
        n = self.vcfg.iterations_after_first(cfg)
        schedule = [(hw, n)]

        def objective_for(net: VGG19Features, hw: tuple[int, int]) -> ObjectiveFn:
            base: ObjectiveFn
            if shot.bank is not None:
                base = neighbors.NeighborObjective(net, seen.to(p.device), shot.bank, weight=cfg.style_strength,
                                                   content_weight=cfg.content_weight * neighbors.CONTENT_SCALE)
            else:
                base = Objective(net, seen.to(p.device), shot.grams, cfg, bf16=p.bf16, style_loss=shot.style_loss)
            return TemporalObjective(base, prior, self.vcfg.temporal_weight)

        engine = Engine(p.extractor, cfg, p.device, lambda s: report(s.iteration, s.iterations, s.loss, s.terms),
                        plans=memory_plans(schedule, cfg, p.device),
                        finish=lambda img: controls.finish(p.finish_colours(img.cpu(), controls.styles)),
                        coordinates=p.coordinates)
        return engine.run(prior.warped, schedule, objective_for).image
