"""Quality against the classic results: painterly's settings side by side with jcjohnson/neural-style.

    python benchmarks/quality.py --name default                      # painterly's defaults
    python benchmarks/quality.py --name gatys -- --method gatys      # any painterly flags after --
    python benchmarks/quality.py --name default --sheets out/quality   # also content | style | classic | ours
    python benchmarks/quality.py --name default --beside gatys --overview docs/img/quality-defaults.jpg

The pairs are the classic pairs of jcjohnson/neural-style and a portrait style with no classic
result, kept in a folder ``classics`` beside this repository's (``../shared/classics``: the Tübingen
and Golden Gate photos, *The Starry Night*, *The Scream*, *The Shipwreck of the Minotaur*, Frida
Kahlo's *Self-Portrait with Thorn Necklace and Hummingbird*, and neural-style's published results,
which this repository does not copy; get them from jcjohnson/neural-style's ``examples/`` and
Wikimedia Commons). For each pair, paints it with the given flags at 512 px
(``--seed 1``; an existing result under out/quality/NAME/ is reused unless --again), times it
(wall seconds and peak RSS of the CLI), and measures the result and the classic one with
``painterly eval`` (docs/quality.md). Prints a table per pair and the per-measure wins of the
settings over the classic results; ``--json`` keeps every row. ``--beside NAME`` adds the results an
earlier run kept under out/quality/NAME/ to the sheets; ``--overview`` stacks every pair's
photo | painting | classic | results at thumbnail size into one picture.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import PY, timed
from PIL import Image

from painterly.quality import Evaluator, table
from painterly.sheet import contact_sheet

CLASSICS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "classics")
# (photo, painting, neural-style's result or None), as in ../shared/classics/README.md
PAIRS = [("tubingen", "starry_night", "tubingen_starry"), ("tubingen", "the_scream", "tubingen_scream"),
         ("tubingen", "shipwreck", "tubingen_shipwreck"), ("golden_gate", "the_scream", "golden_gate_scream"),
         ("tubingen", "frida_kahlo", None), ("golden_gate", "frida_kahlo", None)]
# Lower is better for every measure but layout; layout_style (the painting's composition), photo_detail and
# photo_color (how much of the photo survives unpainted) are information, not goals.
BETTER_LOW = ("gram", "swd", "color", "color_rel", "content", "copied")


def sheet(shown: list[tuple[str, str]], height: int) -> Image.Image:
    """(label, path) panels side by side, ``height`` px tall."""
    return contact_sheet([(label, Image.open(p).convert("RGB")) for label, p in shown], height=height)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="default", help="folder name under out/quality for these settings")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--again", action="store_true", help="repaint even if a result exists")
    ap.add_argument("--sheets", metavar="DIR", help="write content | style | classic | result sheets here")
    ap.add_argument("--beside", nargs="*", default=[], metavar="NAME",
                    help="also show the results of these earlier runs (out/quality/NAME) in the sheets")
    ap.add_argument("--overview", metavar="PATH", help="write every pair's sheet, at thumbnail size, into one picture")
    ap.add_argument("--json", default=None, help="default out/quality/NAME/eval.jsonl")
    ap.add_argument("flags", nargs="*", help="painterly flags (after --)")
    args = ap.parse_args()
    if not os.path.isdir(CLASSICS):
        sys.exit(f"quality.py: {os.path.normpath(CLASSICS)} not found; put the classic pairs there (see this script's docstring)")
    torch.set_num_threads(int(os.environ.get("PAINTERLY_BENCH_THREADS", os.cpu_count() or 1)))
    folder = os.path.join("out", "quality", args.name)
    os.makedirs(folder, exist_ok=True)
    rows: list[dict[str, object]] = []
    wins = {m: 0 for m in BETTER_LOW}
    classics = 0
    overview: list[Image.Image] = []
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
        reference = os.path.join(CLASSICS, f"{classic}.png") if classic else None
        reports = ([ev(reference, "classic")] if reference else []) + [ev(ours, args.name)]
        print(f"\n{photo} x {painting}" + (f"  ({timing['seconds']} s, {timing['peak_rss_mb']} MB)" if timing else ""))
        print(table(reports))
        if reference:
            classics += 1
            for m in BETTER_LOW:
                wins[m] += getattr(reports[1], m) <= getattr(reports[0], m)
        for r in reports:
            rows.append({"pair": f"{photo}_{painting}", **r.to_dict(), **(timing if r is reports[-1] else {})})
        shown = [("photo", content), ("painting", style)] + ([("neural-style", reference)] if reference else [])
        shown += [(f"painterly {n}", os.path.join("out", "quality", n, f"{photo}_{painting}.png")) for n in args.beside]
        shown.append((f"painterly {args.name}", ours))
        if args.sheets:
            os.makedirs(args.sheets, exist_ok=True)
            sheet(shown, 384).save(os.path.join(args.sheets, f"{photo}_{painting}.png"))
        overview.append(sheet(shown, 160))
    if args.overview:
        stack = Image.new("RGB", (max(s.width for s in overview), sum(s.height for s in overview)), "white")
        for i, s in enumerate(overview):
            stack.paste(s, (0, sum(o.height for o in overview[:i])))
        stack.save(args.overview, quality=90)
    print(f"\n{args.name} at least as good as the classic result, pairs of {classics}: "
          + ", ".join(f"{m} {wins[m]}" for m in BETTER_LOW))
    with open(args.json or os.path.join(folder, "eval.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
