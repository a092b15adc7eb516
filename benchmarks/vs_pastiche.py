"""Time to quality: painterly's defaults against pastiche's, side by side, measured by painterly eval.

    python benchmarks/vs_pastiche.py [--size 512] [--pastiche-steps 1000] [--json out/vs_pastiche.json]

Both tools paint the same content/style at the same output size (long edge). Each result is
measured by painterly.quality (docs/quality.md: Gram error, sliced-Wasserstein distance, Lab
colour distance, content error, layout; none of them any tool's own loss). pastiche's
intermediate images (every --checkpoint steps) give its quality over time, so the table shows
how long pastiche needs to reach what painterly reaches, measure by measure.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import PY, comparison_parser, timed

from painterly.quality import Evaluator, table

# Lower is better for these; layout (a correlation) is reported, not compared.
COMPARED = ("gram", "swd", "color", "content")


def main() -> None:
    ap = comparison_parser()
    ap.add_argument("--pastiche-steps", type=int, default=1000)
    ap.add_argument("--checkpoint", type=int, default=100)
    ap.add_argument("--painterly-args", default="", help="extra painterly flags (default: its defaults)")
    ap.add_argument("--json", default="out/vs_pastiche.json")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    work = tempfile.mkdtemp(prefix="vs_pastiche_")
    ev = Evaluator(args.content, args.style, size=args.size)

    p_out = os.path.join(work, "painterly.png")
    p = timed([PY, "-m", "painterly", args.content, args.style, "-o", p_out, "--size", str(args.size),
               "--quiet", "--seed", "0", *args.painterly_args.split()])
    assert p.returncode == 0, p.stdout
    ps = ev(p_out, "painterly")

    q_out = os.path.join(work, "pastiche.png")
    q = timed([PY, "-m", "pastiche", "--content", args.content, "--styles", args.style, "--output", q_out,
               "--size", str(args.size), "--num-steps", str(args.pastiche_steps), "--seed", "0",
               "--info-step", str(args.checkpoint), "--workspace", os.path.join(work, "ws"),
               "--workspace-step", str(args.checkpoint), "--device", "cpu"])
    assert q.returncode == 0, q.stdout
    elapsed = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^(\d+)\s+([\d.]+)\s", q.stdout, re.MULTILINE)}
    curve = []
    for name in sorted(os.listdir(os.path.join(work, "ws"))):
        step = int(name.split(".")[0])
        if step == 0 or step not in elapsed:
            continue
        r = ev(os.path.join(work, "ws", name), f"pastiche step {step}")
        curve.append({"step": step, "seconds": elapsed[step], **r.to_dict()})
    qs = ev(q_out, f"pastiche ({args.pastiche_steps} steps)")
    print(f"painterly: {p.seconds:.1f} s, peak {p.peak_rss_mb:.0f} MB; pastiche: {q.seconds:.1f} s, "
          f"peak {q.peak_rss_mb:.0f} MB; time ratio painterly/pastiche {p.seconds / q.seconds:.3f}\n")
    print(table([ps, qs]))
    print("\npastiche over time:")
    for c in curve:
        print(f"  step {c['step']:5d} {c['seconds']:8.1f} s  " + "  ".join(f"{m} {c[m]:.3f}" for m in COMPARED))
    print()
    for m in COMPARED:
        reached = next((c for c in curve if c[m] <= getattr(ps, m)), None)
        print(f"{m}: painterly {getattr(ps, m):.3f} in {p.seconds:.0f} s; pastiche "
              + (f"reaches it at step {reached['step']} ({reached['seconds']:.0f} s)" if reached
                 else f"does not reach it in {args.pastiche_steps} steps ({getattr(qs, m):.3f})"))
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"size": args.size,
                   "painterly": {"seconds": p.seconds, "peak_rss_mb": p.peak_rss_mb, **ps.to_dict()},
                   "pastiche": {"seconds": q.seconds, "peak_rss_mb": q.peak_rss_mb, **qs.to_dict(), "curve": curve},
                   "ratio": p.seconds / q.seconds, "work": work}, f, indent=2)


if __name__ == "__main__":
    main()
