"""Per-iteration efficiency: seconds per iteration, FLOPs, the machine's conv roofline, peak memory.

    python benchmarks/throughput.py [--sizes 256,512,1024] [--iterations 6] [--json out/throughput.json]

Each size runs in its own process (so its peak RSS is its own; painterly's is taken before the
rooflines run in the same process): painterly's single-scale loop
(L-BFGS, default layers) on a square image, and pastiche's step at the same size. FLOPs per
iteration are counted from the layer shapes: the convolutions up to the deepest layer used,
forward plus the backward pass to the input only (the same count again; no weight
gradients), plus the Gram matrices. Two rooflines are timed in the same process: the best
VGG-shaped 3x3 convolution (256->256 on 64x64), and VGG19's own thirteen convolutions at the
image's size run alone (what those shapes allow; the rest of an iteration is ReLU, pooling,
Gram matrices, losses and the L-BFGS update).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import PY

CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 256),
         (256, 512), (512, 512), (512, 512), (512, 512), (512, 512)]  # up to conv5_1
STRIDE = [1, 1, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8, 16]
GRAMS = [(64, 1), (128, 2), (256, 4), (512, 8), (512, 16)]


def flops_per_iteration(h: int, w: int) -> float:
    conv = sum(2 * ci * co * 9 * (h // s) * (w // s) for (ci, co), s in zip(CONVS, STRIDE))
    gram = sum(2 * c * c * (h // s) * (w // s) for c, s in GRAMS)
    return 2 * conv + 2 * gram  # forward + backward to the input


def conv_roofline(seconds: float = 2.0) -> float:
    """GFLOP/s of a 256->256 3x3 convolution on a 64x64 map, forward and input-gradient."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).requires_grad_(False)
    x = torch.randn(1, 256, 64, 64, requires_grad=True)
    flop = 2 * 2 * 256 * 256 * 9 * 64 * 64
    for _ in range(3):
        conv(x).sum().backward()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        conv(x).sum().backward()
        n += 1
    return n * flop / (time.perf_counter() - start) / 1e9


