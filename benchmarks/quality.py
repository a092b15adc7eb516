"""Quality against the classic results: painterly's settings side by side with jcjohnson/neural-style.

    python benchmarks/quality.py --name default                      # painterly's defaults
    python benchmarks/quality.py --name swd -- --style-loss swd -n 20  # any painterly flags after --
    python benchmarks/quality.py --name default --sheets out/quality   # also content | style | classic | ours

For each classic pair in ../shared/classics (its README lists them: the photos, the paintings
and neural-style's published 512 px results), paints the pair with the given flags at 512 px
(``--seed 1``; an existing result under out/quality/NAME/ is reused unless --again), times it
(wall seconds and peak RSS of the CLI), and measures the result and the classic one with
``painterly eval`` (docs/quality.md). Prints a table per pair and the per-measure wins of the
settings over the classic results; ``--json`` keeps every row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import PY, timed

from painterly.quality import Evaluator, table

CLASSICS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "classics")
# (photo, painting, neural-style's result), as in ../shared/classics/README.md
PAIRS = [("tubingen", "starry_night", "tubingen_starry"), ("tubingen", "the_scream", "tubingen_scream"),
         ("tubingen", "shipwreck", "tubingen_shipwreck"), ("golden_gate", "the_scream", "golden_gate_scream")]
# Lower is better for every measure but layout; layout_style (the painting's composition) is not a goal.
BETTER_LOW = ("gram", "swd", "color", "color_rel", "content")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="default", help="folder name under out/quality for these settings")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--again", action="store_true", help="repaint even if a result exists")
    ap.add_argument("--sheets", metavar="DIR", help="write content | style | classic | result sheets here")
    ap.add_argument("--json", default=None, help="default out/quality/NAME/eval.jsonl")
    ap.add_argument("flags", nargs="*", help="painterly flags (after --)")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    folder = os.path.join("out", "quality", args.name)
    os.makedirs(folder, exist_ok=True)
    rows: list[dict[str, object]] = []
    wins = {m: 0 for m in BETTER_LOW}
    for photo, painting, classic in PAIRS:
        content = os.path.join(CLASSICS, f"{photo}.jpg")
        style = os.path.join(CLASSICS, f"{painting}.jpg")
        ours = os.path.join(folder, f"{photo}_{painting}.png")
        timing: dict[str, float] = {}
        if args.again or not os.path.exists(ours):
            run = timed([PY, "-m", "painterly", content, style, "-o", ours, "--size", str(args.size),
                         "--seed", "1", "--quiet", *args.flags])
            assert run.returncode == 0, run.stdout
            timing = {"seconds": round(run.seconds, 1), "peak_rss_mb": round(run.peak_rss_mb)}
        ev = Evaluator(content, style, size=args.size)
        reports = [ev(os.path.join(CLASSICS, f"{classic}.png"), "classic"), ev(ours, args.name)]
        print(f"\n{photo} x {painting}" + (f"  ({timing['seconds']} s, {timing['peak_rss_mb']} MB)" if timing else ""))
        print(table(reports))
        for m in BETTER_LOW:
            wins[m] += getattr(reports[1], m) <= getattr(reports[0], m)
        for r in reports:
            rows.append({"pair": f"{photo}_{painting}", **r.to_dict(), **(timing if r is reports[1] else {})})
        if args.sheets:
            from PIL import Image

            from painterly.sheet import contact_sheet

            os.makedirs(args.sheets, exist_ok=True)
            panels = [(label, Image.open(p).convert("RGB")) for label, p in
                      (("photo", content), ("painting", style),
                       ("neural-style", os.path.join(CLASSICS, f"{classic}.png")), (f"painterly {args.name}", ours))]
            contact_sheet(panels).save(os.path.join(args.sheets, f"{photo}_{painting}.png"))
    print(f"\n{args.name} at least as good as the classic result, pairs of {len(PAIRS)}: "
          + ", ".join(f"{m} {wins[m]}" for m in BETTER_LOW))
    with open(args.json or os.path.join(folder, "eval.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
