"""The two methods side by side on one machine, in one run: wall time, peak RSS and eval's measures.

    python benchmarks/methods.py [--size 512] [--threads 2] [--content examples/building.jpg]
        [--style examples/starry_night.jpg] [--sheet docs/img/building_starry_sheet.jpg]

Paints the pair with ``--method nnst`` (the default) and ``--method gatys`` through the CLI
(``--seed 1``), each as a child process timed from start to exit (network loading included), then
measures both with ``painterly eval``. ``--sheet`` also writes the default's content | style |
result sheet (README's headline picture). Numbers: docs/performance.md.
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from common import PY, comparison_parser, timed

from painterly.quality import Evaluator, table

METHODS = ("nnst", "gatys")


def main() -> None:
    ap = comparison_parser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sheet", help="also write the default's content | style | result sheet here")
    args = ap.parse_args()
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in METHODS:
            out = os.path.join(tmp, f"{method}.png")
            extra = ["--sheet", args.sheet] if args.sheet and method == METHODS[0] else []
            run = timed([PY, "-m", "painterly", args.content, args.style, "-o", out, "--size", str(args.size),
                         "--seed", "1", "--quiet", "--threads", str(args.threads), "--method", method, *extra])
            if run.returncode != 0:
                sys.exit(f"methods.py: --method {method} failed: {run.stdout.strip()}")
            print(f"--method {method}: {run.seconds:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB", flush=True)
            reports.append((out, f"{method} ({run.seconds:.0f} s)"))
        ev = Evaluator(args.content, args.style, size=args.size)
        print(table([ev(path, name) for path, name in reports]))


if __name__ == "__main__":
    main()
