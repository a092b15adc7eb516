"""Video: stylise every frame of a clip without flicker (Ruder, Dosovitskiy and Brox 2016).

``stylize_video(input, styles, output, config, video)`` runs these steps:

1. **Probe and plan** (:mod:`painterly.videoio`): decode once to time every frame, select
   the frames in ``--start``/``--duration`` at ``--fps``, pick an even output size, check
   the encoder and that the audio can be copied; all before the network loads.
2. **Paint, frame by frame.** The first frame of a shot is painted like an image
   (:meth:`painterly.pipeline.Painter.paint`: content init, the full scale schedule). Each
   later frame starts from the previous stylised frame warped onto it by optical flow
   (:mod:`painterly.temporal`) and is optimised at the output size for
   ``frame_iterations`` with the image objective plus ``temporal_weight`` times the
   temporal loss. Style targets (and colour / mask / scale-mix controls) are prepared
   once per shot, not per frame. When less than ``scene_cut`` of a frame can be traced back
   to the previous one (a cut), it starts a new shot.
3. **Keep finished frames**: each is written as a PNG into a work folder next to the
   output (``OUT.frames/``, with a manifest holding a hash of everything that affects
   the frames). A rerun with the same inputs and options skips them, so an interrupted
   run resumes; other options start the folder afresh.
4. **Encode** H.264 at the planned rate with the source's audio copied unchanged, then
   remove the work folder (unless ``keep_frames``).

Nothing here prints; progress goes to ``callback`` as :class:`FrameStep` events.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import color
from ..config import ConfigError, PreserveColors, StyleConfig
from ..controls import Controls
from ..engine import Engine, draw_seed
from ..features import VGG19Features
from ..images import ImageSource, Loaded, load_image, refuse_overwriting_inputs
from ..masks import MaskSource
from ..meta import describe_input
from ..objective import Objective
from ..optimize import Interrupted, ObjectiveFn
from ..pipeline import Painter, Step, memory_plans
from .io import (
    FramePlan,
    VideoError,
    check_encoders,
    check_output,
    encode,
    output_size,
    plan_frames,
    probe,
    read_frames,
)
from .temporal import FramePrior, TemporalObjective, frame_prior
from .work import WorkFolder, describe, digest, work_folder_for

__all__ = ["FrameStep", "VideoConfig", "VideoError", "VideoInterrupted", "VideoResult", "stylize_video",
           "work_folder_for"]


@dataclass(frozen=True)
class VideoConfig:
    """The options video adds to :class:`StyleConfig` (validated; messages name the flag).

    ``temporal_weight`` scales the temporal loss (mean squared RGB difference, values in
    [0, 1], over the reliable pixels) against the image objective's terms;
    ``frame_iterations`` is the optimiser budget of every frame after a shot's first (None:
    half of ``StyleConfig.iterations``), which starts from the warped, already painted
    previous frame and so needs neither the coarse-to-fine schedule nor the full budget.
    """

    start: float = 0.0  # seconds into the input
    duration: float | None = None  # seconds; None: to the end
    fps: float | None = None  # output frame rate; None: the source's
    temporal_weight: float = 1e4
    frame_iterations: int | None = None
    scene_cut: float = 0.3  # a frame with less than this fraction traced to the previous starts a shot
    crf: int = 18  # libx264 quality (0 lossless .. 51 worst)
    audio: bool = True  # copy the source's audio

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and self.start >= 0):
            raise ConfigError(f"--start must be 0 or more seconds, got {self.start}")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise ConfigError(f"--duration must be more than 0 seconds (a zero-length range has no frames), "
                              f"got {self.duration}")
        if self.fps is not None and not (math.isfinite(self.fps) and 0 < self.fps <= 240):
            raise ConfigError(f"--fps must be more than 0 and at most 240, got {self.fps}")
        if not (math.isfinite(self.temporal_weight) and self.temporal_weight >= 0):
            raise ConfigError(f"--temporal-weight must be a finite number of 0 or more, got {self.temporal_weight}")
        if self.frame_iterations is not None and (not isinstance(self.frame_iterations, int)
                                                  or self.frame_iterations < 1):
            raise ConfigError(f"--frame-iterations must be a whole number of at least 1, got {self.frame_iterations!r}")
        if not 0 <= self.scene_cut <= 1:
            raise ConfigError(f"--scene-cut must be between 0 and 1, got {self.scene_cut}")
        if not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise ConfigError(f"--crf must be a whole number from 0 to 51, got {self.crf!r}")

    def replace(self, **changes: Any) -> VideoConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoConfig:
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown video option(s): {', '.join(unknown)}")
        return cls(**data)

    def iterations_after_first(self, cfg: StyleConfig) -> int:
        return self.frame_iterations if self.frame_iterations is not None else max(1, cfg.iterations // 2)


@dataclass(frozen=True)
class FrameStep:
    """Video progress. ``frame`` (0-based) of ``frames``; ``iteration`` of ``iterations``
    within that frame; ``painted`` of ``to_paint`` frames this run paints are finished
    (resumed frames are not counted). ``finished`` events carry the frame ``image``
    ((1, 3, H, W) in [0, 1]). ``reliable`` is the fraction of the frame under the temporal
    loss (NaN for a shot's first frame)."""

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


FrameCallback = Callable[[FrameStep], None]


@dataclass
class VideoResult:
    output: Path
    frames: int
    painted: int
    resumed: int
    rate: str  # frames per second, as a fraction "24000/1001"
    size: tuple[int, int]  # (H, W)
    config: StyleConfig  # seed resolved
    video: VideoConfig
    seconds: float
    shots: list[int] = field(default_factory=list)  # frames that started a shot


class VideoInterrupted(Exception):
    """Ctrl-C: ``done`` of ``frames`` frames are finished and kept in ``folder`` for a rerun."""

    def __init__(self, done: int, frames: int, folder: Path):
        super().__init__(f"interrupted with {done} of {frames} frames finished")
        self.done, self.frames, self.folder = done, frames, folder


# Painting --------------------------------------------------------------------------------
def _work_space(x: torch.Tensor, cfg: StyleConfig) -> torch.Tensor:
    """A finished frame as the optimisation sees images (gray in luminance mode)."""
    if cfg.preserve_colors is PreserveColors.LUMINANCE:
        return color.gray3(color.luminance(x))
    return x


def _quantise(x: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits, as the frame is stored, so a resumed run continues from the same pixels."""
    return x.detach().float().cpu().clamp(0, 1).mul(255).round().div(255)


@dataclass
class _Shot:
    """Targets prepared once per shot (from its first frame)."""

    controls: Controls
    grams: dict[str, torch.Tensor]
    style_loss: Any


class _Renderer:
    """Paints the frames of one video with one network."""

    def __init__(self, cfg: StyleConfig, vcfg: VideoConfig, styles: list[Loaded], controls: dict[str, Any]):
        self.cfg, self.vcfg, self.styles, self.controls = cfg, vcfg, styles, controls
        self.painter = Painter(cfg)
        self.shot: _Shot | None = None

    def seed(self, seed: int) -> StyleConfig:
        self.cfg = self.painter.config = self.cfg.replace(seed=seed)
        torch.manual_seed(seed)
        return self.cfg

    def start_shot(self, frame: torch.Tensor) -> None:
        cfg, p = self.cfg, self.painter
        controls = Controls.prepare(frame, [s.rgb for s in self.styles], cfg, **self.controls)
        hw = tuple(frame.shape[-2:])
        style_loss = controls.style_loss(p.extractor, hw, bf16=p.bf16)  # type: ignore[arg-type]
        grams = p.style_targets(controls.styles, hw, cfg) if style_loss is None else {}  # type: ignore[arg-type]
        self.shot = _Shot(controls, grams, style_loss)

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
            base = Objective(net, seen.to(p.device), shot.grams, cfg, bf16=p.bf16, style_loss=shot.style_loss)
            return TemporalObjective(base, prior, self.vcfg.temporal_weight)

        engine = Engine(p.extractor, cfg, p.device, lambda s: report(s.iteration, s.iterations, s.loss, s.terms),
                        plans=memory_plans(schedule, cfg) if p.device.type == "cpu" else None,
                        finish=lambda img: controls.finish(img.cpu()))
        return engine.run(prior.warped, schedule, objective_for).image


def _load_styles(styles: Sequence[ImageSource | Loaded]) -> list[Loaded]:
    return [s if isinstance(s, Loaded) else load_image(s, what="style") for s in styles]


def stylize_video(
    input: str | Path,
    styles: Sequence[ImageSource | Loaded],
    output: str | Path,
    config: StyleConfig | None = None,
    video: VideoConfig | None = None,
    *,
    masks: Sequence[MaskSource | None] | None = None,
    coarse_style: ImageSource | Loaded | None = None,
    fine_style: ImageSource | Loaded | None = None,
    callback: FrameCallback | None = None,
    keep_frames: bool = False,
) -> VideoResult:
    """Paint the video ``input`` in the style of ``styles`` and write ``output`` (.mp4/.mov/.mkv).

    ``config.size`` is the output's long edge (rounded so both sides are even); the other
    options, and ``masks``/``coarse_style``/``fine_style``, mean what they mean for images
    (masks are static: one image per style for every frame). Raises :class:`VideoError` /
    :class:`ConfigError` before heavy work for bad inputs, and :class:`VideoInterrupted`
    on Ctrl-C with the finished frames kept for a rerun.
    """
    started = time.perf_counter()
    cfg = config or StyleConfig()
    vcfg = video or VideoConfig()
    out = check_output(output)
    refuse_overwriting_inputs({"--output": out}, [input, *styles, *(masks or []), coarse_style, fine_style, cfg.init],
                              error=VideoError)
    info = probe(input)
    fplan = plan_frames(info, vcfg.start, vcfg.duration, vcfg.fps)
    check_encoders(info, out, vcfg.audio)
    style_imgs = _load_styles(styles)
    controls: dict[str, Any] = {"masks": masks, "coarse_style": coarse_style, "fine_style": fine_style}
    hw = output_size(info, cfg.size)
    work = WorkFolder(work_folder_for(out), _work_key(input, style_imgs, cfg, vcfg, controls, hw, fplan))
    frames = len(fplan.sources)
    # Validate the controls against the first frame before the network loads.
    reader = read_frames(info, FramePlan(fplan.sources[:1], fplan.rate, fplan.start), hw)
    first_frame = next(reader)
    reader.close()
    cfg = cfg.replace(size=max(hw))
    Controls.prepare(first_frame, [s.rgb for s in style_imgs], cfg, **controls)
    renderer = _Renderer(cfg, vcfg, style_imgs, controls)  # loads the network
    work.open(frames, draw_seed(cfg.seed))
    cfg = renderer.seed(work.seed)  # a resumed run keeps the seed it started with
    done = sum(1 for k in range(frames) if work.frame(k).is_file())
    shots = _paint_frames(renderer, work, read_frames(info, fplan, hw), frames, frames - done, hw, callback, started)
    try:
        encode((work.array(k) for k in range(frames)), info, fplan, out, crf=vcfg.crf, audio=vcfg.audio)
    except KeyboardInterrupt:
        raise VideoInterrupted(frames, frames, work.path) from None
    if not keep_frames:
        work.remove()
    painted = len(shots.painted)
    return VideoResult(out, frames, painted, frames - painted, f"{fplan.rate.numerator}/{fplan.rate.denominator}",
                       hw, cfg, vcfg, time.perf_counter() - started, shots.starts)


def _work_key(input: str | Path, styles: list[Loaded], cfg: StyleConfig, vcfg: VideoConfig, controls: dict[str, Any],
              hw: tuple[int, int], fplan: FramePlan) -> str:
    """A hash of everything that shapes the frames: a work folder of other options starts afresh."""
    masks = controls["masks"]
    return digest({
        "config": {k: v for k, v in cfg.to_dict().items() if k != "device"},  # CPU or GPU: the same frames
        "video": {k: v for k, v in vcfg.to_dict().items() if k not in ("crf", "audio")},
        "input": describe_input(input), "styles": [describe(s) for s in styles],
        "controls": {"masks": None if masks is None else [describe(m) for m in masks],
                     "coarse": describe(controls["coarse_style"]), "fine": describe(controls["fine_style"])},
        "size": hw, "sources": fplan.sources, "rate": str(fplan.rate),
    })


@dataclass
class _Progress:
    starts: list[int] = field(default_factory=list)
    painted: list[int] = field(default_factory=list)


def _paint_frames(renderer: _Renderer, work: WorkFolder, inputs: Iterator[torch.Tensor], frames: int,
                  to_paint: int, hw: tuple[int, int], callback: FrameCallback | None, started: float) -> _Progress:
    cfg, vcfg = renderer.cfg, renderer.vcfg
    progress = _Progress()
    known_shots = set(work.shots)
    prev_frame: torch.Tensor | None = None
    prev_out: torch.Tensor | None = None
    shot_frame: torch.Tensor | None = None
    k = 0

    def emit(step: FrameStep) -> None:
        if callback is not None:
            callback(step)

    try:
        for k, frame in enumerate(inputs):
            existing = work.load(k, hw)
            if existing is not None:
                if k in known_shots or shot_frame is None:
                    shot_frame, renderer.shot = frame, None
                    progress.starts.append(k)
                emit(FrameStep(k, frames, 0, 0, float("nan"), {}, len(progress.painted), to_paint, finished=True,
                               resumed=True, shot_start=k in known_shots, elapsed=time.perf_counter() - started,
                               image=existing))
                prev_frame, prev_out = frame, existing
                continue
            prior = None
            if prev_frame is not None and prev_out is not None:
                prior = frame_prior(prev_frame, frame, _work_space(prev_out, cfg))
                if prior.reliable < vcfg.scene_cut:
                    prior = None
            reliable = prior.reliable if prior is not None else float("nan")
            painted = len(progress.painted)

            def report(i: int, n: int, loss: float, terms: dict[str, float], k: int = k, first: bool = prior is None,
                       reliable: float = reliable, painted: int = painted) -> None:
                emit(FrameStep(k, frames, i, n, loss, terms, painted, to_paint, shot_start=first, reliable=reliable,
                               elapsed=time.perf_counter() - started))

            if prior is None:
                work.add_shot(k)
                progress.starts.append(k)
                shot_frame, renderer.shot = frame, None
                image = renderer.first(frame, report)
            else:
                if renderer.shot is None:
                    assert shot_frame is not None
                    renderer.start_shot(shot_frame)
                image = renderer.next(frame, prior, report)
            image = _quantise(image)
            work.save(k, image)
            progress.painted.append(k)
            emit(FrameStep(k, frames, 0, 0, float("nan"), {}, len(progress.painted), to_paint, finished=True,
                           shot_start=prior is None, reliable=reliable, elapsed=time.perf_counter() - started,
                           image=image))
            prev_frame, prev_out = frame, image
    except (Interrupted, KeyboardInterrupt):
        done = sum(1 for j in range(frames) if work.frame(j).is_file())
        raise VideoInterrupted(done, frames, work.path) from None
    return progress

