"""A batch on a Dask cluster of real processes: one worker vs two, and two with one killed mid-run.

    python benchmarks/batch_cluster.py [--images 8] [--size 64] [--iterations 20]

Starts ``dask scheduler`` and ``dask worker`` s (one thread each, no nanny) on 127.0.0.1 for
each case and prints the batch's wall seconds: the first run on fresh workers (each loads torch
and VGG19 with its first image) and a second on the same, warm, workers (``force``). In the
"killed" case one worker gets SIGKILL as soon as the first image is done; the line says how many
images were painted again and whether all were done. Prints numbers; it is not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench_batch import make_album  # noqa: E402

from batches.dask_processes import dask_cluster  # noqa: E402
from painterly.batches import Event, batch  # noqa: E402
from painterly.config import StyleConfig  # noqa: E402


def run_case(workers: int, kill: bool, album: Path, style: Path, cfg: StyleConfig, tmp: Path) -> str:
    logs = Path(tempfile.mkdtemp(dir=tmp))
    with dask_cluster(workers, logs) as cluster:
        killed: list[int] = []

        def on_event(ev: Event) -> None:
            if kill and ev.status == "done" and not killed:
                killed.append(cluster.kill(0))

        start = time.perf_counter()
        cold = batch([album], [style], logs / "out", cfg, scheduler=cluster.address, callback=on_event)
        first = time.perf_counter() - start
        start = time.perf_counter()
        warm = batch([album], [style], logs / "out", cfg, scheduler=cluster.address, force=True)
        second = time.perf_counter() - start
    label = f"{workers} worker{'s' if workers > 1 else ''}" + (", one killed after the first image" if kill else "")
    return (f"{label:<40} fresh workers {first:6.1f} s ({len(cold.done)} done, {len(cold.failed)} failed, "
            f"{len(cold.retried)} painted again)   warm {second:6.1f} s ({len(warm.done)} done)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=20)
    args = ap.parse_args()
    cfg = StyleConfig(size=args.size, iterations=args.iterations, multiscale=False, seed=1)
    print(f"{args.images} images at {args.size} px, {args.iterations} iterations; {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        album, style = make_album(tmp, args.images, args.size)
        for workers, kill in ((1, False), (2, False), (2, True)):
            print(run_case(workers, kill, album, style, cfg, tmp), flush=True)
    print(f"load {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
