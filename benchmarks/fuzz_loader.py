"""Fuzz the image loader with thousands of mutated files and count what happened, per format.

    .venv/bin/python benchmarks/fuzz_loader.py --examples 2000 [--workers 2] [--timeout 10]
        [--memory-mb 2048] [--seed 0] [--save-failures DIR]

Each example is a file of tests/data/formats changed by the mutations of
tests/test_images_fuzz.py (the CI test runs a few dozen per file; this runs ``--examples``
per file) and loaded by ``painterly.images.load_image`` in a worker process. A worker's
address space is capped at ``--memory-mb`` above what it holds once warmed up (RLIMIT_AS),
and a worker that has not answered after ``--timeout`` seconds is killed and replaced.
Printed per format: examples, ok, ImageError, other exceptions, crashes (the worker died),
timeouts and the largest peak RSS of one example; then the first few failures with the
mutations that reproduce them (and the files themselves with ``--save-failures``).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_images_fuzz import (  # noqa: E402
    KINDS,
    SAMPLES,
    Mutation,
    cap_address_space,
    check_loaded,
    mutate,
    peak_rss_mb,
    reset_peak_rss,
)

OUTCOMES = ("ok", "ImageError", "other", "crash", "timeout")


def worker(conn: Connection, memory_mb: int) -> None:
    """Load each file sent; answer (outcome, detail, peak RSS MB of that load)."""
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-loader-"))
    cap_address_space(memory_mb)
    conn.send("ready")
    while (job := conn.recv()) is not None:
        suffix, data = job
        path = tmp / f"x{suffix}"
        path.write_bytes(data)
        reset_peak_rss()
        try:
            outcome, detail = check_loaded(path), ""
        except BaseException as e:  # noqa: B036 - every escape is what this counts
            outcome, detail = "other", f"{type(e).__name__}: {str(e)[:200]}"
        conn.send((outcome, detail, peak_rss_mb()))


@dataclass
class Worker:
    proc: BaseProcess
    conn: Connection
    job: tuple | None = None
    started: float = 0.0


class Pool:
    """Worker processes, each with one job in flight at most; hung or dead workers are replaced."""

    def __init__(self, n: int, memory_mb: int):
        self.ctx = mp.get_context("spawn")
        self.memory_mb = memory_mb
        self.workers = [self._start() for _ in range(n)]

    def _start(self) -> Worker:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=worker, args=(child, self.memory_mb), daemon=True)
        proc.start()
        child.close()  # so that a worker dying makes recv() raise EOFError rather than wait
        assert parent.recv() == "ready"
        return Worker(proc, parent)

    def run(self, jobs: list, timeout: float, record: Callable[..., None]) -> None:
        """Run ``jobs``; ``record(job, outcome, detail, peak_mb)`` for each as it ends."""
        pending = list(reversed(jobs))
        while pending or any(w.job for w in self.workers):
            for w in self.workers:
                if w.job is None and pending:
                    w.job, w.started = pending.pop(), time.monotonic()
                    try:
                        w.conn.send(w.job[1:3])
                    except OSError:
                        pass  # the worker is gone: its closed pipe reads as a crash below
            ready = wait([w.conn for w in self.workers if w.job], timeout=0.2)
            for i, w in enumerate(self.workers):
                if w.job is None:
                    continue
                if w.conn in ready:
                    try:
                        record(w.job, *w.conn.recv())
                        w.job = None
                        continue
                    except (EOFError, OSError):
                        w.proc.join()
                        record(w.job, "crash", f"worker died with exit code {w.proc.exitcode}", 0.0)
                elif time.monotonic() - w.started > timeout:
                    w.proc.kill()
                    w.proc.join()
                    record(w.job, "timeout", f"no answer after {timeout:g} s", 0.0)
                else:
                    continue
                self.workers[i] = self._start()

    def close(self) -> None:
        for w in self.workers:
            w.conn.send(None)
            w.proc.join(5)


def make_jobs(examples: int, seed: int) -> list:
    rng = random.Random(seed)
    jobs = []
    for sample in SAMPLES:
        original = sample.read_bytes()
        for _ in range(examples):
            muts = [Mutation(rng.choice(KINDS), rng.randrange(2**16 + 1), rng.randrange(65), rng.getrandbits(32))
                    for _ in range(rng.randint(1, 3))]
            jobs.append((sample.name, sample.suffix, mutate(original, muts), muts))
    return jobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=2000, help="mutated files per sample file (default 2000)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds one load may take")
    ap.add_argument("--memory-mb", type=int, default=2048, help="address space a load may add")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-failures", type=Path, help="write files that did not load or raise ImageError here")
    ap.add_argument("--show", type=int, default=10, help="failures listed (default 10)")
    args = ap.parse_args()

    counts: dict[str, Counter] = defaultdict(Counter)
    peaks: dict[str, float] = defaultdict(float)
    failures: list[tuple] = []

    def record(job: tuple, outcome: str, detail: str, peak: float) -> None:
        name, suffix, data, muts = job
        counts[name][outcome] += 1
        peaks[name] = max(peaks[name], peak)
        if outcome in ("other", "crash", "timeout"):
            failures.append((name, outcome, detail, muts))
            if args.save_failures:
                args.save_failures.mkdir(parents=True, exist_ok=True)
                (args.save_failures / f"{len(failures):04d}_{Path(name).stem}{suffix}").write_bytes(data)

    start = time.monotonic()
    jobs = make_jobs(args.examples, args.seed)
    pool = Pool(args.workers, args.memory_mb)
    pool.run(jobs, args.timeout, record)
    pool.close()
    report(counts, peaks, failures, args.show, time.monotonic() - start)


def report(counts: dict[str, Counter], peaks: dict[str, float], failures: list[tuple], show: int,
           seconds: float) -> None:
    print(f"{'format':<18}{'examples':>9}" + "".join(f"{o:>11}" for o in OUTCOMES) + f"{'peak RSS MB':>13}")
    total: Counter = Counter()
    for name in sorted(counts):
        c = counts[name]
        total += c
        print(f"{name:<18}{sum(c.values()):>9}" + "".join(f"{c[o]:>11}" for o in OUTCOMES) + f"{peaks[name]:>13.0f}")
    print(f"{'all':<18}{sum(total.values()):>9}" + "".join(f"{total[o]:>11}" for o in OUTCOMES)
          + f"{max(peaks.values(), default=0):>13.0f}")
    print(f"{seconds:.0f} s; peak RSS is the largest high-water mark of one load (worker included)")
    for name, outcome, detail, muts in failures[:show]:
        print(f"  {name} {outcome}: {detail}\n      mutations: {muts}")


if __name__ == "__main__":
    main()
