"""A large picture resized a band of rows at a time, as :func:`painterly.images.resize` resizes it whole.

torch's bicubic resize (antialiased or not) is separable: the output is ``Ry @ x @ Rx.T`` for one matrix per
axis. Each matrix is found by resizing the identity with torch itself, a block of its columns at a time, and
kept sparse (:class:`Taps`: each output row's few source rows and weights), so the result is torch's to the last
bits of rounding, and any band of output rows, read from the band of source rows it needs, costs memory in
proportion to the band (painterly.spill).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import spill

BLOCK = 256  # columns of the identity resized at a time


@dataclass(frozen=True)
class Taps:
    """One axis's resize from ``n_in`` to ``n_out``: output ``i`` is ``sum(weight[i] * input[index[i]])``
    (``index``, ``weight``: (n_out, T), padded with weight 0 on the row's first index)."""

    index: torch.Tensor
    weight: torch.Tensor

    @classmethod
    @functools.lru_cache(maxsize=32)  # a run resizes to and from the same sizes again and again
    def of(cls, n_in: int, n_out: int, antialias: bool) -> Taps:
        rows, cols, weights = [], [], []
        for j in range(0, n_in, BLOCK):
            width = min(BLOCK, n_in - j)
            eye = torch.zeros(1, 1, n_in, width)
            eye[0, 0, j + torch.arange(width), torch.arange(width)] = 1
            block = F.interpolate(eye, size=(n_out, width), mode="bicubic", align_corners=False, antialias=antialias)[0, 0]
            i, k = block.nonzero(as_tuple=True)
            rows.append(i)
            cols.append(k + j)
            weights.append(block[i, k])
        row, col, weight = torch.cat(rows), torch.cat(cols), torch.cat(weights)
        order = torch.argsort(row * n_in + col)
        row, col, weight = row[order], col[order], weight[order]
        counts = torch.bincount(row, minlength=n_out)
        width = int(counts.max())
        first = torch.cumsum(counts, 0) - counts
        slot = torch.arange(len(row)) - first[row]
        index = col[first][:, None].repeat(1, width)  # every output row has a tap
        index[row, slot] = col
        padded = torch.zeros(n_out, width)
        padded[row, slot] = weight
        return cls(index, padded)

    def matrix(self, start: int, stop: int) -> tuple[torch.Tensor, int, int]:
        """Outputs ``start:stop`` as a dense (stop - start, n) matrix on the inputs ``lo:lo + n``: (it, lo, lo + n)."""
        index, weight = self.index[start:stop], self.weight[start:stop]
        lo, hi = int(index.min()), int(index.max()) + 1
        m = torch.zeros(stop - start, hi - lo, dtype=torch.float64)
        m.scatter_add_(1, index - lo, weight.double())
        return m, lo, hi


@dataclass(frozen=True)
class Resampler:
    """The resize of pictures of ``in_hw`` to ``out_hw`` (bicubic; antialiased when ``antialias``), a region at a time."""

    rows: Taps
    cols: Taps

    @classmethod
    def of(cls, in_hw: tuple[int, int], out_hw: tuple[int, int], antialias: bool) -> Resampler:
        return cls(Taps.of(in_hw[0], out_hw[0], antialias), Taps.of(in_hw[1], out_hw[1], antialias))

    def region(self, x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
        """Rows ``top:bottom`` and columns ``left:right`` of ``x`` (..., H, W) resized, clamped to [0, 1]: read from
        the part of ``x`` they need."""
        my, r0, r1 = self.rows.matrix(top, bottom)
        mx, c0, c1 = self.cols.matrix(left, right)
        part = x[..., r0:r1, c0:c1].double()
        return (my @ part @ mx.T).to(x.dtype).clamp_(0, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """All of ``x`` resized, band by band, into a new picture (painterly.spill.empty)."""
        h, w = self.rows.index.shape[0], self.cols.index.shape[0]
        out = spill.empty((*x.shape[:-2], h, w), x.device)
        shrink = -(-x.shape[-2] * x.shape[-1] // (h * w))  # source pixels read per output pixel, at least 1
        for top, bottom in spill.each_band((h, w), spill.channels(x) * max(shrink, 1)):
            out[..., top:bottom, :] = self.region(x, top, bottom, 0, w)
        return out
