"""Make the pictures of docs/controls.md from the bundled examples (CPU, about 10 minutes).

    python docs/make_controls_pictures.py [--size 224] [--iterations 100] [--only colour,masks,scale]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from painterly import color
from painterly.config import StyleConfig
from painterly.images import load_image, resize, to_pil
from painterly.pipeline import Painter
from painterly.sheet import contact_sheet

ROOT = Path(__file__).resolve().parent.parent
EX, OUT = ROOT / "examples", ROOT / "docs" / "img"


def _save(sheet: Image.Image, name: str) -> None:
    path = OUT / name
    sheet.save(path, quality=88)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)", file=sys.stderr)


def _paint(cfg: StyleConfig, content, styles, **controls) -> Image.Image:
    t = time.perf_counter()
    result = Painter(cfg).paint(content, styles, **controls)
    print(f"  {cfg.preserve_colors.value} {sorted(k for k, v in controls.items() if v is not None)} "
          f"{time.perf_counter() - t:.0f} s", file=sys.stderr)
    return result.pil()


def colour(cfg: StyleConfig) -> None:
    content, style = load_image(EX / "building.jpg"), load_image(EX / "starry_night.jpg")
    panels = [("content", to_pil(content.rgb)), ("style", to_pil(style.rgb))]
    for mode in ("none", "luminance", "match", "luma-swap"):
        panels.append((f"--preserve-colors {mode}", _paint(cfg.replace(preserve_colors=mode), content, [style])))
    _save(contact_sheet(panels, height=150, columns=3), "controls-colour.jpg")
    # The style as the optimisation sees it, per mode / variant.
    c = resize(content.rgb, (150, 217))
    s = resize(style.rgb, (150, 188))
    seen = [("style", to_pil(s)), ("luminance", to_pil(color.prepare(c, [s], "luminance", "pca")[1][0]))]
    for method in ("chol", "pca", "sym"):
        seen.append((f"match {method}", to_pil(color.match_color(s, c, method))))
    _save(contact_sheet(seen, height=150), "controls-colour-style-seen.jpg")


def masks(cfg: StyleConfig) -> None:
    content = load_image(EX / "building.jpg")
    a, b = load_image(EX / "starry_night.jpg"), load_image(EX / "graf1.jpg")
    # The painting's black frame (16 px) is part of its statistics: inside a region that does
    # not touch the picture's edge it comes out as dark straight bars (docs/controls.md).
    a = load_image(a.rgb[..., 16:-16, 16:-16])
    h, w = content.rgb.shape[-2:]
    x = torch.linspace(0, 1, w).view(1, 1, 1, w).expand(1, 1, h, w)
    left = ((0.55 - x) / 0.1 + 0.5).clamp(0, 1)  # white on the left, a soft edge 10% wide
    two = _paint(cfg, content, [a, b], masks=[left, None])
    fruits = load_image(EX / "fruits.jpg")
    fh, fw = fruits.rgb.shape[-2:]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, fh), torch.linspace(-1, 1, fw), indexing="ij")
    oval = ((1 - (xx**2 / 0.55**2 + yy**2 / 0.7**2)) / 0.15).clamp(0, 1).view(1, 1, fh, fw)
    kept = _paint(cfg, fruits, [a], masks=[oval])
    panels = [("mask (white: A, rest: B)", to_pil(left.expand(1, 3, h, w))), ("A starry night, B graf1", two),
              ("mask (A)", to_pil(oval.expand(1, 3, fh, fw))), ("A; rest kept", kept)]
    _save(contact_sheet(panels, height=170, columns=4), "controls-masks.jpg")


def scale(cfg: StyleConfig) -> None:
    content = load_image(EX / "building.jpg")
    a, b = load_image(EX / "starry_night.jpg"), load_image(EX / "graf1.jpg")
    panels = [
        ("starry night only", _paint(cfg, content, [a])),
        ("graf1 only", _paint(cfg, content, [b])),
        ("coarse: starry night, fine: graf1", _paint(cfg, content, [], coarse_style=a, fine_style=b)),
        ("coarse: graf1, fine: starry night", _paint(cfg, content, [], coarse_style=b, fine_style=a)),
    ]
    _save(contact_sheet(panels, height=170, columns=4), "controls-scale.jpg")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--only", default="colour,masks,scale")
    args = p.parse_args()
    cfg = StyleConfig(size=args.size, iterations=args.iterations, multiscale=False, seed=1, method="gatys")  # Gatys et al.'s
    for name in args.only.split(","):
        {"colour": colour, "masks": masks, "scale": scale}[name](cfg)


if __name__ == "__main__":
    main()
