"""Video: stylise every frame of a clip without flicker (Ruder, Dosovitskiy and Brox 2016).

``stylize_video(input, styles, output, config, video)`` runs these steps:

1. **Probe and plan** (:mod:`.io`): decode once to time every frame, select
   the frames in ``--start``/``--duration`` at ``--fps``, pick an even output size, check
   the encoder and that the audio can be copied, prepare the first frame's painting
   (:func:`painterly.plan.prepare`: the styles and controls checked); all before the network loads.
2. **Paint, frame by frame.** The first frame of a shot is painted like an image
   (:meth:`painterly.pipeline.Painter.paint`: content init, the full scale schedule). Each
   later frame starts from the previous stylised frame warped onto it by optical flow
   (:mod:`.temporal`) and is optimised at the output size for
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

With ``workers`` or ``scheduler``, step 2 runs in chunks on a pool of processes or a Dask
cluster instead (:mod:`.parallel`): the clip is split at cuts, long shots into overlapping
chunks, and the chunks are painted at once.

Nothing here prints; progress goes to ``callback`` as :class:`FrameStep` events.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import MACHINE_FIELDS, StyleConfig
from ..events import draw_seed
from ..images import ImageSource, Loaded, load_image, refuse_overwriting_inputs
from ..masks import MaskSource
from ..meta import describe_input
from ..optimize import Interrupted
from ..plan import prepare
from .config import VideoConfig
from .frames import Clip, FrameRenderer, Painted, paint_frames
from .io import FramePlan, VideoError, check_encoders, check_output, encode, output_size, plan_frames, probe, read_frames
from .parallel import check_workers, paint_chunked, start_pool
from .progress import FrameCallback, FrameStep, Pace, VideoInterrupted
from .work import WorkFolder, describe, digest, work_folder_for

__all__ = ["FrameStep", "VideoConfig", "VideoError", "VideoInterrupted", "VideoResult", "stylize_video",
           "work_folder_for"]


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
    retried: list[int] = field(default_factory=list)  # chunked runs: first frames of chunks painted again


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
    workers: int | None = None,
    scheduler: str | None = None,
) -> VideoResult:
    """Paint the video ``input`` in the style of ``styles`` and write ``output`` (.mp4/.mov/.mkv).

    ``config.size`` is the output's long edge (rounded so both sides are even); the other
    options, and ``masks``/``coarse_style``/``fine_style``, mean what they mean for images
    (masks are static: one image per style for every frame). Raises :class:`VideoError` /
    :class:`ConfigError` before heavy work for bad inputs, and :class:`VideoInterrupted`
    on Ctrl-C with the finished frames kept for a rerun.

    ``workers`` (local processes; 1 paints the chunks in this process) or ``scheduler`` (a Dask
    scheduler's address) paint the clip in chunks at once (:mod:`.parallel`; the chunks' frames
    differ from one piece's where they overlap); a scheduler that cannot be used raises
    :class:`painterly.pools.PoolError`. Without either, the clip is painted in one piece.
    """
    started = time.perf_counter()
    cfg = config or StyleConfig()
    vcfg = video or VideoConfig()
    out = check_output(output)
    chunked = workers is not None or scheduler is not None
    if chunked:
        check_workers(workers, scheduler, "chunks")
    refuse_overwriting_inputs({"--output": out}, [input, *styles, *(masks or []), coarse_style, fine_style, cfg.init],
                              error=VideoError)
    clip = _check(input, styles, out, cfg, vcfg, {"masks": masks, "coarse_style": coarse_style, "fine_style": fine_style})
    # A scheduler that cannot be used fails here, before any file is made.
    pool = start_pool(workers, scheduler, clip.cfg, -(-clip.frames // vcfg.chunk_frames)) if chunked else None
    work = WorkFolder(work_folder_for(out), _work_key(input, clip, cfg, vcfg, chunked))
    if pool is not None:
        done = paint_chunked(pool, work, clip, vcfg, callback, started)
    else:
        done = _paint_whole(work, clip, vcfg, callback, started)
    try:
        encode((work.array(k) for k in range(clip.frames)), clip.info, clip.plan, out, crf=vcfg.crf, audio=vcfg.audio)
    except KeyboardInterrupt:
        raise VideoInterrupted(clip.frames, clip.frames, work.path) from None
    if not keep_frames:
        work.remove()
    rate = f"{clip.plan.rate.numerator}/{clip.plan.rate.denominator}"
    return VideoResult(out, clip.frames, len(done.painted), clip.frames - len(done.painted), rate, clip.hw,
                       clip.cfg.replace(seed=work.seed), vcfg, time.perf_counter() - started, done.starts, done.retried)


def _check(input: str | Path, styles: Sequence[ImageSource | Loaded], out: Path, cfg: StyleConfig, vcfg: VideoConfig,
           controls: dict[str, Any]) -> Clip:
    """Probe and plan the clip, check the encoder, the styles and the controls (on the first frame)."""
    info = probe(input)
    fplan = plan_frames(info, vcfg.start, vcfg.duration, vcfg.fps)
    check_encoders(info, out, vcfg.audio)
    style_imgs = _load_styles(styles)
    hw = output_size(info, cfg.size)
    reader = read_frames(info, FramePlan(fplan.sources[:1], fplan.rate, fplan.start), hw)
    first_frame = next(reader)
    reader.close()
    cfg = cfg.replace(size=max(hw))
    plan = prepare(Loaded(first_frame), style_imgs, cfg, **controls,
                   tileable=False)  # every frame paints whole scales (later frames: painterly.video.frames)
    return Clip(info, fplan, hw, cfg, style_imgs, controls, (first_frame, plan))


def _paint_whole(work: WorkFolder, clip: Clip, vcfg: VideoConfig, callback: FrameCallback | None,
                 started: float) -> Painted:
    """The clip in one piece, in this process."""
    renderer = FrameRenderer(clip.cfg, vcfg, clip.styles, clip.controls, clip.first)  # loads the network
    work.open(clip.frames, draw_seed(clip.cfg.seed))
    renderer.seed(work.seed)  # a resumed run keeps the seed it started with
    done = sum(1 for k in range(clip.frames) if work.frame(k).is_file())
    pace = Pace(clip.frames, clip.frames - done, started)
    try:
        return paint_frames(renderer, work, enumerate(clip.read()), clip.hw, pace, callback)
    except (Interrupted, KeyboardInterrupt):
        done = sum(1 for j in range(clip.frames) if work.frame(j).is_file())
        raise VideoInterrupted(done, clip.frames, work.path) from None


def _work_key(input: str | Path, clip: Clip, cfg: StyleConfig, vcfg: VideoConfig, chunked: bool) -> str:
    """A hash of everything that shapes the frames (``cfg`` as given): a work folder of other
    options starts afresh. Chunked runs paint other frames where chunks meet, so their plan is
    part of the key."""
    masks = clip.controls["masks"]
    skip = ("crf", "audio", "chunk_frames", "chunk_overlap")
    key: dict[str, Any] = {
        "config": {k: v for k, v in cfg.to_dict().items() if k not in MACHINE_FIELDS},  # CPU or GPU: the same frames
        "video": {k: v for k, v in vcfg.to_dict().items() if k not in skip},
        "input": describe_input(input), "styles": [describe(s) for s in clip.styles],
        "controls": {"masks": None if masks is None else [describe(m) for m in masks],
                     "coarse": describe(clip.controls["coarse_style"]), "fine": describe(clip.controls["fine_style"])},
        "size": clip.hw, "sources": clip.plan.sources, "rate": str(clip.plan.rate),
    }
    if chunked:  # one process or many: the same frames
        key["chunks"] = [vcfg.chunk_frames, vcfg.overlap]
    return digest(key)
