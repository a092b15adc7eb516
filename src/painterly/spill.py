"""Whole pictures too large to keep in memory, kept in mapped files instead: how a print-size picture is painted
in bounded memory.

A picture on the CPU of more than :data:`SPILL_PIXELS` pixels (at print size: a tiled scale's start, its blend and
result, the photo and the painting resized to it) is made by :func:`empty` in a temporary file mapped into memory
(unlinked, so it goes when the last tensor on it does; its disk space reserved up front). Its pages live in the
operating system's file cache, not in the process: every operation on such a picture runs a band of rows at a
time (:func:`bands`, :func:`pixelwise`, painterly.resample) or a tile at a time (the engine), and :func:`trim`
then hands back the pages it touched. So the process holds a band or a tile of each, whatever the picture's size;
the memory plan counts that (:data:`WORK_BYTES`, painterly.tiles.whole_bytes). Smaller pictures, and pictures on
a GPU, are plain tensors, as before.
"""

from __future__ import annotations

import ctypes
import math
import mmap
import os
import tempfile
import weakref
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np
import torch

from .errors import ConfigError

Size = tuple[int, int] | tuple[int, ...] | torch.Size
SPILL_PIXELS = 2**21  # a picture larger than this (about 1700x1200 px) is kept in a mapped file on the CPU
BAND_BYTES = 2**24  # bytes of a band of rows of a picture (float32, all its channels) in band-wise work
# Bytes of the process's memory that band-wise work on spilled pictures takes at most: a band of each picture it
# reads and writes (up to four), and the temporaries of the operation on them (about as many again).
WORK_BYTES = 8 * BAND_BYTES
FOLDER_VARIABLE = "PAINTERLY_TMPDIR"

_live: weakref.WeakSet[mmap.mmap] = weakref.WeakSet()


def large(hw: Size, device: torch.device | str = "cpu") -> bool:
    """Whether a picture of ``hw`` on ``device`` is kept in a mapped file (:func:`empty`)."""
    return torch.device(device).type == "cpu" and int(hw[0]) * int(hw[1]) > SPILL_PIXELS


def spilled(x: torch.Tensor) -> bool:
    """Whether ``x`` is a large picture (``large`` of its size and device): band-wise work for it."""
    return x.dim() >= 2 and large(x.shape[-2:], x.device)


def folder() -> str:
    """Where the mapped files are made: ``$PAINTERLY_TMPDIR``, else the system's temporary folder."""
    return os.environ.get(FOLDER_VARIABLE) or tempfile.gettempdir()


def empty(shape: tuple[int, ...] | torch.Size, device: torch.device | str = "cpu") -> torch.Tensor:
    """An uninitialised float32 tensor of ``shape`` (..., H, W) on ``device``: in a mapped file when its picture is
    :func:`large` (then it reads as zeros until written), else in memory."""
    shape = tuple(int(s) for s in shape)
    if not large(shape[-2:], device):
        return torch.empty(shape, device=device)
    nbytes = 4 * math.prod(shape)
    where = folder()
    try:
        with tempfile.TemporaryFile(dir=where) as f:
            os.posix_fallocate(f.fileno(), 0, nbytes)  # no disk space is found out here, not as a crash mid-run
            mapped = mmap.mmap(f.fileno(), nbytes)
    except OSError as e:
        raise ConfigError(f"a {shape[-1]}x{shape[-2]} px picture needs {nbytes / 2**30:.1f} GB of disk space in "
                          f"{where} ({e.strerror}); free some there, or set {FOLDER_VARIABLE} to a folder that has "
                          "it") from None
    _live.add(mapped)
    return torch.frombuffer(mapped, dtype=torch.float32).view(shape)


def zeros(shape: tuple[int, ...] | torch.Size, device: torch.device | str = "cpu") -> torch.Tensor:
    """:func:`empty`, filled with zeros (a new mapped file already is)."""
    x = empty(shape, device)
    return x if large(x.shape[-2:], device) else x.zero_()


def mapped_bytes() -> int:
    """Bytes of the pictures kept in mapped files now (their disk space)."""
    return sum(len(m) for m in list(_live))


def mapped(x: torch.Tensor) -> bool:
    """Whether ``x`` lies in a picture kept in a mapped file (made by :func:`empty`)."""
    at = x.untyped_storage().data_ptr()
    for m in list(_live):
        start = ctypes.addressof(ctypes.c_char.from_buffer(m))
        if start <= at < start + len(m):
            return True
    return False


