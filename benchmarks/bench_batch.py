"""Local batch parallelism: one process with all threads vs several processes with fewer.

    python benchmarks/bench_batch.py [--images 6] [--size 128] [--iterations 20] [--splits 1x2,2x1]

Prints wall seconds per split (PROCESSESxTHREADS), pool start-up included. Each split paints
the same images (crops of examples/*.jpg) into a fresh folder with a fixed seed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from painterly.batches import batch
from painterly.config import StyleConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def make_album(folder: Path, n: int, size: int) -> tuple[Path, Path]:
    srcs = [Image.open(EXAMPLES / f"{name}.jpg").convert("RGB") for name in ("building", "fruits", "graf1")]
    album = folder / "album"
    album.mkdir()
    for i in range(n):
        im = srcs[i % len(srcs)]
        w, h = im.size
        box = (i * 17 % (w // 3), i * 11 % (h // 3), w - i * 13 % (w // 3), h - i * 7 % (h // 3))
        crop = im.crop(box)
        crop.thumbnail((size, size))
        crop.save(album / f"img{i:02d}.png")
    style = folder / "style.png"
    s = Image.open(EXAMPLES / "starry_night.jpg").convert("RGB")
    s.thumbnail((size, size))
    s.save(style)
    return album, style


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--splits", default="1x2,2x1", help="PROCESSESxTHREADS,...")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    cfg = StyleConfig(size=args.size, iterations=args.iterations, multiscale=False, seed=1, tolerance=0.0)
    with tempfile.TemporaryDirectory() as d:
        album, style = make_album(Path(d), args.images, args.size)
        for r in range(args.repeat):
            for split in args.splits.split(","):
                procs, threads = (int(v) for v in split.split("x"))
                torch.set_num_threads(threads)  # used when procs == 1 (in-process)
                out = Path(d) / f"out-{split}-{r}"
                t = time.perf_counter()
                first: list[float] = []

                def on_event(ev: object, t: float = t, first: list[float] = first) -> None:
                    if getattr(ev, "status", "") == "done" and not first:
                        first.append(time.perf_counter() - t)

                if procs == 1:
                    s = batch([album], [style], out, cfg, workers=1, callback=on_event)
                else:
                    from painterly import batch_workers

                    # the pool gives each process cpu_count() // procs threads; pin it to `threads`
                    orig = batch_workers.cpu_count
                    batch_workers.cpu_count = lambda n=procs * threads: n  # type: ignore[assignment]
                    try:
                        s = batch([album], [style], out, cfg, workers=procs, callback=on_event)
                    finally:
                        batch_workers.cpu_count = orig  # type: ignore[assignment]
                dt = time.perf_counter() - t
                assert not s.failed, s.failed
                paint = sum(float(x["seconds"]) for x in s.done) / len(s.done)
                print(f"{split:>5}  {args.images} images {args.size}px x {args.iterations} it: wall {dt:6.1f} s"
                      f"  ({dt / args.images:.2f} s/image); painting {paint:.2f} s/image in a worker,"
                      f" first result after {first[0]:.1f} s", flush=True)


if __name__ == "__main__":
    main()
