"""Do the seams show where a clip's chunks meet? The numbers behind docs/video.md's "Seams".

    taskset -c 0 python benchmarks/video_chunks.py [--sizes 64 128] [--start 7.3] [--duration 4]
        [--chunk-frames 48] [--chunk-overlap 12] [--iterations 20] [--frame-iterations N]
        [--video ../shared/images/Megamind.avi] [--eval-every 4] [--threads 1]

For each size the clip is painted twice with the defaults (seed 1, *The Starry Night*): in one
piece, and in chunks (``workers=1``: the chunks one after another in this process, painted exactly
as workers paint them). On the 8-bit input frames the workers see, the warping error
(``painterly.video.temporal.warping_error``) of every pair of consecutive frames is split into the
pairs where two chunks meet (``painterly.video.chunks.seam_pairs``: each fade and the step into the
later chunk's own frames) and the pairs inside chunks. The target: boundary / inside at most 1.5.
The same split of the one-piece run says how much of that is the clip (motion where the chunks
happen to meet) rather than the seam; "excess" is the chunked ratio over the one-piece ratio
(1: the chunks add nothing where they meet). Also printed: both
runs' seconds, and ``painterly eval``'s swd of both on every 4th frame (are the chunks as stylised).
A table and JSON lines.

The clip is OpenCV's sample ``Megamind.avi`` (samples/data in github.com/opencv/opencv, or Debian's
opencv-doc package), which this repository does not copy: by default it is read from a folder
``shared/images`` beside the repository (``--video`` takes another path); without it the script
says so in one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from statistics import mean

import torch

from painterly import StyleConfig, load_image
from painterly.quality import Evaluator
from painterly.video import VideoConfig, stylize_video, work_folder_for
from painterly.video.chunks import as_tensor, plan_chunks, seam_pairs
from painterly.video.io import plan_frames, probe, read_frames
from painterly.video.parallel import as_bytes
from painterly.video.temporal import warping_error

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MEGAMIND, MEGAMIND_SOURCE, require  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def painted(args: argparse.Namespace, cfg: StyleConfig, vcfg: VideoConfig, out: Path, workers: int | None):
    """One run: the result and its kept frames."""
    result = stylize_video(args.video, [args.style], out, cfg, vcfg, keep_frames=True, workers=workers)
    folder = work_folder_for(result.output)
    return result, [load_image(folder / f"frame_{k:06d}.png").rgb for k in range(result.frames)]


def measure(args: argparse.Namespace, size: int, tmp: Path) -> dict[str, object]:
    cfg = StyleConfig(size=size, seed=1, iterations=args.iterations)
    vcfg = VideoConfig(start=args.start, duration=args.duration, frame_iterations=args.frame_iterations,
                       chunk_frames=args.chunk_frames, chunk_overlap=args.chunk_overlap)
    whole, whole_outs = painted(args, cfg, vcfg, tmp / f"whole{size}.mp4", None)
    chunked, chunk_outs = painted(args, cfg, vcfg, tmp / f"chunks{size}.mp4", 1)
    info = probe(args.video)
    frames = [as_tensor(as_bytes(f)) for f in read_frames(info, plan_frames(info, args.start, args.duration), chunked.size)]
    chunks = plan_chunks(len(frames), set(chunked.shots), args.chunk_frames, vcfg.overlap)
    seams, cuts = seam_pairs(chunks), set(chunked.shots)
    # Each pair's warping error, chunked and in one piece (a cut's pair is no seam and no inside).
    pairs = {k: [warping_error(o[k - 1], o[k], frames[k - 1], frames[k]) for o in (chunk_outs, whole_outs)]
             for k in range(1, len(frames)) if k not in cuts}

    def errors(run: int, boundary: bool) -> list[float]:
        return [e[run] for k, e in pairs.items() if (k in seams) == boundary]

    b, i, b_whole, i_whole = errors(0, True), errors(0, False), errors(1, True), errors(1, False)
    if not b:
        raise SystemExit(f"video_chunks.py: no two chunks of a shot meet in these {len(frames)} frames (shots start at "
                         f"{chunked.shots}); paint a longer part of the clip or use smaller --chunk-frames")
    evaluator = Evaluator(frames[0], args.style)  # swd does not depend on the content
    sampled = range(0, len(frames), args.eval_every)
    return {"size": size, "hw": list(chunked.size), "frames": len(frames), "shots": chunked.shots,
            "overlap": vcfg.overlap,
            "chunks": [[c.first, c.start, c.end] for c in chunks], "boundary_pairs": len(b), "inside_pairs": len(i),
            "boundary": mean(b), "boundary_max": max(b), "inside": mean(i), "inside_max": max(i),
            "ratio": round(mean(b) / mean(i), 3), "whole_same_pairs": mean(b_whole), "whole_inside": mean(i_whole),
            "whole_ratio": round(mean(b_whole) / mean(i_whole), 3),
            "excess": round(mean(b) / mean(i) / (mean(b_whole) / mean(i_whole)), 3),
            "pairs": pairs,
            "seconds_whole": round(whole.seconds, 1), "seconds_chunks": round(chunked.seconds, 1),
            "swd_whole": round(mean(evaluator(whole_outs[k]).swd for k in sampled), 4),
            "swd_chunks": round(mean(evaluator(chunk_outs[k]).swd for k in sampled), 4)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", default=MEGAMIND)
    p.add_argument("--style", default=str(ROOT / "examples" / "starry_night.jpg"))
    p.add_argument("--start", type=float, default=7.3)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    p.add_argument("--iterations", type=int, default=StyleConfig().iterations)
    p.add_argument("--frame-iterations", type=int, default=None)
    p.add_argument("--chunk-frames", type=int, default=VideoConfig().chunk_frames)
    p.add_argument("--chunk-overlap", type=int, default=None, help="default: half of --chunk-frames")
    p.add_argument("--eval-every", type=int, default=4, help="swd on every Nth frame (each costs a network pass)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    require(args.video, "video_chunks.py", MEGAMIND_SOURCE)
    torch.set_num_threads(args.threads)
    print("| size | frames (shots) | chunks, overlap | boundary (max) | inside (max) | boundary / inside | "
          "one piece: boundary / inside | excess | swd one piece / chunks | seconds one piece / chunks |\n|"
          + " --- |" * 10, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            r = measure(args, size, Path(tmp))
            print(f"| {r['hw'][1]}x{r['hw'][0]} | {r['frames']} ({len(r['shots'])}) | {args.chunk_frames}, "
                  f"{r['overlap']} | {r['boundary']:.2e} ({r['boundary_max']:.2e}) | {r['inside']:.2e} "
                  f"({r['inside_max']:.2e}) | **{r['ratio']}** | {r['whole_same_pairs']:.2e} / {r['whole_inside']:.2e} = "
                  f"{r['whole_ratio']} | **{r['excess']}** | {r['swd_whole']} / "
                  f"{r['swd_chunks']} | {r['seconds_whole']} / {r['seconds_chunks']} |", flush=True)
            print(json.dumps(r), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
