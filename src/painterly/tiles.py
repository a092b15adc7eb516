"""A scale painted in overlapping tiles, blended without a seam: the grid, the feather, the blend.

A scale larger than its tile (``--tile-size``, or the size the memory plan picks: painterly.memory)
is cut into a grid of tiles that overlap by :func:`overlap` px (an eighth of the tile, at least
:data:`MIN_OVERLAP`). Each tile is optimised on its own, from its crop of the scale's start (the
previous scale upsampled), by the engine (painterly.engine), so that memory is that of one tile.
The tiles are then blended with raised-cosine feathers: along each axis a tile's weight rises
over its overlap with the previous tile and falls over its overlap with the next, and the weights
are divided by their sum, so that they are smooth and sum to exactly 1 at every pixel. A tile's
2-D weight is the product of its row's and column's weights, so the 2-D weights sum to 1 too.

Tiles start on multiples of :data:`ALIGN` px (the stride of nnst's hypercolumns), so that a tile's
targets can be cut from those of a larger crop around it (:func:`margin`) on the same grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import spill
from .config import MIN_TILE_SIZE
from .memory import layer_values
from .neighbors import HYPERCOLUMN_LAYERS, HYPERCOLUMN_STRIDE

Size = tuple[int, int]
ALIGN = HYPERCOLUMN_STRIDE
MIN_OVERLAP = 64  # px: wider than the marks of the finer VGG layers, so that a feather hides them
OVERLAP_SHARE = 1 / 8
MIN_TILE = MIN_TILE_SIZE  # px: the overlap and 32 px more
# Values per pixel of the scale that a tiled scale keeps of the whole picture besides its tile's work (float32):
# its start (3), the blend and its weights (4), the photo at this scale (3), the blended result and the finishing
# colour map's temporaries (4). Besides: the photo at the output's size and as loaded, 3 values a pixel of their own
# sizes (:func:`whole_bytes`). The memory plan counts them (painterly.memory).
WHOLE_VALUES_PER_PIXEL = 14


def overlap(tile: int) -> int:
    """The overlap of neighbouring tiles of ``tile`` px: an eighth of it, at least :data:`MIN_OVERLAP`,
    rounded up to :data:`ALIGN`."""
    return _align_up(max(MIN_OVERLAP, math.ceil(tile * OVERLAP_SHARE)))


def _align_up(px: int) -> int:
    """``px`` rounded up to a multiple of :data:`ALIGN`."""
    return -(-px // ALIGN) * ALIGN


def spans(length: int, tile: int) -> list[tuple[int, int]]:
    """[(start, end), ...] of tiles of about ``tile`` px covering ``0..length``: one span if it fits; else as
    few as overlap by at least :func:`overlap` (less up to ``ALIGN - 1`` px where starts round down to
    :data:`ALIGN`), evenly spaced, each ``tile`` long but the last, which ends at ``length``."""
    if length <= tile:
        return [(0, length)]
    step = tile - overlap(tile)
    if step <= 0:
        raise ValueError(f"a tile of {tile} px is not wider than its overlap ({overlap(tile)} px)")
    n = math.ceil((length - tile) / step) + 1
    starts = [int(i * (length - tile) / (n - 1)) // ALIGN * ALIGN for i in range(n)]
    return [(s, s + tile) for s in starts[:-1]] + [(starts[-1], length)]


def handovers(parts: list[tuple[int, int]]) -> list[int]:
    """Where each of :func:`spans`' ``parts`` hands over to the next: the middle of their overlap, where the
    feathers cross (each weighs 1/2) and change fastest, so where a difference between two tiles would show
    as a seam. One fewer than ``parts``."""
    return [(b[0] + a[1]) // 2 for a, b in zip(parts, parts[1:])]


@dataclass(frozen=True)
class Tile:
    """A tile of a scale: its top-left corner and size in px, its place in the grid."""

    top: int
    left: int
    height: int
    width: int
    row: int = 0
    col: int = 0

    @property
    def hw(self) -> Size:
        return self.height, self.width

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """This tile of ``image`` (..., H, W) (a view)."""
        return image[..., self.top:self.top + self.height, self.left:self.left + self.width]


def grid(hw: Size, tile: int) -> list[Tile]:
    """The tiles of a scale of ``hw`` in tiles of ``tile`` px, row by row (:func:`spans` on each axis)."""
    rows, cols = spans(hw[0], tile), spans(hw[1], tile)
    return [Tile(t, left, b - t, r - left, i, j) for i, (t, b) in enumerate(rows) for j, (left, r) in enumerate(cols)]


def _rise(n: int) -> torch.Tensor:
    """``n`` samples of a raised cosine rising from near 0 to near 1 (never 0: every pixel has a tile)."""
    return 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(n, dtype=torch.float64) + 0.5) / n)


def _ramps(parts: list[tuple[int, int]], length: int) -> list[torch.Tensor]:
    """Each span's 1-D feather over its own pixels, normalised so that the spans' weights sum to 1."""
    raw = []
    for k, (s, e) in enumerate(parts):
        w = torch.ones(e - s, dtype=torch.float64)
        if k > 0 and parts[k - 1][1] > s:
            n = parts[k - 1][1] - s
            w[:n] = _rise(n)
        if k + 1 < len(parts) and parts[k + 1][0] < e:
            n = e - parts[k + 1][0]
            w[-n:] = torch.minimum(w[-n:], _rise(n).flip(0))
        raw.append(w)
    total = torch.zeros(length, dtype=torch.float64)
    for (s, e), w in zip(parts, raw):
        total[s:e] += w
    return [(w / total[s:e]).float() for (s, e), w in zip(parts, raw)]


class Blend:
    """The tiles (of ``tile`` px) of a scale that starts at ``start`` ((1, 3, H, W)) blended into one picture:
    ``add`` each painted tile; ``image()`` is the blend, with ``start`` where no tile has been added yet.

    The feathers (:meth:`weights`) sum to 1 at every pixel, so the blend of all tiles is their weighted sum.
    """

    def __init__(self, start: torch.Tensor, tile: int):
        self.start = start
        hw: Size = tuple(start.shape[-2:])  # type: ignore[assignment]
        self.tiles = grid(hw, tile)
        self.spans = spans(hw[0], tile), spans(hw[1], tile)
        self.rows = _ramps(self.spans[0], hw[0])
        self.cols = _ramps(self.spans[1], hw[1])
        self.sum = spill.zeros(start.shape, start.device)  # in mapped files at print size (painterly.spill)
        self.weight = spill.zeros(start[:, :1].shape, start.device)
        self._image: torch.Tensor | None = None

    def weights(self, t: Tile) -> torch.Tensor:
        """(1, 1, h, w): tile ``t``'s feather."""
        return (self.rows[t.row][:, None] * self.cols[t.col][None, :])[None, None].to(self.start)

    def owned(self, t: Tile) -> Tile:
        """The part of the picture nearer to tile ``t`` than to its neighbours: from the middle of its overlap
        with the previous tile to the middle of its overlap with the next, on each axis (the tiles' parts
        partition the picture)."""
        def part(parts: list[tuple[int, int]], k: int) -> tuple[int, int]:
            cuts = [0, *handovers(parts), parts[-1][1]]
            return cuts[k], cuts[k + 1]

        (top, bottom), (left, right) = part(self.spans[0], t.row), part(self.spans[1], t.col)
        return Tile(top, left, bottom - top, right - left, t.row, t.col)

    def add(self, t: Tile, painted: torch.Tensor) -> None:
        w = self.weights(t)
        t.crop(self.sum).add_(w * painted.detach().to(self.sum))
        t.crop(self.weight).add_(w)
        self._image = None

    def image(self) -> torch.Tensor:
        """The blend so far: painted tiles where they are, ``start`` for the rest of each pixel's weight (made once
        for the tiles added so far; a band at a time at print size)."""
        if self._image is None:
            self._image = spill.pixelwise(lambda s, w, x: s + (1 - w).clamp_min(0) * x, self.sum, self.weight, self.start)
        return self._image


