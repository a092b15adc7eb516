"""Time to quality: painterly's defaults against pastiche's, side by side, judged neutrally.

    python benchmarks/vs_pastiche.py [--size 512] [--pastiche-steps 1000] [--json out/vs_pastiche.json]

Both tools paint the same content/style at the same output size (long edge). Each result is
scored by painterly.judge (relative Gram error to the style, relative relu4_2 error to the
content; lower is better). pastiche's intermediate images (every --checkpoint steps) give its
quality over time, so the table shows how long pastiche needs to reach what painterly reaches.
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

from painterly.images import load_image
from painterly.judge import score


def main() -> None:
    ap = comparison_parser()
    ap.add_argument("--pastiche-steps", type=int, default=1000)
    ap.add_argument("--checkpoint", type=int, default=100)
    ap.add_argument("--painterly-args", default="", help="extra painterly flags (default: its defaults)")
    ap.add_argument("--json", default="out/vs_pastiche.json")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    work = tempfile.mkdtemp(prefix="vs_pastiche_")
    content, style = load_image(args.content).rgb, load_image(args.style).rgb

    p_out = os.path.join(work, "painterly.png")
    p = timed([PY, "-m", "painterly", args.content, args.style, "-o", p_out, "--size", str(args.size),
               "--quiet", "--seed", "0", *args.painterly_args.split()])
    assert p.returncode == 0, p.stdout
    ps = score(load_image(p_out).rgb, content, style)

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
        s = score(load_image(os.path.join(work, "ws", name)).rgb, content, style)
        curve.append({"step": step, "seconds": elapsed[step], "style": s.style, "content": s.content})
    qs = score(load_image(q_out).rgb, content, style)
    better = ps.style <= qs.style and ps.content <= qs.content
    # The earliest pastiche checkpoint that painterly does not beat on both scores.
    matched = next((c for c in curve if not (ps.style <= c["style"] and ps.content <= c["content"])), None)
    rows = [
        ("painterly (defaults)", p.seconds, p.peak_rss_mb, ps.style, ps.content),
        (f"pastiche ({args.pastiche_steps} steps)", q.seconds, q.peak_rss_mb, qs.style, qs.content),
    ]
    print(f"{'run':28s} {'wall s':>8s} {'peak MB':>8s} {'style err':>10s} {'content err':>12s}")
    for r in rows:
        print(f"{r[0]:28s} {r[1]:8.1f} {r[2]:8.0f} {r[3]:10.4f} {r[4]:12.4f}")
    print("\npastiche over time:")
    for c in curve:
        print(f"  step {c['step']:5d} {c['seconds']:8.1f} s  style {c['style']:.4f}  content {c['content']:.4f}")
    print(f"\ntime ratio painterly/pastiche: {p.seconds / q.seconds:.3f}; "
          f"painterly at least as good on both scores: {better}")
    if matched:
        print(f"pastiche first matches or passes painterly on some score at step {matched['step']} "
              f"({matched['seconds']:.1f} s)")
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"size": args.size, "painterly": {"seconds": p.seconds, "peak_rss_mb": p.peak_rss_mb,
                                                    "style": ps.style, "content": ps.content},
                   "pastiche": {"seconds": q.seconds, "peak_rss_mb": q.peak_rss_mb, "style": qs.style,
                                "content": qs.content, "curve": curve},
                   "ratio": p.seconds / q.seconds, "painterly_at_least_as_good": better, "work": work}, f, indent=2)


if __name__ == "__main__":
    main()