def vgg_conv_stack(size: int, reps: int = 3) -> float:
    """GFLOP/s of VGG19's own convolutions (to conv5_1) at this image size, timed alone.

    Each layer runs forward and its input-gradient on its real shape, with nothing between
    them: the throughput these shapes allow on this machine (the first layers' few input
    channels and large maps run well below the best shape's rate).
    """
    layers = [(torch.nn.Conv2d(ci, co, 3, padding=1).requires_grad_(False),
               torch.randn(1, ci, -(-size // s), -(-size // s), requires_grad=True))
              for (ci, co), s in zip(CONVS, STRIDE)]
    flop = sum(2 * 2 * ci * co * 9 * x.shape[-2] * x.shape[-1] for (ci, co), (_, x) in zip(CONVS, layers))
    best = float("inf")
    for _ in range(reps + 1):
        start = time.perf_counter()
        for conv, x in layers:
            conv(x).sum().backward()
        best = min(best, time.perf_counter() - start)
    return flop / best / 1e9


def painterly_loop(size: int, iterations: int, compiled: bool = False) -> list[float]:
    """painterly's single-scale L-BFGS loop on random square images (``--method gatys --style-loss gram``, as
    pastiche paints; default layers and weights), optionally through ``--compile``'s wrapper; the start time, then the time of
    each iteration's end."""
    from painterly import allocator, memory
    from painterly.config import StyleConfig
    from painterly.objective import Compiled, Objective, style_targets
    from painterly.optimize import optimize
    from painterly.pipeline import extractor_for

    cfg = StyleConfig(size=size, method="gatys", style_loss="gram")  # pastiche's method and loss
    ex = extractor_for(cfg, torch.device("cpu"))
    # The allocator as the pipeline sets it (malloc keeps freed memory when the plan has room).
    allocator.keep_freed_memory(memory.heap_has_room(memory.plan((size, size), "relu5_1", cfg.lbfgs_history)))
    torch.manual_seed(0)
    content, style = torch.rand(1, 3, size, size), torch.rand(1, 3, size, size)
    obj = Objective(ex, content, style_targets(ex, [style], (size, size), cfg), cfg)
    stamps = [time.perf_counter()]
    optimize(content, Compiled(obj) if compiled else obj, optimizer=cfg.solver, iterations=iterations,
             lr=cfg.lr, tolerance=0, report=lambda *a: stamps.append(time.perf_counter()))
    return stamps


def one_painterly(size: int, iterations: int) -> dict[str, float]:
    import resource

    stamps = painterly_loop(size, iterations)[1:]
    per = (stamps[-1] - stamps[1]) / (len(stamps) - 2)  # skip the first (warm-up) iteration
    # The loop's own peak: the rooflines below run in this process too (with the same allocator).
    loop_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    roof, stack = conv_roofline(), vgg_conv_stack(size)
    flop = flops_per_iteration(size, size)
    return {"s_per_iter": per, "loop_peak_rss_mb": loop_peak, "gflop_per_iter": flop / 1e9, "gflops": flop / per / 1e9,
            "roofline_gflops": roof, "fraction_of_roofline": flop / per / 1e9 / roof,
            "vgg_conv_gflops": stack, "fraction_of_vgg_convs": flop / per / 1e9 / stack}


def one_pastiche(size: int, iterations: int) -> dict[str, float]:
    import tempfile

    from pastiche.pastiche import PasticheArtist
    from PIL import Image
    d = tempfile.mkdtemp()
    for name in ("c", "s"):
        Image.effect_noise((size, size), 64).convert("RGB").save(f"{d}/{name}.png")
    artist = PasticheArtist(f"{d}/c.png", [f"{d}/s.png"], size=size, device="cpu")
    artist.draw()
    start = time.perf_counter()
    for _ in range(iterations - 1):
        artist.draw()
    return {"s_per_iter": (time.perf_counter() - start) / (iterations - 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--one", nargs=2, metavar=("TOOL", "SIZE"), help=argparse.SUPPRESS)
    ap.add_argument("--json", default="out/throughput.json")
    args = ap.parse_args()
    if args.one:
        tool, size = args.one[0], int(args.one[1])
        res = (one_painterly if tool == "painterly" else one_pastiche)(size, args.iterations)
        if torch.cuda.is_available():
            res["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
        print("RESULT " + json.dumps(res))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for tool in ("painterly", "pastiche"):
            start = time.perf_counter()
            proc = subprocess.Popen([PY, __file__, "--one", tool, str(size), "--iterations", str(args.iterations)],
                                    stdout=subprocess.PIPE, text=True)
            out = proc.stdout.read() if proc.stdout else ""
            _, status, usage = os.wait4(proc.pid, 0)
            line = next(line for line in out.splitlines() if line.startswith("RESULT "))
            res = {"peak_rss_mb": usage.ru_maxrss / 1024} | json.loads(line[7:]) | {"tool": tool, "size": size,
                                                                                  "wall": time.perf_counter() - start}
            res["peak_rss_mb"] = res.pop("loop_peak_rss_mb", res["peak_rss_mb"])
            rows.append(res)
            extra = (f"  {res['gflops']:6.0f} GFLOP/s: {100 * res['fraction_of_roofline']:.0f}% of the best conv's "
                     f"{res['roofline_gflops']:.0f}, {100 * res['fraction_of_vgg_convs']:.0f}% of VGG's own convs' "
                     f"{res['vgg_conv_gflops']:.0f}" if tool == "painterly" else "")
            print(f"{size:5d}px {tool:10s} {res['s_per_iter']:7.3f} s/iter  peak RSS {res['peak_rss_mb']:7.0f} MB{extra}",
                  flush=True)
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
