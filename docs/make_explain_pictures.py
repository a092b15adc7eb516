"""Make the pictures and numbers of docs/explain.md from the bundled examples (CPU, about 25 minutes).

    python docs/make_explain_pictures.py [--only figure,layers,texture,plot]

Prints the measurements quoted in docs/explain.md (one thread: on a small shared machine
that is faster than two).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from painterly.config import StyleConfig
from painterly.explain.figure import (
    FIGURE1_CONTENT_LAYERS,
    figure1,
    fit_image,
    reconstruct_content,
)
from painterly.explain.texture import gram_error, patch_copy_distance, prepare_sample, seam_ratio, synthesize_texture
from painterly.images import load_image, to_pil
from painterly.pipeline import Painter, get_extractor
from painterly.plot import LossRecorder, plot_losses
from painterly.quality import layout_similarity, measure, psnr
from painterly.sheet import contact_sheet

ROOT = Path(__file__).resolve().parent.parent
EX, OUT = ROOT / "examples", ROOT / "docs" / "img"


def _save(img: Image.Image, name: str) -> None:
    path = OUT / name
    img.convert("RGB").save(path, quality=88)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)", file=sys.stderr)


def figure(size: int, iterations: int) -> None:
    t = time.perf_counter()
    fig = figure1(EX / "building.jpg", EX / "starry_night.jpg", size=size, iterations=iterations, seed=0)
    print(f"figure 1: {time.perf_counter() - t:.0f} s", file=sys.stderr)
    _save(fig, "explain-figure1.jpg")


def layers(size: int, iterations: int) -> None:
    """PSNR and layout correlation of each content reconstruction (the table in the docs)."""
    x = fit_image(EX / "building.jpg", "content", size)
    print("| layer | PSNR vs input (dB) | layout corr. | same, input upside down |")
    for layer in FIGURE1_CONTENT_LAYERS:
        r = reconstruct_content(x, layer, size=size, iterations=iterations, seed=0)
        print(f"| {layer} | {psnr(r, x):.1f} | {layout_similarity(r, x, cells=8, colour=True):.2f} | "
              f"{layout_similarity(r, x.flip(-2), cells=8, colour=True):.2f} |", flush=True)


def _tile(img: Image.Image) -> Image.Image:
    out = Image.new("RGB", (img.width * 2, img.height * 2))
    for dx in (0, img.width):
        for dy in (0, img.height):
            out.paste(img, (dx, dy))
    return out


def texture(iterations: int) -> None:
    judge_net = get_extractor(None, "max", ("relu5_1",), "cpu")
    print("| sample | output | tileable | judge style score | Gram error at the sample's scale | "
          "nearest-patch RMS (min / median) | seam ratio (h / v) | seconds |")
    rows, tiles = [], []
    hw = (192, 320)
    # starry_night.jpg has a black frame (16 px at its own size): cut off, or its straight
    # edges become part of the texture (at the border of a plain texture, inside a tileable one).
    for name, frame in (("starry_night", 16), ("graf1", 0)):
        rgb = load_image(EX / f"{name}.jpg").rgb
        sample = prepare_sample(rgb[..., frame:rgb.shape[-2] - frame, frame:rgb.shape[-1] - frame], 256)
        rows.append((f"{name} sample{' (frame cut)' if frame else ''}", to_pil(sample)))
        for tileable in (False, True):
            tex = synthesize_texture(sample, hw, config=StyleConfig(iterations=iterations, seed=1), tileable=tileable)
            judged = measure(tex.image, tex.image, sample).gram
            own = gram_error(judge_net, tex.image, sample)["mean"]
            copy = patch_copy_distance(tex.image, sample, stride=8)
            seam = seam_ratio(tex.image)
            print(f"| {name} | {hw[1]}x{hw[0]} | {'yes' if tileable else 'no'} | {judged:.3f} | {own:.3f} | "
                  f"{copy['min']:.3f} / {copy['median']:.3f} | {seam['horizontal']:.2f} / {seam['vertical']:.2f} | "
                  f"{tex.seconds:.0f} |", flush=True)
            label = "--tileable" if tileable else "plain"
            rows.append((f"{label} {hw[1]}x{hw[0]}", to_pil(tex.image)))
            tiles.append((f"{name}, {label}, repeated 2x2", _tile(to_pil(tex.image))))
    _save(contact_sheet(rows, height=192, columns=3), "texture-banners.jpg")
    _save(contact_sheet(tiles, height=192, columns=2), "texture-tiles.jpg")


def plot(size: int, iterations: int) -> None:
    rec = LossRecorder()
    cfg = StyleConfig(size=size, iterations=iterations, min_scale_size=size // 2, seed=0, method="gatys")  # Gatys et al.'s terms
    Painter(cfg).paint(load_image(EX / "building.jpg"), [load_image(EX / "starry_night.jpg")], callback=rec)
    plot_losses(rec, OUT / "explain-losses.png", title=f"painterly building.jpg starry_night.jpg --size {size} "
                f"--min-scale-size {size // 2} -n {iterations}")
    print(f"wrote {OUT / 'explain-losses.png'}", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="figure,layers,texture,plot")
    p.add_argument("--size", type=int, default=160)
    p.add_argument("--iterations", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(1)
    only = set(args.only.split(","))
    if "figure" in only:
        figure(args.size, args.iterations)
    if "layers" in only:
        layers(args.size, args.iterations)
    if "texture" in only:
        texture(94)  # 150 iterations at 320 px: each scale gets N * 512 / its long edge
    if "plot" in only:
        plot(args.size, 19)  # 61, 86 and 122 iterations at 160, 113 and 80 px


if __name__ == "__main__":
    main()
