"""Preview vs full size: the same inputs and options at 256 px and 1024 px, side by side.

    python docs/make_scale_pictures.py [--iterations N] [--large 1024]

Prints, for both results, the Gram error and content error of painterly eval taken at the preview's size (the large
result downsampled to it; per style layer too), the mean saturation and the mean colour, and
the same at each result's own size, so "same look" is a number as well as a picture.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from PIL import Image

from painterly import Painter, StyleConfig, load_image
from painterly.color import rgb_to_yiq
from painterly.images import resize
from painterly.quality import measure as score
from painterly.sheet import contact_sheet

ROOT = Path(__file__).resolve().parent.parent


def looks(img: torch.Tensor, content: torch.Tensor, style: torch.Tensor, hw: tuple[int, int]) -> str:
    small = resize(img, hw).clamp(0, 1)
    s, own = score(small, content, style), score(img.clamp(0, 1), content, style)
    chroma = rgb_to_yiq(small)[:, 1:].norm(dim=1).mean()
    mean = ", ".join(f"{v:.3f}" for v in small.mean(dim=(0, 2, 3)).tolist())
    layers = ", ".join(f"{v:.3f}" for v in s.gram_layers.values())
    return (f"style {s.gram:.3f} (relu1_1..relu5_1: {layers}), content {s.content:.3f}, chroma {float(chroma):.3f}, "
            f"mean RGB ({mean}); at its own size: style {own.gram:.3f}, content {own.content:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=StyleConfig().iterations)
    ap.add_argument("--large", type=int, default=1024)
    args = ap.parse_args()
    content = load_image(ROOT / "examples" / "building.jpg")
    style = load_image(ROOT / "examples" / "starry_night.jpg")
    panels, results = [], []
    for size in (256, args.large):
        start = time.perf_counter()
        result = Painter(StyleConfig(size=size, iterations=args.iterations, seed=0)).paint(content, [style])
        print(f"{size}px: {time.perf_counter() - start:.0f} s, {result.iterations} iterations", flush=True)
        results.append(result.image)
        panels.append((f"{size} px", result.pil()))
    hw = (int(results[0].shape[-2]), int(results[0].shape[-1]))
    for label, img in zip(("preview", "full, downsampled"), results):
        print(f"{label}: {looks(img, content.rgb, style.rgb, hw)}")
    sheet = contact_sheet(panels, height=360)
    sheet.save(ROOT / "docs" / "img" / "preview-vs-full.jpg", quality=88)
    # A crop of each, the same fraction of the picture, to compare stroke sizes.
    crops = [(f"{label}, centre quarter", im.crop((im.width * 3 // 8, im.height * 3 // 8,
                                                  im.width * 5 // 8, im.height * 5 // 8)).resize((360, 250), Image.LANCZOS))
             for label, im in panels]
    contact_sheet(crops, height=250).save(ROOT / "docs" / "img" / "preview-vs-full-crop.jpg", quality=88)


if __name__ == "__main__":
    main()
