"""Helpers shared by the benchmark scripts: timed child processes with their peak memory."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")
# Data that is not in this repository, read from a folder ``shared`` beside it.
SHARED = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
MEGAMIND = os.path.join(SHARED, "images", "Megamind.avi")
MEGAMIND_SOURCE = ("OpenCV's sample clip samples/data/Megamind.avi (github.com/opencv/opencv, or Debian's "
                   "opencv-doc package); pass --video PATH")


def require(path: str, script: str, source: str) -> None:
    """Exit with one line (no traceback) when ``path``, data this repository does not hold, is missing."""
    if not os.path.exists(path):
        raise SystemExit(f"{script}: {path} not found; it is {source}")


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str


def timed(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``cmd``; return wall time and the child's peak resident memory (getrusage via wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(time.perf_counter() - start, usage.ru_maxrss / 1024, proc.returncode, out)


PY = sys.executable


def comparison_parser() -> argparse.ArgumentParser:
    """The inputs every painterly-vs-pastiche benchmark shares: content, style, output size."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--content", default=os.path.join(EXAMPLES, "building.jpg"))
    ap.add_argument("--style", default=os.path.join(EXAMPLES, "starry_night.jpg"))
    ap.add_argument("--size", type=int, default=512)
    return ap
