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

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import StyleConfig
from ..controls import Controls
from ..events import draw_seed
from ..images import ImageSource, Loaded, load_image, refuse_overwriting_inputs
from ..masks import MaskSource
from ..meta import describe_input
from ..optimize import Interrupted
from .config import VideoConfig
from .frames import FrameRenderer, quantise, work_space
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
from .temporal import frame_prior
from .work import WorkFolder, describe, digest, work_folder_for

__all__ = ["FrameStep", "VideoConfig", "VideoError", "VideoInterrupted", "VideoResult", "stylize_video",
           "work_folder_for"]


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
    renderer = FrameRenderer(cfg, vcfg, style_imgs, controls)  # loads the network
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


def _paint_frames(renderer: FrameRenderer, work: WorkFolder, inputs: Iterator[torch.Tensor], frames: int,
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
                prior = frame_prior(prev_frame, frame, work_space(prev_out, cfg))
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
            image = quantise(image)
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

