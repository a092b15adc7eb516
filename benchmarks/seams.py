"""The seam measure (painterly.seams) of a picture painted in tiles, per tiled scale.

    python benchmarks/seams.py IMAGE [--record JSON] [--max-memory GB] [--tile-size PX] [--content PHOTO]
        [--crop OUT.jpg]

The tile layout comes from the run's record: the image command's sidecar (IMAGE.json) or
render_large.py's (IMAGE without its suffix + .json), whose "tiles" give each tiled scale's tile size.
A record without them (render_large.py before it wrote them) gives the options instead: the layout is
planned again from them as render_large.py plans it (no network loaded; --max-memory / --tile-size as the
run had them). Only the final scale is painted last; a coarser tiled scale's boundaries are measured
where they lie in the picture (later scales repaint over them). For scale, each row also gives:

* the same measure on the layout shifted off the boundaries (by an eighth to three eighths of a tile's
  step): what the picture's content alone scores on strips like these;
* with --content (the photo; render_large.py's record names it), the photo's own score at the same strips,
  centre-cropped to the picture's aspect ratio and resized to its size, and every row's score over the cells
  where the photo is flat (``painterly.seams``' ``flat``: the photo's own edges on a boundary left out).

With --crop, a 256x256 crop of the picture at 100% is also written, centred where the full-size scale's
boundaries nearest the picture's centre cross, with ticks in its frame at the boundaries (what
docs/performance.md shows).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch
from PIL import ImageDraw

sys.path.insert(0, os.path.dirname(__file__))
from render_large import crop_to, planned, render_config, tile_record

from painterly import seams
from painterly.images import load_image, resize, to_pil
from painterly.tiles import overlap

Size = tuple[int, int]


def read_record(image: str, record: str | None) -> dict:
    """The run's record: ``record``, else the image command's sidecar, else render_large.py's."""
    for path in ([record] if record else [image + ".json", os.path.splitext(image)[0] + ".json"]):
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
    return {}


def tiled_scales(hw: Size, record: dict, args: argparse.Namespace) -> dict[Size, int]:
    """{scale (H, W): tile px}: the record's "tiles", else planned again with the run's options."""
    tiles = record.get("tiles")
    if not tiles:
        max_memory = args.max_memory or record.get("max_memory")
        tile_size = args.tile_size or record.get("tile_size")
        if not max_memory and not tile_size:
            sys.exit("the record gives no tile layout: give the run's --max-memory and/or --tile-size")
        tiles = tile_record(planned(render_config(hw[1], hw[0], max_memory=max_memory, tile_size=tile_size), hw)[1])
        print(f"layout planned again (--max-memory {max_memory}, --tile-size {tile_size}): {tiles}")
    else:
        print(f"layout from the record: {tiles}")
    return {(int(k.split("x")[1]), int(k.split("x")[0])): int(v) for k, v in tiles.items()}


def shifted(hw: Size, image_hw: Size, tile: int) -> list[tuple[list[int], list[int]]]:
    """The scale's boundaries moved off themselves by 1/8, 1/4 and 3/8 of a tile's step, both ways."""
    rows, cols = seams.boundaries(hw, tile, image_hw=image_hw)
    step = (tile - overlap(tile)) * image_hw[1] / hw[1]
    out = []
    for share in (-3, -2, -1, 1, 2, 3):
        d = round(share * step / 8)
        out.append(([r + d for r in rows if 0 < r + d < image_hw[0]], [c + d for c in cols if 0 < c + d < image_hw[1]]))
    return out


def row(name: str, m: seams.Seams) -> str:
    axes = ", ".join(f"{k} {e:.3f}/{c:.3f}" for k, (e, c) in m.by_axis.items())
    flat = "" if m.flat is None else "  where the photo is flat {:.3f}/{:.3f}".format(*m.flat)
    return f"  {name:<30} energy {m.energy:.3f}  colour {m.color:.3f}{flat}  ({axes}; {m.boundaries} " \
           f"boundaries, {m.inside} inside strips)"


def each(name: str, m: seams.Seams) -> str:
    return f"  {name:<30} each boundary, energy/colour: " + "; ".join(
        f"{k} " + " ".join(f"{e:.2f}/{c:.2f}" for e, c in v) for k, v in m.each.items())


def crop_at_crossing(image: torch.Tensor, rows: list[int], cols: list[int], out: str, side: int = 256) -> None:
    """``side`` x ``side`` px of ``image`` at 100% around the crossing of the boundaries nearest its centre, with
    red ticks in the frame where they run, written to ``out``."""
    hw = image.shape[-2:]
    y = min(rows, key=lambda r: abs(r - hw[0] / 2), default=hw[0] // 2)
    x = min(cols, key=lambda c: abs(c - hw[1] / 2), default=hw[1] // 2)
    top, left = min(max(0, y - side // 2), hw[0] - side), min(max(0, x - side // 2), hw[1] - side)
    crop = to_pil(image[..., top:top + side, left:left + side])
    draw = ImageDraw.Draw(crop)
    for r in (r - top for r in rows if 0 <= r - top < side):
        draw.line([(0, r), (5, r)], fill="red", width=1)
        draw.line([(side - 6, r), (side - 1, r)], fill="red", width=1)
    for c in (c - left for c in cols if 0 <= c - left < side):
        draw.line([(c, 0), (c, 5)], fill="red", width=1)
        draw.line([(c, side - 6), (c, side - 1)], fill="red", width=1)
    crop.save(out, quality=92)
    print(f"crop: x {left}-{left + side}, y {top}-{top + side} at 100%, ticks at the boundaries -> {out}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("--record", help="the run's JSON record (default: beside the image)")
    ap.add_argument("--max-memory", type=float, help="GB: the run's, where the record lacks the layout")
    ap.add_argument("--tile-size", type=int, help="px: the run's, where the record lacks the layout")
    ap.add_argument("--content", help="the photo, for its own score at the same strips (default: the record's)")
    ap.add_argument("--width", type=int, default=seams.STRIP, help="strip width in px")
    ap.add_argument("--crop", help="also write a 256 px crop at 100%% across the full size's boundaries here")
    args = ap.parse_args()
    image = load_image(args.image).rgb
    hw: Size = (image.shape[-2], image.shape[-1])
    record = read_record(args.image, args.record)
    content = args.content or record.get("content")
    photo = resize(crop_to(load_image(content), hw[1], hw[0]).rgb, hw) if content else None
    for scale, tile in sorted(tiled_scales(hw, record, args).items(), reverse=True):
        rows, cols = seams.boundaries(scale, tile, image_hw=hw)
        print(f"{scale[1]}x{scale[0]} in tiles of {tile} px ({len(rows) + 1}x{len(cols) + 1}): boundaries at rows "
              f"{rows}, columns {cols} of the {hw[1]}x{hw[0]} picture{'' if scale == hw else ' (repainted since)'}")
        if args.crop and scale == hw:
            crop_at_crossing(image, rows, cols, args.crop)
        painted = seams.measure(image, tile, hw=scale, width=args.width, content=photo)
        print(row("painting", painted))
        print(each("painting", painted))
        for k, (r, c) in enumerate(shifted(scale, hw, tile)):
            print(row(f"painting, layout shifted {(-3, -2, -1, 1, 2, 3)[k]}/8 step",
                      seams.measure_at(image, r, c, width=args.width, content=photo)))
        if photo is not None:
            own = seams.measure(photo, tile, hw=scale, width=args.width, content=photo)
            print(row("photo", own))
            print(each("photo", own))


if __name__ == "__main__":
    main()
