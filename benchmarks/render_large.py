"""A large render (default 3840x2160) with its time and peak memory per scale.

    python benchmarks/render_large.py [--width 3840 --height 2160] [-o out/bench/4k.png] [--max-memory GB]
        [--tile-size PX] [--threads N] [--method nnst|gatys]

The content is centre-cropped to the requested aspect ratio and painted with painterly's
defaults (coarse to fine, the memory plan on, a scale that does not fit ``--max-memory`` painted in
tiles: painterly.tiles). Each scale prints its size, iterations,
seconds, the memory plan's estimate and choice, the process's peak RSS so far and the most of the whole picture
kept in mapped files so far (disk, painterly.spill); the
totals, the options and the tiled scales' tile sizes ("tiles", as the image command records them: what
benchmarks/seams.py measures the seams of) go to a JSON file beside the image.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import EXAMPLES

from painterly import Painter, StyleConfig, load_image, spill
from painterly.config import Method
from painterly.events import Step
from painterly.images import Loaded, save_image
from painterly.scales import memory_plans, scale_schedule


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def crop_to(loaded: Loaded, width: int, height: int) -> Loaded:
    """The largest centre crop with exactly the aspect ratio width:height."""
    g = math.gcd(width, height)
    uw, uh = width // g, height // g
    h, w = loaded.rgb.shape[-2:]
    k = min(w // uw, h // uh)
    if k == 0:
        sys.exit(f"--content: too small for a {width}:{height} crop")
    cw, ch = k * uw, k * uh
    top, left = (h - ch) // 2, (w - cw) // 2
    return Loaded(loaded.rgb[..., top:top + ch, left:left + cw], None, loaded.bit_depth)


def render_config(width: int, height: int, *, iterations: int | None = None, max_memory: float | None = None,
                  tile_size: int | None = None, threads: int | None = None, method: str | None = None) -> StyleConfig:
    """The options a render of width x height paints with (painterly's defaults, seed 0)."""
    return StyleConfig(size=max(width, height), iterations=iterations or StyleConfig().iterations, seed=0,
                       max_memory=max_memory, tile_size=tile_size, threads=threads,
                       method=Method(method) if method else StyleConfig().method)


def planned(cfg: StyleConfig, hw: tuple[int, int],
            source_hw: tuple[int, int] | None = None) -> tuple[list[tuple[tuple[int, int], int]], dict]:
    """The scale schedule of a render of ``hw`` from a photo of ``source_hw`` and each scale's memory plan (tiles
    included)."""
    schedule = scale_schedule(hw, cfg)
    plans = memory_plans(schedule, cfg, tileable=True, source_hw=source_hw)
    assert plans is not None  # on the CPU
    return schedule, plans


def tile_record(plans: dict) -> dict[str, int]:
    """{"WxH": tile px} of each tiled scale: what the image command's sidecar records as "tiles"."""
    return {f"{hw[1]}x{hw[0]}": p.tile for hw, p in plans.items() if p.tile}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--content", default=os.path.join(EXAMPLES, "building.jpg"))
    ap.add_argument("--style", default=os.path.join(EXAMPLES, "starry_night.jpg"))
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--height", type=int, default=2160)
    ap.add_argument("--iterations", type=int, default=StyleConfig().iterations)
    ap.add_argument("--max-memory", type=float, help="GB (default: the memory plan's, 85%% of what is free)")
    ap.add_argument("--tile-size", type=int, help="px (default: the largest tiles that fit)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--method", choices=[m.value for m in Method], help="default: painterly's (nnst)")
    ap.add_argument("-o", "--output", default="out/bench/render_4k.png")
    args = ap.parse_args()
    content = crop_to(load_image(args.content), args.width, args.height)
    cfg = render_config(args.width, args.height, iterations=args.iterations, max_memory=args.max_memory,
                        tile_size=args.tile_size, threads=args.threads, method=args.method)
    schedule, plans = planned(cfg, (args.height, args.width), tuple(content.rgb.shape[-2:]))  # type: ignore[arg-type]
    print(f"content cropped to {content.rgb.shape[-1]}x{content.rgb.shape[-2]}; schedule:", flush=True)
    for hw, n in schedule:
        p = plans[hw]
        tile = f"tiles of {p.tile} px, " if p.tile else ""
        print(f"  {hw[1]}x{hw[0]}: {n} iterations, plan: {tile}checkpoint={p.checkpoint} history={p.lbfgs_history} "
              f"estimate {p.estimate_bytes / 2**30:.1f} GB of {p.budget_bytes / 2**30:.1f}", flush=True)
    rows: list[dict[str, object]] = []
    start = time.perf_counter()
    mark, on_disk = [start], [0.0]  # the most of the whole picture kept in mapped files (painterly.spill) so far

    def on_step(step: Step) -> None:
        if step.iteration == step.iterations:
            now = time.perf_counter()
            on_disk[0] = max(on_disk[0], spill.mapped_bytes() / 2**30)
            row = {"size": f"{step.size[1]}x{step.size[0]}", "iterations": step.iterations,
                   "seconds": round(now - mark[0], 1), "peak_rss_gb": round(peak_rss_gb(), 2),
                   "mapped_gb": round(on_disk[0], 2)}
            mark[0] = now
            rows.append(row)
            print(f"  done {row}", flush=True)

    result = Painter(cfg).paint(content, [load_image(args.style)], callback=on_step)
    total = time.perf_counter() - start
    on_disk[0] = max(on_disk[0], spill.mapped_bytes() / 2**30)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    save_image(result.image, args.output)
    h, w = result.image.shape[-2:]
    summary = {"output": args.output, "size": f"{w}x{h}", "seconds": round(total, 1),
               "peak_rss_gb": round(peak_rss_gb(), 2), "mapped_gb": round(on_disk[0], 2), "iterations": result.iterations,
               "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None, "content": args.content,
               "style": args.style, "max_memory": args.max_memory, "tile_size": args.tile_size,
               "tiles": tile_record(plans), "scales": rows}
    with open(os.path.splitext(args.output)[0] + ".json", "w") as f:
        json.dump(summary, f, indent=2)
    print(f"{w}x{h}: {total:.0f} s, peak RSS {summary['peak_rss_gb']} GB, {result.iterations} iterations", flush=True)


if __name__ == "__main__":
    main()
