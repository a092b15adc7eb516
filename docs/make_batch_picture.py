"""docs/img/batch-sheet.jpg: one batch of the bundled photos in the style of The Starry Night, with the defaults.

    python docs/make_batch_picture.py [--size 256] [--workers 2]

Runs ``painterly batch`` on examples/building.jpg, fruits.jpg and graf1.jpg with ``--style
examples/starry_night.jpg --seed 1`` (every other option its default) into a temporary folder, prints its summary's
times, and lays each content image, the style and its result out in a row.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from painterly.sheet import contact_sheet

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PHOTOS = ("building", "fruits", "graf1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    style = EXAMPLES / "starry_night.jpg"
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "painterly", "batch", *(str(EXAMPLES / f"{p}.jpg") for p in PHOTOS),
                        "--style", str(style), "-o", out, "--size", str(args.size), "--workers", str(args.workers),
                        "--seed", "1", "--quiet"], check=True, stdout=subprocess.DEVNULL)
        print(f"{len(PHOTOS)} images at {args.size} px, --workers {args.workers}: {time.perf_counter() - start:.0f} s")
        for image in json.loads((Path(out) / "summary.json").read_text())["done"]:
            print(f"  {image['output']}: {image['seconds']:.0f} s, {image['iterations']} iterations on {image['worker']}")
        painting = Image.open(style)
        panels = []
        for p in PHOTOS:
            panels += [(p, Image.open(EXAMPLES / f"{p}.jpg")), ("style", painting),
                       ("result", Image.open(Path(out) / f"{p}.png").copy())]
    contact_sheet(panels, height=180, columns=3).save(ROOT / "docs" / "img" / "batch-sheet.jpg", quality=88)


if __name__ == "__main__":
    main()
