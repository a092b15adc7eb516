"""Does a picture painted in tiles show where they meet? Thin strips across the tile boundaries against
strips of the same size inside the tiles.

A tiled scale's tiles (painterly.tiles) are blended with feathers that cross at the middle of each overlap
(:func:`painterly.tiles.handovers`): a difference between two neighbouring tiles shows there, as a line
(the picture's pixels change faster across it) or a step in colour. For each such boundary, on each axis,
a strip ``width`` px wide centred on it and running the picture's whole length; inside, the strips of the
same width that tile the middle half of each tile's own part (:meth:`painterly.tiles.Blend.owned`: between
two boundaries, or a boundary and the picture's edge), as far from any boundary as the picture allows.
Two statistics per strip:

* ``energy``: the gradient energy across the strip, the mean squared difference of neighbouring pixels
  along the axis the strip crosses (RGB in [0, 1]): what a line or a step raises.
* ``color``: the colour step across the strip: the strip cut along its length into ``width`` x ``width``
  cells, the absolute difference of the mean colour of each cell's two halves (mean over RGB), averaged.

Each is reported as the mean over the boundary strips divided by the mean over the inside strips, each axis
against its own inside strips (a picture's rows and columns differ), the two axes' means summed. A picture
without seams scores about 1 on both (how far from 1 depends on how its content falls on the strips); a
visible seam raises them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .tiles import Size, handovers, spans

STRIP = 8  # px: a seam's line is a pixel or two wide; a strip of 8 sees it whole and little else


@dataclass(frozen=True)
class Seams:
    """Boundary strips against inside strips (see the module docstring): ``energy`` and ``color`` over both
    axes, ``by_axis`` the same per axis as {"rows"/"cols": (energy, color)} (rows: the horizontal boundaries,
    between rows of tiles), ``each`` every boundary strip's own (energy, color) against its axis's inside
    strips, in the order of the boundaries (to find the pair of tiles that shows), and how many strips each
    mean took (``boundaries``, ``inside``)."""

    energy: float
    color: float
    by_axis: dict[str, tuple[float, float]]
    each: dict[str, list[tuple[float, float]]]
    boundaries: int
    inside: int


def boundaries(hw: Size, tile: int, *, image_hw: Size | None = None) -> tuple[list[int], list[int]]:
    """(rows, cols): where the tiles of ``tile`` px of a scale of ``hw`` hand over to each other on each axis
    (:func:`painterly.tiles.spans`, :func:`painterly.tiles.handovers`), in px of a picture of ``image_hw``
    (default ``hw``: a coarser scale's boundaries where they lie in the finished picture)."""
    out = image_hw or hw

    def axis(k: int) -> list[int]:
        return [round(c * out[k] / hw[k]) for c in handovers(spans(hw[k], tile))]

    return axis(0), axis(1)


def inside_strips(cuts: list[int], length: int, width: int = STRIP) -> list[int]:
    """The centres of the strips of ``width`` px tiling the middle half of each part of ``0..length`` between
    ``cuts`` (the boundaries)."""
    bounds = [0, *cuts, length]
    centres: list[int] = []
    for a, b in zip(bounds, bounds[1:]):
        lo, hi = a + (b - a) // 4, b - (b - a) // 4
        centres += range(lo + width // 2, hi - width // 2 + 1, width)
    return centres


def _strip_stats(image: torch.Tensor, centre: int, width: int) -> tuple[float, float]:
    """(energy, colour step) of the strip of ``width`` columns of ``image`` (3, H, W) centred at ``centre``."""
    lo = min(max(centre - width // 2, 0), image.shape[-1] - width)
    strip = image[..., lo:lo + width].double()
    energy = strip.diff(dim=-1).pow(2).mean().item()
    cells = strip.shape[-2] // width
    halves = strip[:, :cells * width].reshape(3, cells, width, 2, width // 2).mean((2, 4))  # (3, cells, 2)
    return energy, (halves[..., 0] - halves[..., 1]).abs().mean().item()


def _axis(image: torch.Tensor, cuts: list[int], width: int) -> tuple[list[tuple[float, float]], list[float], int]:
    """Each boundary strip's (energy, colour) at ``cuts`` across the columns of ``image`` (3, H, W), the
    inside strips' mean (energy, colour), and how many inside strips."""
    inner = [_strip_stats(image, c, width) for c in inside_strips(cuts, image.shape[-1], width)]
    return [_strip_stats(image, c, width) for c in cuts], [sum(s[i] for s in inner) / len(inner) for i in (0, 1)], \
        len(inner)


def measure(image: torch.Tensor, tile: int, *, hw: Size | None = None, width: int = STRIP) -> Seams:
    """The seam measure (module docstring) of ``image`` ((1, 3, H, W) or (3, H, W), float in [0, 1]) painted
    in tiles of ``tile`` px at a scale of ``hw`` (default: the image's own size; a coarser scale's boundaries
    are measured where they lie in ``image``). ``width``: the strips' width in px (even)."""
    size: Size = (image.shape[-2], image.shape[-1])
    rows, cols = boundaries(hw or size, tile, image_hw=size)
    if not rows and not cols:
        raise ValueError(f"tiles of {tile} px: a {(hw or size)[1]}x{(hw or size)[0]} px scale is a single tile, "
                         "with no boundary to measure")
    return measure_at(image, rows, cols, width=width)


def measure_at(image: torch.Tensor, rows: list[int], cols: list[int], *, width: int = STRIP) -> Seams:
    """:func:`measure` with the boundaries given: ``rows`` (horizontal boundaries, px from the top) and
    ``cols`` (vertical ones, px from the left) of ``image`` ((1, 3, H, W) or (3, H, W))."""
    if width < 2 or width % 2:
        raise ValueError(f"width: expected an even number of px, at least 2, got {width}")
    if not rows and not cols:
        raise ValueError("no boundary to measure: expected at least one row or column")
    pic = image.reshape(-1, *image.shape[-2:])[:3]
    by_axis, each, sums, counts = {}, {}, [[0.0, 0.0], [0.0, 0.0]], [0, 0]
    for name, cuts, view in (("rows", rows, pic.transpose(-1, -2)), ("cols", cols, pic)):
        if not cuts:
            continue
        at, inner, n_inner = _axis(view, cuts, width)
        edge = [sum(a[i] for a in at) / len(at) for i in (0, 1)]
        by_axis[name] = (edge[0] / inner[0], edge[1] / inner[1])
        each[name] = [(e / inner[0], c / inner[1]) for e, c in at]
        for i in (0, 1):
            sums[0][i] += edge[i]
            sums[1][i] += inner[i]
        counts = [counts[0] + len(cuts), counts[1] + n_inner]
    return Seams(energy=sums[0][0] / sums[1][0], color=sums[0][1] / sums[1][1], by_axis=by_axis, each=each,
                 boundaries=counts[0], inside=counts[1])
