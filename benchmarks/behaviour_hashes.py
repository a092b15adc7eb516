"""Fingerprints of what every command paints, to show that a refactoring changed nothing.

With fixed seeds and one thread, paints an image (coarse-to-fine, the default loss, and the Gram
loss with masks), a video's frames, a texture and the explain figure at small sizes, then prints
the SHA-256 of each result's bytes and saves the arrays. With ``--compare REF.npz`` it also
prints the largest absolute difference to a saved run (the refactoring's bar: identical, or
within 1e-6).

    python benchmarks/behaviour_hashes.py --save out/bench/hashes-before.npz
    python benchmarks/behaviour_hashes.py --compare out/bench/hashes-before.npz
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def paintings() -> dict[str, np.ndarray]:
    from painterly import Painter, StyleConfig, load_image

    content, style, style2 = (load_image(DATA / n) for n in ("content.png", "style.png", "style2.png"))
    out = {}
    cfg = StyleConfig(size=160, min_scale_size=80, iterations=6, seed=1)
    out["image"] = Painter(cfg).paint(content, [style]).image
    cfg = cfg.replace(method="gatys", style_loss="gram", init="content", optimizer="adam", iterations=5)  # masks: gatys
    left = torch.zeros(1, 1, *content.rgb.shape[-2:])
    left[..., : left.shape[-1] // 2] = 1
    out["image_masks_adam"] = Painter(cfg).paint(content, [style, style2], masks=[left, None]).image
    return {k: v.numpy() for k, v in out.items()}


def video_frames() -> dict[str, np.ndarray]:
    from painterly import StyleConfig
    from painterly.video import VideoConfig, stylize_video

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        stylize_video(DATA / "clip.mp4", [DATA / "style.png"], out, StyleConfig(size=64, iterations=4, seed=1),
                      VideoConfig(frame_iterations=3), keep_frames=True)
        frames = sorted(Path(str(out) + ".frames").glob("frame_*.png"))
        return {"video": np.stack([np.asarray(Image.open(f)) for f in frames])}


def texture_and_figure() -> dict[str, np.ndarray]:
    from painterly import StyleConfig, load_image
    from painterly.explain import figure1
    from painterly.explain.texture import synthesize_texture

    sample = load_image(DATA / "style.png").rgb
    tex = synthesize_texture(sample, (96, 128), config=StyleConfig(iterations=6, seed=1), sample_size=96)
    fig = figure1(DATA / "content.png", DATA / "style.png", size=48, iterations=3, seed=0)
    return {"texture": tex.image.numpy(), "explain": np.asarray(fig)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--save", type=Path, help="write the arrays here (.npz)")
    ap.add_argument("--compare", type=Path, help="a saved run to compare against")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {**paintings(), **video_frames(), **texture_and_figure()}
    ref = dict(np.load(args.compare)) if args.compare else {}
    for name, arr in results.items():
        line = f"{name:18s} {str(arr.shape):22s} sha256 {hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]}"
        if name in ref:
            line += f"  max |diff| {np.abs(arr.astype(np.float64) - ref[name].astype(np.float64)).max():.3g}"
        print(line, flush=True)
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.save, **results)


if __name__ == "__main__":
    main()
