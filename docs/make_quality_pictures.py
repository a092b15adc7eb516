"""What each style loss does: the bundled building photo as The Starry Night with every
``--style-loss`` (``--method gatys``), all other options at their defaults, side by side, and eval's measures.

    python docs/make_quality_pictures.py [--size 384]

Writes docs/img/quality-losses.jpg and prints one eval row per loss (docs/quality.md).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image

from painterly import Painter, StyleConfig, load_image
from painterly.config import StyleLossKind
from painterly.quality import Evaluator, table
from painterly.sheet import contact_sheet

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=384)
    args = ap.parse_args()
    content = load_image(ROOT / "examples" / "building.jpg")
    style = load_image(ROOT / "examples" / "starry_night.jpg")
    ev = Evaluator(content.rgb, style.rgb, size=args.size)
    panels: list[tuple[str, Image.Image]] = [("photo", Image.open(ROOT / "examples" / "building.jpg"))]
    reports = []
    for kind in StyleLossKind.values():
        start = time.perf_counter()
        result = Painter(StyleConfig(size=args.size, method="gatys", style_loss=kind, seed=1)).paint(content, [style])
        seconds = time.perf_counter() - start
        panels.append((f"--style-loss {kind}", result.pil()))
        reports.append(ev(result.image, f"{kind} ({seconds:.0f} s)"))
    print(table(reports))
    out = ROOT / "docs" / "img" / "quality-losses.jpg"
    contact_sheet(panels, height=256).convert("RGB").save(out, quality=85)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
