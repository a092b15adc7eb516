"""Peak memory of reading nnst's bank of the painting for one scale (default 3840x2160, The Starry Night).

    python benchmarks/bank_memory.py [--width 3840 --height 2160] [--copies]

Run once per process (peak RSS is the process's): painterly's ``StyleBank.of`` (each of the four orientations
read a block at a time, straight into the bank's rows: painterly.turns), or with ``--copies`` the same reading
from four whole turned copies of the resized painting made at once, their rows concatenated (the lever off).
Prints the seconds, the peak RSS before and after, and the bank's size.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import EXAMPLES

from painterly import Painter, StyleConfig, load_image
from painterly import neighbors as nb
from painterly.images import fit_long_edge, resize
from painterly.objective import style_long_edge


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def with_copies(extractor, painting: torch.Tensor) -> nb.StyleBank:
    """The bank read from four whole turned copies of ``painting``, made at once, and concatenated."""
    turned = [torch.rot90(painting, k, dims=(-2, -1)) for k in range(4)]
    cells = [math.prod(nb.column_size(t.shape[-2:])) for t in turned]
    share = min(1.0, nb.MAX_BANK_ROWS / sum(cells))
    keeps = [max(1, int(n * share)) for n in cells]
    rows = [nb.painting_columns(extractor, t, k) for t, k in zip(turned, keeps)]
    colours = [nb.painting_colours(t, k) for t, k in zip(turned, keeps)]
    return nb.StyleBank.of_rows(torch.cat(rows), torch.cat(colours))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--height", type=int, default=2160)
    ap.add_argument("--copies", action="store_true", help="turn the whole painting four times, as a copy each")
    args = ap.parse_args()
    hw = (args.height, args.width)
    cfg = StyleConfig(size=max(hw), seed=0)
    painter = Painter(cfg)
    style = load_image(os.path.join(EXAMPLES, "starry_night.jpg")).rgb
    extractor = painter.extractor
    before, start = peak_gib(), time.perf_counter()
    if args.copies:
        sized = resize(style, fit_long_edge(tuple(style.shape[-2:]), style_long_edge(cfg.style_scale, hw)))
        bank = with_copies(extractor, sized)
    else:
        bank = painter.style_bank([style], hw, cfg)
    print(f"{'four turned copies' if args.copies else 'a block turned at a time'}: {args.width}x{args.height} scale, "
          f"bank {tuple(bank.columns.shape)}, {time.perf_counter() - start:.0f} s, "
          f"peak RSS {before:.2f} -> {peak_gib():.2f} GiB")


if __name__ == "__main__":
    main()
