"""Preview vs full size: the same inputs and options at 256 px and 1024 px, side by side.

    python docs/make_scale_pictures.py [--iterations 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image

from painterly import Painter, StyleConfig, load_image
from painterly.sheet import contact_sheet

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=20)
    args = ap.parse_args()
    content = load_image(ROOT / "examples" / "building.jpg")
    style = load_image(ROOT / "examples" / "starry_night.jpg")
    panels = []
    for size in (256, 1024):
        start = time.perf_counter()
        result = Painter(StyleConfig(size=size, iterations=args.iterations, seed=0, min_scale_size=256)).paint(
            content, [style])
        print(f"{size}px: {time.perf_counter() - start:.0f} s, {result.iterations} iterations", flush=True)
        result.pil().save(f"/tmp/scale_{size}.png")
        panels.append((f"{size} px", result.pil()))
    sheet = contact_sheet(panels, height=360)
    sheet.save(ROOT / "docs" / "img" / "preview-vs-full.jpg", quality=88)
    # A 1:1 crop of each, the same fraction of the picture, to compare stroke sizes.
    crops = [(f"{label}, centre quarter", im.crop((im.width * 3 // 8, im.height * 3 // 8,
                                                  im.width * 5 // 8, im.height * 5 // 8)).resize((360, 250), Image.LANCZOS))
             for label, im in panels]
    contact_sheet(crops, height=250).save(ROOT / "docs" / "img" / "preview-vs-full-crop.jpg", quality=88)


if __name__ == "__main__":
    main()
