"""The torch.compile lever: seconds per iteration of painterly's objective, eager vs compiled.

    python benchmarks/compile_lever.py [--sizes 256,512] [--iterations 6]

The same single-scale L-BFGS loop as benchmarks/throughput.py (random square images, default
layers and weights), once with the objective as it is and once wrapped in ``torch.compile``
(inductor). Prints the compile time (the first iteration) and the steady s/iteration of each.
"""

from __future__ import annotations

import argparse
import time

import torch

from painterly.config import StyleConfig
from painterly.objective import Objective, style_grams
from painterly.optimize import optimize
from painterly.pipeline import extractor_for


def run(size: int, iterations: int, compiled: bool) -> tuple[float, float]:
    cfg = StyleConfig(size=size)
    ex = extractor_for(cfg, torch.device("cpu"))
    torch.manual_seed(0)
    content, style = torch.rand(1, 3, size, size), torch.rand(1, 3, size, size)
    obj = Objective(ex, content, style_grams(ex, [style], (size, size), cfg), cfg)
    fn = torch.compile(obj) if compiled else obj
    stamps = [time.perf_counter()]
    optimize(content, fn, optimizer=cfg.optimizer, iterations=iterations, lr=cfg.lr, tolerance=0,
             report=lambda *a: stamps.append(time.perf_counter()))
    first = stamps[1] - stamps[0]
    steady = (stamps[-1] - stamps[2]) / (len(stamps) - 3)  # skip the first two (warm-up, recompile)
    return first, steady


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--iterations", type=int, default=6)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for size in (int(s) for s in args.sizes.split(",")):
        e_first, eager = run(size, args.iterations, False)
        c_first, comp = run(size, args.iterations, True)
        print(f"{size:5d}px  eager {eager:.3f} s/iter   compiled {comp:.3f} s/iter (first iteration "
              f"{c_first:.0f} s, eager {e_first:.1f} s)   compiled/eager {comp / eager:.2f}", flush=True)


if __name__ == "__main__":
    main()
