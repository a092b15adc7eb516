"""glibc's malloc, set up for a loop that frees and re-allocates the same big tensors each iteration.

PyTorch's CPU tensors come from malloc. By default glibc serves every block of 32 MB or more
(a 64-channel activation of a 512 px image is 64 MB) with fresh pages from mmap and unmaps it
when freed, so every iteration page-faults and the kernel zeroes all of its big activations
and gradients again. On a 2-core CPU that was 34% of an iteration at 512 px and 39% at
1024 px (3-channel conv1_1 alone: 44 ms instead of 6 ms at 512 px).

``keep_freed_memory(True)`` makes malloc take every block from its heap and keep freed memory
there for the next iteration: no faults, no zeroing. The price is fragmentation: peak RSS was
2% higher at 256 px, 22% at 512 px and 30% at 1024 px, and a 4K run's 2715 px scale peaked
at 1.30-1.54 times its memory plan's estimate (painterly.memory.HEAP_SLACK). So the
engine switches it on only for the scales whose memory plan has that much room, gives the
free heap back between scales (a smaller scale's blocks do not fit a larger one's) and
restores glibc's behaviour before a scale without room and when the run ends. Linux with
glibc only; elsewhere the calls do nothing.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
# glibc's steady state: its dynamic mmap threshold rises to at most 32 MB, the trim threshold to twice that.
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
DEFAULT_MMAP_MAX = 65536
NEVER_TRIM = 2**31 - 1


@lru_cache(maxsize=1)
def _glibc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl has a no-op mallopt)
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory(on: bool) -> bool:
    """Serve big blocks from malloc's heap and keep freed memory for reuse (``on``), or go
    back to glibc's behaviour as its thresholds settle (blocks of 32 MB or more from mmap;
    once set, glibc no longer adjusts them itself). Either way the free heap is given back
    first, so what an earlier scale left behind (blocks of other sizes) does not add to this
    one's peak; the first iteration faults its pages in once. True when the setting took."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    if on:
        return bool(libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
    return bool(libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX) and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


@contextmanager
def scope() -> Iterator[None]:
    """A block in which ``keep_freed_memory`` may be switched on and off (per scale); glibc's
    own behaviour after it, with the free heap given back (so a server or batch worker does
    not hold on to a finished run's peak)."""
    try:
        yield
    finally:
        keep_freed_memory(False)