def margin(t: Tile, hw: Size, extra: int) -> tuple[Tile, Tile]:
    """A crop of the scale (``hw``) around ``t`` reaching ``extra`` px further on each side (less at the
    picture's edges), and where ``t`` lies inside that crop. ``extra`` is rounded up to :data:`ALIGN`, so
    that ``t`` starts on the crop's grid of hypercolumns too."""
    extra = _align_up(extra)
    top, left = max(0, t.top - extra), max(0, t.left - extra)
    bottom, right = min(hw[0], t.top + t.height + extra), min(hw[1], t.left + t.width + extra)
    return Tile(top, left, bottom - top, right - left), Tile(t.top - top, t.left - left, t.height, t.width)


@dataclass(frozen=True)
class Window:
    """What a tile's objective is built from: the tile, and the scale's :class:`Blend`, which holds the
    whole scale's start ((1, 3, H, W), the previous scale upsampled; the tile's own start is
    ``tile.crop(start)``), every tile of the scale and their feathers."""

    tile: Tile
    blend: Blend

    @property
    def start(self) -> torch.Tensor:
        return self.blend.start

    @property
    def hw(self) -> Size:
        return tuple(self.start.shape[-2:])  # type: ignore[return-value]


def whole_bytes(hw: Size, out_hw: Size | None = None, source_hw: Size | None = None, spilled: bool = False) -> int:
    """Bytes a tiled scale of ``hw`` keeps of the whole picture in memory, in a run whose output is ``out_hw``
    (default ``hw``) from a photo loaded at ``source_hw`` (default ``hw``): :data:`WHOLE_VALUES_PER_PIXEL` a pixel of
    the scale, 3 a pixel of the photo at the output's size and 3 of the photo as loaded. ``spilled`` (on the CPU):
    pictures larger than :data:`painterly.spill.SPILL_PIXELS` are kept in mapped files instead, and the band-wise
    work on them takes :data:`painterly.spill.WORK_BYTES`."""
    out_hw, source_hw = out_hw or hw, source_hw or hw

    def held(size: Size) -> bool:  # in memory
        return not (spilled and spill.large(size))

    pictures = [(WHOLE_VALUES_PER_PIXEL, hw), (3, out_hw)]
    values = sum(n * size[0] * size[1] for n, size in pictures if held(size)) + 3 * source_hw[0] * source_hw[1]
    return 4 * values + (spill.WORK_BYTES if not all(held(size) for _, size in pictures) else 0)


def hypercolumn_pass_bytes(tile_hw: Size) -> int:
    """Bytes of nnst's search pass (no gradients) over a tile of ``tile_hw`` and its margin: every hypercolumn
    layer's activations, which the network returns together (neighbors.search_columns then projects them a layer
    at a time), and the widest layer's input."""
    seen = _with_margin(tile_hw)
    return 4 * (sum(layer_values(k, seen) for k in HYPERCOLUMN_LAYERS) + 64 * seen[0] * seen[1])


def search_bytes(tile_hw: Size) -> int:
    """Bytes of the search's pass (no gradients) over a tile of ``tile_hw`` and its margin: the widest
    layer's input and output (64 channels at full size, float32)."""
    seen = _with_margin(tile_hw)
    return 2 * 4 * 64 * seen[0] * seen[1]


def _with_margin(tile_hw: Size) -> Size:
    """The size the network sees of a tile of ``tile_hw`` in a pass over the whole picture: the tile and the
    tiles' overlap all round."""
    side = overlap(max(tile_hw))
    return tile_hw[0] + 2 * side, tile_hw[1] + 2 * side
