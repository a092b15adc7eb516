"""The torch.compile lever: seconds per iteration of painterly's objective, eager vs compiled.

    python benchmarks/compile_lever.py [--sizes 256,512] [--iterations 6]

The same single-scale L-BFGS loop as benchmarks/throughput.py (random square images, default
layers and weights), once with the objective as it is and once through ``--compile``'s
wrapper (painterly.objective.Compiled: ``torch.compile``, inductor). Prints the compile
time (the first iteration) and the steady s/iteration of each.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from throughput import painterly_loop


def run(size: int, iterations: int, compiled: bool) -> tuple[float, float]:
    """Seconds of the first iteration (with compiling), and per iteration after the second."""
    stamps = painterly_loop(size, iterations, compiled)
    return stamps[1] - stamps[0], (stamps[-1] - stamps[2]) / (len(stamps) - 3)


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
