"""What a video frame costs against a still, and what it buys: the numbers behind docs/video.md.

    taskset -c 0 python benchmarks/video_cost.py [--sizes 256 512] [--frames 8 4] [--name after]
        [--before REV] [--strip PNG] [--video ../shared/images/Megamind.avi] [--start 9.4] [--threads 1] [-- FIELD=JSON ...]

For each size, on the same frames of the clip, with the defaults (``StyleConfig(size=...)``,
seed 1):

- **still**: frame 0 painted as an image (``Painter.paint``): its seconds, the unit of cost;
- **independent**: every frame painted as a still (cached in out/bench/video_cost/, since it does
  not depend on the video options);
- **painterly**: ``stylize_video`` over the frames with the ``VideoConfig`` fields given after ``--``
  (``frame_iterations=8 frame_scale=0.5``; the defaults otherwise):
  the first frame's seconds and the mean of the later frames', each as a ratio to the still.

``--before REV`` first runs this same script on the code of git revision REV (checked out in a
temporary worktree, put first on ``PYTHONPATH``), so that one invocation prints before and after
rows measured the same way (``--before 4df1d68``: the video code when the production-size issue
was filed, 10 iterations per later frame from a bilinear warp).

Quality, on the lossless 8-bit frames: the warping error (``painterly.video.temporal.warping_error``,
mean over consecutive pairs) of painterly and of independent, their ratio (the target is at most
0.5), and ``painterly eval``'s measures (swd, color, content; docs/quality.md) averaged over the
frames for both, so that "as stylised as a still" is a number. Prints a table and JSON lines.

The clip is OpenCV's sample ``Megamind.avi`` (samples/data in github.com/opencv/opencv, or Debian's
opencv-doc package), which this repository does not copy: by default it is read from a folder
``shared/images`` beside the repository (``--video`` takes another path); without it the script
says so in one line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import painterly
from painterly import Painter, StyleConfig, load_image
from painterly.images import Loaded
from painterly.quality import Evaluator
from painterly.video import VideoConfig, stylize_video
from painterly.video.io import output_size, plan_frames, probe, read_frames
from painterly.video.temporal import warping_error

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MEGAMIND, MEGAMIND_SOURCE, require  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "out" / "bench" / "video_cost"


def clip(video: str, start: float, count: int, size: int) -> tuple[list[torch.Tensor], float, float]:
    info = probe(video)
    first = next(t for t in info.times if t >= start - 1e-3)  # exactly on a frame
    duration = (count - 0.5) / float(info.rate)
    frames = list(read_frames(info, plan_frames(info, first, duration), output_size(info, size)))
    return frames, first, duration


def independent(frames: list[torch.Tensor], style: Loaded, cfg: StyleConfig, key: str) -> tuple[list[torch.Tensor], float]:
    """Every frame painted as a still, and the first one's seconds (cached: they do not change)."""
    path = CACHE / f"independent-{key}.pt"
    if path.is_file():
        saved = torch.load(path)
        return saved["outs"], saved["still"]
    painter, outs, still = Painter(cfg), [], 0.0
    for i, f in enumerate(frames):
        t = time.perf_counter()
        outs.append(painter.paint(Loaded(f), [style]).image)
        if i == 0:
            still = time.perf_counter() - t
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save({"outs": outs, "still": still}, path)
    return outs, still


def painterly_run(video: str, style: str, cfg: StyleConfig,
                  vcfg: VideoConfig) -> tuple[list[torch.Tensor], list[float], list[bool]]:
    """The clip through stylize_video: its frames, each frame's seconds, and which start a shot."""
    outs: list[torch.Tensor] = []
    seconds: list[float] = []
    starts: list[bool] = []
    last = time.perf_counter()

    def on_step(step) -> None:  # type: ignore[no-untyped-def]
        nonlocal last
        if step.finished and step.image is not None:
            now = time.perf_counter()
            seconds.append(now - last)
            starts.append(step.shot_start)
            last = now
            outs.append(step.image)

    with tempfile.TemporaryDirectory() as tmp:
        last = time.perf_counter()
        stylize_video(video, [style], Path(tmp) / "out.mp4", cfg, vcfg, callback=on_step)
    return outs, seconds, starts


def quality(frames: list[torch.Tensor], outs: list[torch.Tensor], style: Loaded) -> dict[str, float]:
    warp = [warping_error(outs[i - 1], outs[i], frames[i - 1], frames[i]) for i in range(1, len(outs))]
    reports = [Evaluator(f, style.rgb)(o) for f, o in zip(frames, outs)]
    return {"warp": sum(warp) / len(warp), **{m: sum(getattr(r, m) for r in reports) / len(reports)
                                              for m in ("swd", "color", "content")}}


