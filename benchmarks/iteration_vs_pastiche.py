"""Seconds per iteration and peak memory, painterly vs pastiche, same images, size and count.

    python benchmarks/iteration_vs_pastiche.py [--size 512] [--steps 10,30]

Each tool's command line runs twice, with the two iteration counts; the difference of the wall
times over the difference of the counts is the time per iteration without start-up. painterly
runs single-scale L-BFGS (``--no-multiscale``, early stop off) so both do the same work per
iteration: VGG19 to relu5_1, five Gram losses, one content loss. Peak RSS is the child's.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from common import PY, comparison_parser, timed


def main() -> None:
    ap = comparison_parser()
    ap.add_argument("--steps", default="10,30")
    ap.add_argument("--json", default="out/iteration_vs_pastiche.json")
    args = ap.parse_args()
    n1, n2 = (int(s) for s in args.steps.split(","))
    work = tempfile.mkdtemp(prefix="iter_")

    def painterly(n: int) -> list[str]:
        return [PY, "-m", "painterly", args.content, args.style, "-o", f"{work}/p{n}.png", "--size", str(args.size),
                "--no-multiscale", "--iterations", str(n), "--tolerance", "0", "--quiet", "--seed", "0"]

    def pastiche(n: int) -> list[str]:
        return [PY, "-m", "pastiche", "--content", args.content, "--styles", args.style, "--output",
                f"{work}/q{n}.png", "--size", str(args.size), "--num-steps", str(n), "--seed", "0",
                "--device", "cpu", "--no-verbose"]

    rows = {}
    for name, cmd in (("painterly", painterly), ("pastiche", pastiche)):
        a, b = timed(cmd(n1)), timed(cmd(n2))
        assert a.returncode == 0 and b.returncode == 0, a.stdout + b.stdout
        rows[name] = {"s_per_iter": (b.seconds - a.seconds) / (n2 - n1), "startup_s": a.seconds,
                      "peak_rss_mb": max(a.peak_rss_mb, b.peak_rss_mb)}
        print(f"{name:10s} {rows[name]['s_per_iter']:.3f} s/iteration  peak RSS {rows[name]['peak_rss_mb']:.0f} MB"
              f"  ({n1} iterations: {a.seconds:.1f} s wall)", flush=True)
    ratio = rows["painterly"]["s_per_iter"] / rows["pastiche"]["s_per_iter"]
    print(f"painterly / pastiche time per iteration: {ratio:.2f}")
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"size": args.size, **rows, "ratio": ratio}, f, indent=2)


if __name__ == "__main__":
    main()
