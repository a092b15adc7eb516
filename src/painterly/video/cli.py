"""``painterly video IN STYLE [STYLE ...] -o OUT.mp4``: the command line around :mod:`painterly.video`.

Exit codes as for images: 0 done, 1 failure (also: the ``--scheduler`` cannot be used, or a
worker failed), 2 usage error or unreadable input, 130 interrupted (finished frames are kept;
the same command resumes).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING

from ..cli.guard import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, Parser, UsageError, command
from ..cli.options import add_control_options, add_style_options, config_from_args, controls_from_args
from ..meta import describe_input, provenance, write_sidecar

if TYPE_CHECKING:
    from .progress import FrameStep

_VIDEO_FLAGS = ("start", "duration", "fps", "temporal_weight", "frame_iterations", "scene_cut", "crf")
_CHUNK_FLAGS = ("chunk_frames", "chunk_overlap")


def _seconds(text: str) -> float:
    """Seconds as ``12.5``, ``1:02.5`` or ``1:00:02``."""
    try:
        value = 0.0
        for part in text.split(":"):
            value = value * 60 + float(part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds such as 12.5 or 1:02.5, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite time, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .config import VideoConfig

    d = VideoConfig()
    p = Parser(
        prog="painterly video",
        description="Paint every frame of a video in the style of an artwork, without flicker: each frame "
        "starts from the previous one warped by optical flow and is kept close to it where the flow is "
        "reliable (Ruder et al. 2016). Audio is copied unchanged. Interrupted runs resume.",
    )
    p.add_argument("input", help="the video to paint (anything FFmpeg reads: .mp4, .mov, .mkv, .avi, ...)")
    p.add_argument("styles", nargs="+", metavar="style", help="one or more style images")
    g = p.add_argument_group("video")
    g.add_argument("-o", "--output", required=True, metavar="OUT", help="result video (.mp4, .mov, .mkv; H.264)")
    g.add_argument("--start", type=_seconds, metavar="T", help="start this many seconds in (default 0)")
    g.add_argument("--duration", type=_seconds, metavar="T", help="paint this many seconds (default: to the end)")
    g.add_argument("--fps", type=float, metavar="F", help="output frame rate (default: the input's)")
    g.add_argument("--temporal-weight", type=float, metavar="W",
                   help=f"how strongly each frame sticks to the previous one (default {d.temporal_weight:g}; 0: "
                   "only the warm start)")
    g.add_argument("--frame-iterations", type=int, metavar="N",
                   help="iterations of each frame after a shot's first (default: 0.15 of --iterations, 3 of 20)")
    g.add_argument("--scene-cut", type=float, metavar="FRACTION",
                   help=f"start afresh when less than this part of a frame follows from the last (default "
                   f"{d.scene_cut:g})")
    g.add_argument("--crf", type=int, metavar="N", help=f"H.264 quality, 0 (lossless) to 51 (default {d.crf})")
    g.add_argument("--no-audio", action="store_true", help="leave the sound out")
    g.add_argument("--keep-frames", action="store_true", help="keep the painted frames (OUT.frames/) after encoding")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    # In chunks, at once (docs/video.md, "A clip over many workers"):
    g.add_argument("--workers", type=int, metavar="N",
                   help="paint chunks of the clip in N local processes at once (1: one after another, here)")
    g.add_argument("--scheduler", metavar="tcp://HOST:8786",
                   help="paint the chunks on this Dask scheduler's workers instead (they write into OUT.frames/ "
                        "when they share its file system)")
    g.add_argument("--chunk-frames", type=int, metavar="N",
                   help=f"with --workers/--scheduler: split shots longer than this (default {d.chunk_frames})")
    g.add_argument("--chunk-overlap", type=int, metavar="N",
                   help="frames over which one chunk fades into the next (default: half of --chunk-frames)")
    add_style_options(p)
    add_control_options(p)
    return p


def video_config_from_args(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .config import VideoConfig

    values = {k: getattr(args, k) for k in _VIDEO_FLAGS + _CHUNK_FLAGS if getattr(args, k, None) is not None}
    if args.no_audio:
        values["audio"] = False
    return VideoConfig(**values)


def _check_chunking(args: argparse.Namespace) -> None:
    from ..pools import check_workers

    check_workers(args.workers, args.scheduler, "chunks")
    given = [f"--{k.replace('_', '-')}" for k in _CHUNK_FLAGS if getattr(args, k) is not None]
    if given and args.workers is None and args.scheduler is None:
        raise UsageError(f"painterly video: {given[0]} splits the clip for --workers N or --scheduler ADDRESS; "
                         "without them the clip is painted in one piece")


def _chunking(args: argparse.Namespace, retried: list[int]) -> dict[str, object]:
    """What the sidecar records of a chunked run (nothing for a run in one piece)."""
    if args.workers is None and args.scheduler is None:
        return {}
    return {"chunked": {"workers": args.workers, "scheduler": args.scheduler, "retried": retried}}


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def describe_step(step: FrameStep) -> tuple[float, str]:
    """(frames done, counting the one in progress in part; what to show) for the progress bar."""
    if step.resumed:
        return step.done, f"frame {step.frame + 1}/{step.frames} kept from the last run"
    part = step.iteration / step.iterations if step.iterations and not step.finished else 0.0
    kind = ("first of shot" if step.shot_start else f"{step.reliable:.0%} tracked" if math.isfinite(step.reliable)
            else "painted")
    loss = f"  loss {step.loss:.4g}" if math.isfinite(step.loss) else ""
    pace = (f"{step.seconds_per_frame:.3g} s/frame, eta {_clock(step.eta)}" if math.isfinite(step.eta)
            else "timing the first frame")
    return step.done + part, f"frame {step.frame + 1}/{step.frames} ({kind}){loss}  {pace}"


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    vcfg = video_config_from_args(args)
    controls = controls_from_args(args)
    _check_chunking(args)
    from ..cli.progress import ProgressBar  # heavy imports only once the command line is valid
    from ..pools import PoolError
    from .progress import VideoInterrupted
    from .render import stylize_video

    with ProgressBar("frames", enabled=not args.quiet, eta=False) as bar:
        def callback(step: FrameStep) -> None:
            done, info = describe_step(step)
            bar.advance(done, step.frames, info)  # type: ignore[arg-type]  # rich takes fractions

        try:
            result = stylize_video(args.input, args.styles, args.output, cfg, vcfg, callback=callback,
                                   keep_frames=args.keep_frames, workers=args.workers, scheduler=args.scheduler,
                                   **controls)
        except VideoInterrupted as e:
            bar.close()
            print(f"painterly: interrupted; {e.done} of {e.frames} frames are kept in {e.folder}; "
                  "run the same command again to resume", file=sys.stderr)
            return EXIT_INTERRUPTED
        except PoolError as e:
            bar.close()
            print(f"painterly: error: {e}", file=sys.stderr)
            return EXIT_FAILURE
    inputs = {"video": describe_input(args.input), "styles": [describe_input(s) for s in args.styles]}
    write_sidecar(result.output, provenance(
        result.config, inputs, video=result.video.to_dict(), frames=result.frames, rate=result.rate,
        size=list(result.size), shots=result.shots, painted=result.painted, resumed=result.resumed,
        seconds=round(result.seconds, 2), **_chunking(args, result.retried)))
    if not args.quiet:
        print(f"painterly: wrote {result.output} ({result.frames} frames, {result.size[1]}x{result.size[0]} at "
              f"{result.rate} fps; {result.painted} painted, {result.resumed} resumed; {result.seconds:.1f} s, "
              f"seed {result.config.seed})", file=sys.stderr)
    return EXIT_OK


main = command(_run)