def measure(args: argparse.Namespace, size: int, count: int,
            vargs: list[str]) -> tuple[dict[str, object], list[list[torch.Tensor]]]:
    """The row for one size, and the frames: input, independent, painterly."""
    frames, start, duration = clip(args.video, args.start, count, size)
    cfg = StyleConfig(size=size, seed=1)
    style = load_image(args.style, what="style")
    key = hashlib.sha256(json.dumps([args.video, start, count, size, args.style, cfg.to_dict()]).encode()).hexdigest()[:12]
    ind, still = independent(frames, style, cfg, key)
    vcfg = VideoConfig.from_dict({k: json.loads(v) for k, v in (a.split("=", 1) for a in vargs)})
    vcfg = vcfg.replace(start=start, duration=duration)
    outs, seconds, starts = painterly_run(args.video, args.style, cfg, vcfg)
    later = [s for s, first in zip(seconds, starts) if not first]  # a cut's first frame is painted as a still
    q_p, q_i = quality(frames, outs, style), quality(frames, ind, style)
    return {"name": args.name, "size": size, "frames": len(frames), "shots": sum(starts), "still_s": round(still, 2),
            "first_s": round(seconds[0], 2), "first_over_still": round(seconds[0] / still, 3),
            "later_s": round(sum(later) / len(later), 2),
            "later_over_still": round(sum(later) / len(later) / still, 3),
            "warp": q_p["warp"], "warp_independent": q_i["warp"], "warp_ratio": round(q_p["warp"] / q_i["warp"], 3),
            **{f"{m}": round(q_p[m], 4) for m in ("swd", "color", "content")},
            **{f"{m}_independent": round(q_i[m], 4) for m in ("swd", "color", "content")},
            "video_options": vargs}, [frames, ind, outs]


def run_before(rev: str, argv: list[str]) -> None:
    """This script, with the same arguments, on the code of git revision ``rev`` (its rows, no header)."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--quiet", "--detach", str(tree), rev], check=True)
        try:
            env = {**os.environ, "PYTHONPATH": str(tree / "src"), "VIDEO_COST_EXPECT": str(tree / "src")}
            subprocess.run([sys.executable, __file__, "--name", f"before ({rev})", "--no-header", *argv],
                           env=env, check=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    vargs = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    expected = os.environ.get("VIDEO_COST_EXPECT")
    if expected and not Path(painterly.__file__).is_relative_to(expected):
        raise SystemExit(f"video_cost.py: painterly came from {painterly.__file__}, not from {expected}")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", default=MEGAMIND)
    p.add_argument("--style", default=str(ROOT / "examples" / "starry_night.jpg"))
    p.add_argument("--start", type=float, default=9.4)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--frames", type=int, nargs="+", default=[8, 4], help="frames per size")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--name", default="run")
    p.add_argument("--before", metavar="REV", help="first measure the code at git revision REV the same way")
    p.add_argument("--strip", help="write four frames of the first size (input / independent / painterly) here")
    p.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    require(args.video, "video_cost.py", MEGAMIND_SOURCE)
    torch.set_num_threads(args.threads)
    if not args.no_header:
        print("| run | size | frames | still s | first s (/ still) | later s | later / still | warp | warp indep. | "
              "ratio | swd (indep.) | color (indep.) | content (indep.) |\n|" + " --- |" * 13, flush=True)
    if args.before:
        run_before(args.before, ["--video", args.video, "--style", args.style, "--start", str(args.start),
                                 "--sizes", *map(str, args.sizes), "--frames", *map(str, args.frames),
                                 "--threads", str(args.threads), "--", *vargs])
    for size, count in zip(args.sizes, args.frames):
        r, seqs = measure(args, size, count, vargs)
        if args.strip and size == args.sizes[0]:
            from video_consistency import strip  # beside this script

            strip(*seqs, Path(args.strip), height=min(size, 240))
        print(f"| {r['name']} | {size} | {r['frames']} ({r['shots']} shots) | {r['still_s']} | {r['first_s']} "
              f"({r['first_over_still']}) | {r['later_s']} | "
              f"{r['later_over_still']} | {r['warp']:.5f} | {r['warp_independent']:.5f} | {r['warp_ratio']} | "
              f"{r['swd']} ({r['swd_independent']}) | {r['color']} ({r['color_independent']}) | "
              f"{r['content']} ({r['content_independent']}) |", flush=True)
        print(json.dumps(r), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
