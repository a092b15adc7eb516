"""Peak memory of the web server while it decodes large pictures sent as small files.

    python benchmarks/server_upload_memory.py [--requests 4] [--megapixels 40]

Starts ``painterly serve`` on 127.0.0.1 (a free port, a temporary output folder), paints
one tiny job so that torch and the network are loaded, then sends REQUESTS requests at
once, each with two flat PNGs of MEGAPIXELS (a few tens of kilobytes each), and prints the
server's peak resident memory (VmHWM) before and after them. The jobs are 64 px, one
iteration: what is measured is the decoding, not the painting.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OPTIONS = {"size": 64, "iterations": 1, "multiscale": False, "seed": 0}


def flat_png(path: Path, megapixels: float, colour: tuple[int, int, int]) -> Path:
    w = int((megapixels * 1e6 * 1.6) ** 0.5)
    h = int(megapixels * 1e6 // w)
    Image.new("RGB", (w, h), colour).save(path, "PNG", compress_level=9)
    return path


def start_server(out: Path) -> tuple[subprocess.Popen[str], str]:
    """``painterly serve --port 0`` as a child process; returns it and its address."""
    proc = subprocess.Popen([sys.executable, "-m", "painterly", "serve", "--port", "0", "--output-dir", str(out)],
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "painterly: open http://127.0.0.1:PORT/ in a browser ..."
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"the server did not start: {line}{proc.stderr.read()}")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # drain its log
    return proc, line.split("open ", 1)[1].split(" ", 1)[0]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/PID/status")


def post(url: str, content: Path, style: Path) -> int:
    files = [("content", (content.name, content.read_bytes(), "image/png")),
             ("style", (style.name, style.read_bytes(), "image/png"))]
    r = httpx.post(url + "api/jobs", files=files, data={"options": json.dumps(OPTIONS)}, timeout=600)
    return r.status_code


def wait_done(url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(url + "api/jobs", timeout=30).json()["jobs"]:
        if time.monotonic() > deadline:
            raise SystemExit("the jobs did not finish in time")
        time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=4)
    ap.add_argument("--megapixels", type=float, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="painterly-bench-") as tmp:
        folder = Path(tmp)
        big = [flat_png(folder / f"flat{i}.png", args.megapixels, (40 + 60 * i, 90, 160)) for i in range(2)]
        kb = big[0].stat().st_size / 1024
        small = [EXAMPLES / "building.jpg", EXAMPLES / "starry_night.jpg"]
        proc, url = start_server(folder / "out")
        try:
            assert post(url, *small) == 201
            wait_done(url)
            warm = peak_rss_mb(proc.pid)
            codes: list[int] = []
            threads = [threading.Thread(target=lambda: codes.append(post(url, *big))) for _ in range(args.requests)]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - start
            after = peak_rss_mb(proc.pid)
            wait_done(url)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    print(f"{args.requests} requests x 2 flat PNGs of {args.megapixels:g} MP ({kb:.0f} KB each), "
          f"answered {sorted(codes)} in {seconds:.1f} s")
    print(f"server peak RSS: {warm:.0f} MB after a warm-up job, {after:.0f} MB after the uploads "
          f"(+{after - warm:.0f} MB)")


if __name__ == "__main__":
    main()