def trim() -> None:
    """Hand the pages of every mapped picture back to the operating system's file cache (their contents stay)."""
    for m in list(_live):
        m.madvise(mmap.MADV_DONTNEED)


def bands(hw: Size, channels: int) -> list[tuple[int, int]]:
    """[(top, bottom), ...]: the rows of a picture of ``hw`` with ``channels`` in bands of about :data:`BAND_BYTES`."""
    rows = max(1, BAND_BYTES // (4 * channels * max(int(hw[1]), 1)))
    return [(r, min(r + rows, int(hw[0]))) for r in range(0, int(hw[0]), rows)]


def each_band(hw: Size, channels: int) -> Iterator[tuple[int, int]]:
    """:func:`bands` one by one, trimming (:func:`trim`) after each: also after the last, and when the loop leaves early."""
    for band in bands(hw, channels):
        try:
            yield band
        finally:
            trim()


def channels(x: torch.Tensor) -> int:
    """The channels of a picture (..., C, H, W), or 1 of a plane (H, W)."""
    return x.shape[-3] if x.dim() > 2 else 1


def pixelwise(fn: Callable[..., torch.Tensor], *pictures: torch.Tensor) -> torch.Tensor:
    """``fn(*pictures)`` for a ``fn`` that works on each pixel (row) alone, on pictures of one size: whole for
    small pictures, else band by band into a new :func:`empty` picture, trimming after each band."""
    if not any(spilled(p) for p in pictures):
        return fn(*pictures)
    hw = pictures[0].shape[-2:]
    out: torch.Tensor | None = None
    for top, bottom in each_band(hw, max(channels(p) for p in pictures)):
        part = fn(*(p[..., top:bottom, :] for p in pictures))
        if out is None:
            out = empty((*part.shape[:-2], *hw), part.device)
        out[..., top:bottom, :] = part
    assert out is not None
    return out


def banded(fn: Callable[[torch.Tensor], torch.Tensor], picture: torch.Tensor, multiple: int = 1) -> torch.Tensor:
    """``fn(picture)`` for a ``fn`` that maps each band of ``multiple`` rows to its own rows of a smaller result
    (a pooling, say): whole for a small picture, else the results of bands of a multiple of ``multiple`` rows
    joined (in memory), trimming after each band."""
    if not spilled(picture):
        return fn(picture)
    step = -(-picture.shape[-2] // len(bands(picture.shape[-2:], picture.shape[-3])) // multiple) * multiple
    parts = []
    for top in range(0, picture.shape[-2], step):
        parts.append(fn(picture[..., top:top + step, :]))
        trim()
    return torch.cat(parts, -2)


def equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """``torch.equal`` of two pictures, a band at a time."""
    if a.shape != b.shape:
        return False
    if not (spilled(a) or spilled(b)):
        return torch.equal(a, b)
    return all(torch.equal(a[..., top:bottom, :], b[..., top:bottom, :].to(a.device))
               for top, bottom in each_band(a.shape[-2:], channels(a)))


def write_npy(f: BinaryIO, x: torch.Tensor) -> None:
    """``x`` (float32, C order) into ``f`` as a NumPy ``.npy`` file, a band of rows of each plane at a time."""
    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": tuple(x.shape)})
    for plane in x.detach().float().cpu().reshape(-1, *x.shape[-2:]):
        for top, bottom in each_band(x.shape[-2:], 1):
            f.write(plane[top:bottom].contiguous().numpy().tobytes())


def read_npy(path: str | os.PathLike) -> torch.Tensor:
    """A float32 ``.npy`` file (C order, at least 2-D) read into a new picture (:func:`empty`), a band at a time.
    Raises ValueError for any other or a short file."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if fortran or dtype != np.dtype("<f4") or len(shape) < 2:
            raise ValueError(f"{path}: not a float32 picture in C order")
        out = empty(shape)
        for plane in out.reshape(-1, *shape[-2:]):
            for top, bottom in each_band(shape[-2:], 1):
                data = f.read(4 * (bottom - top) * shape[-1])
                if len(data) != 4 * (bottom - top) * shape[-1]:
                    raise ValueError(f"{path}: ends early")
                plane[top:bottom] = torch.from_numpy(np.frombuffer(data, dtype="<f4").reshape(bottom - top, -1).copy())
        return out
