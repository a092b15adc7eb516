"""Temporal consistency of painterly's video mode vs stylising each frame independently.

    nice -n 10 python benchmarks/video_consistency.py [--video ../shared/images/Megamind.avi]
        [--start 9.4] [--frames 14] [--size 128] [--iterations 20] [--json out.json] [--strip docs/img/video_strip.png]

Both runs use the same StyleConfig (size, iterations, weights, seed). "independent" paints
every frame like an image (content init, ``--iterations``); "painterly" is
``painterly.video.stylize_video`` (first frame like an image, later frames from the warped
previous frame with the temporal loss, ``--frame-iterations``).

Measures, on the lossless 8-bit frames (before H.264):

- warping error: for each pair of consecutive frames, the mean squared RGB difference
  (values in [0, 1]) between output t and output t-1 warped onto t by the *input* frames'
  optical flow, over the pixels the forward-backward and appearance checks mark reliable
  (``painterly.video.temporal.warping_error``); averaged over pairs. The same measure of the
  input frames themselves is the floor (what the flow cannot explain).
- style score per frame: mean over relu1_1..relu5_1 of ||G_out - G_style|| / ||G_style||
  (Gram matrices as in painterly.losses; G_style the blended target at the output size).
- content score per frame: ||F_out - F_content|| / ||F_content|| at relu4_2.

Prints a table and a JSON line. Target: painterly's warping error <= half the independent
one, with comparable style scores.

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
import time
from pathlib import Path

import torch

from painterly.config import StyleConfig
from painterly.images import Loaded, load_image, to_pil
from painterly.losses import gram_matrix
from painterly.objective import style_targets
from painterly.pipeline import Painter
from painterly.video import VideoConfig, stylize_video
from painterly.video.io import output_size, plan_frames, probe, read_frames
from painterly.video.temporal import warping_error

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MEGAMIND, MEGAMIND_SOURCE, require  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def scores(painter: Painter, styles: list[torch.Tensor], frame: torch.Tensor, out: torch.Tensor,
           cfg: StyleConfig) -> tuple[float, float]:
    ext = painter.extractor
    hw = tuple(out.shape[-2:])
    target = style_targets(ext, styles, hw, cfg.replace(style_layers=STYLE_LAYERS))  # type: ignore[arg-type]
    with torch.no_grad():
        fo = ext(out.to(painter.device), STYLE_LAYERS + ("relu4_2",))
        fc = ext(frame.to(painter.device), ("relu4_2",))
    style = sum(float((gram_matrix(fo[k]) - target[k]).norm() / target[k].norm()) for k in STYLE_LAYERS)
    content = float((fo["relu4_2"] - fc["relu4_2"]).norm() / fc["relu4_2"].norm())
    return style / len(STYLE_LAYERS), content


def mean_warp_error(frames: list[torch.Tensor], outs: list[torch.Tensor]) -> float:
    errs = [warping_error(outs[i - 1], outs[i], frames[i - 1], frames[i]) for i in range(1, len(outs))]
    return sum(errs) / len(errs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", default=MEGAMIND)
    p.add_argument("--style", default=str(ROOT / "examples" / "starry_night.jpg"))
    p.add_argument("--start", type=float, default=9.4, help="seconds into the video (a shot with motion)")
    p.add_argument("--frames", type=int, default=14)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--frame-iterations", type=int, default=None)
    p.add_argument("--temporal-weight", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--strip", help="write a frame strip (input / independent / painterly) here")
    args = p.parse_args(argv)
    require(args.video, "video_consistency.py", MEGAMIND_SOURCE)
    torch.set_num_threads(args.threads)

    info = probe(args.video)
    start = next(t for t in info.times if t >= args.start - 1e-3)  # exactly on a frame
    duration = (args.frames - 0.5) / float(info.rate)
    fplan = plan_frames(info, start, duration)
    hw = output_size(info, args.size)
    frames = list(read_frames(info, fplan, hw))
    cfg = StyleConfig(size=max(hw), iterations=args.iterations, multiscale=False, seed=args.seed)
    vkw = {k: v for k, v in (("frame_iterations", args.frame_iterations),
                             ("temporal_weight", args.temporal_weight)) if v is not None}
    vcfg = VideoConfig(start=start, duration=duration, **vkw)
    style = load_image(args.style, what="style")
    painter = Painter(cfg)

    t = time.perf_counter()
    independent = []
    for f in frames:
        img = painter.paint(Loaded(f), [style]).image
        independent.append(img.clamp(0, 1).mul(255).round().div(255))
    t_ind = time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        t = time.perf_counter()
        result = stylize_video(args.video, [style], out, cfg, vcfg, keep_frames=True)
        t_vid = time.perf_counter() - t
        folder = Path(str(out) + ".frames")
        video = [load_image(folder / f"frame_{k:06d}.png").rgb for k in range(result.frames)]

    assert len(video) == len(frames) == len(independent)
    rows = {}
    for name, outs, secs in (("independent", independent, t_ind), ("painterly", video, t_vid)):
        sc = [scores(painter, [style.rgb], f, o, cfg) for f, o in zip(frames, outs)]
        rows[name] = {
            "warping_error": mean_warp_error(frames, outs),
            "style_score": sum(s for s, _ in sc) / len(sc),
            "style_score_max": max(s for s, _ in sc),
            "content_score": sum(c for _, c in sc) / len(sc),
            "seconds": round(secs, 1),
        }
    floor = mean_warp_error(frames, frames)
    ratio = rows["painterly"]["warping_error"] / rows["independent"]["warping_error"]
    record = {
        "video": args.video, "start": args.start, "frames": len(frames), "size": list(hw),
        "iterations": args.iterations, "frame_iterations": vcfg.iterations_after_first(cfg),
        "temporal_weight": vcfg.temporal_weight, "seed": args.seed, "shots": result.shots,
        "input_warping_error": floor, "ratio": ratio, **rows,
    }
    print(f"{len(frames)} frames of {Path(args.video).name} from {args.start} s at {hw[1]}x{hw[0]}, "
          f"{args.iterations} iterations (later video frames {record['frame_iterations']}), "
          f"temporal weight {vcfg.temporal_weight:g}")
    print(f"{'':12} {'warp error':>11} {'style score':>12} {'(worst)':>8} {'content':>8} {'seconds':>8}")
    for name, r in rows.items():
        print(f"{name:12} {r['warping_error']:11.5f} {r['style_score']:12.3f} {r['style_score_max']:8.3f} "
              f"{r['content_score']:8.3f} {r['seconds']:8.1f}")
    print(f"{'input':12} {floor:11.5f}")
    print(f"painterly / independent warping error: {ratio:.2f} (target <= 0.5)")
    print(json.dumps(record))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    if args.strip:
        strip(frames, independent, video, Path(args.strip))
    return 0


def strip(frames: list[torch.Tensor], independent: list[torch.Tensor], video: list[torch.Tensor], path: Path,
          n: int = 4, height: int = 160) -> None:
    """Rows input / independent / painterly of ``n`` consecutive frames from the middle, labelled."""
    from PIL import Image

    from painterly.sheet import contact_sheet

    mid = max(0, len(frames) // 2 - n // 2)
    picks = range(mid, min(len(frames), mid + n))
    panels = []
    for label, seq in (("input", frames), ("independent", independent), ("painterly", video)):
        panels += [(f"{label} t={k}", to_pil(seq[k])) for k in picks]
    sheet = contact_sheet(panels, height=height, columns=len(picks))
    # 256 dithered colours keep the PNG small enough for the docs (< 300 KB).
    sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)


if __name__ == "__main__":
    sys.exit(main())
