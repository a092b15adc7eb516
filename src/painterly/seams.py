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

How far from 1 can be far: with a handful of boundaries, one that falls on an edge of the photo itself (a
floor slab, a roofline) raises the mean as a seam would. Given the photo (at the picture's size), the
measure also gives both ratios over the cells where the photo is flat (``flat``): each strip is cut into
``width`` x ``width`` cells, and only the cells whose statistic in the photo is at most the
:data:`FLAT_QUANTILE` of the photo's inside cells are averaged, at the boundaries and inside. A seam runs
the boundary's whole length and shows most where the photo is flat (a sky, a wall), so it still shows
there; the photo's own edges do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .tiles import Size, handovers, spans

STRIP = 8  # px: a seam's line is a pixel or two wide; a strip of 8 sees it whole and little else
FLAT_QUANTILE = 0.9  # ``flat`` leaves out the cells where the photo's edges are among its inside cells' top tenth


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
    flat: tuple[float, float] | None = None  # (energy, color) over the cells where the photo is flat, if any


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


Cells = tuple[torch.Tensor, torch.Tensor]  # (energy, colour step) of each width x width cell along a strip


def _cells(image: torch.Tensor, centre: int, width: int) -> Cells:
    """Each cell's (energy, colour step) of the strip of ``width`` columns of ``image`` (3, H, W) centred at
    ``centre``, cut along its length into ``width`` x ``width`` cells."""
    lo = min(max(centre - width // 2, 0), image.shape[-1] - width)
    cells = image.shape[-2] // width
    strip = image[:, :cells * width, lo:lo + width].double().reshape(3, cells, width, width)
    halves = strip.reshape(3, cells, width, 2, width // 2).mean((2, 4))  # (3, cells, 2)
    return strip.diff(dim=-1).pow(2).mean((0, 2, 3)), (halves[..., 0] - halves[..., 1]).abs().mean(0)


def _strips(image: torch.Tensor, centres: list[int], width: int) -> Cells:
    """:func:`_cells` of the strips at ``centres``, one after another (each strip as many cells)."""
    strips = [_cells(image, c, width) for c in centres]
    return torch.cat([e for e, _ in strips]), torch.cat([c for _, c in strips])


def _flat(at: torch.Tensor, inside: torch.Tensor, photo_at: torch.Tensor,
          photo_inside: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The means of a cell statistic over the boundary cells (``at``) and the inside cells where the photo's
    (``photo_at``, ``photo_inside``) is at most its inside cells' :data:`FLAT_QUANTILE`; None where no
    boundary cell is."""
    most = photo_inside.quantile(FLAT_QUANTILE)
    return (at[photo_at <= most].mean(), inside[photo_inside <= most].mean()) if (photo_at <= most).any() else None


def measure(image: torch.Tensor, tile: int, *, hw: Size | None = None, width: int = STRIP,
            content: torch.Tensor | None = None) -> Seams:
    """The seam measure (module docstring) of ``image`` ((1, 3, H, W) or (3, H, W), float in [0, 1]) painted
    in tiles of ``tile`` px at a scale of ``hw`` (default: the image's own size; a coarser scale's boundaries
    are measured where they lie in ``image``). ``width``: the strips' width in px (even). ``content``: the
    photo at the image's size, for ``flat``."""
    size: Size = (image.shape[-2], image.shape[-1])
    rows, cols = boundaries(hw or size, tile, image_hw=size)
    if not rows and not cols:
        raise ValueError(f"tiles of {tile} px: a {(hw or size)[1]}x{(hw or size)[0]} px scale is a single tile, "
                         "with no boundary to measure")
    return measure_at(image, rows, cols, width=width, content=content)


def measure_at(image: torch.Tensor, rows: list[int], cols: list[int], *, width: int = STRIP,
               content: torch.Tensor | None = None) -> Seams:
    """:func:`measure` with the boundaries given: ``rows`` (horizontal boundaries, px from the top) and
    ``cols`` (vertical ones, px from the left) of ``image`` ((1, 3, H, W) or (3, H, W))."""
    if width < 2 or width % 2:
        raise ValueError(f"width: expected an even number of px, at least 2, got {width}")
    if not rows and not cols:
        raise ValueError("no boundary to measure: expected at least one row or column")
    pic = image.reshape(-1, *image.shape[-2:])[:3]
    photo = None if content is None else content.reshape(-1, *content.shape[-2:])[:3]
    if photo is not None and photo.shape != pic.shape:
        raise ValueError(f"content: expected the photo at the picture's size {tuple(pic.shape[-2:])}, "
                         f"got {tuple(photo.shape[-2:])}")
    by_axis, each, counts = {}, {}, [0, 0]
    sums = torch.zeros(4, 2, dtype=torch.float64)  # boundary, inside, both where flat; x (energy, colour)
    for name, cuts, flip in (("rows", rows, True), ("cols", cols, False)):
        if not cuts:
            continue
        view = pic.transpose(-1, -2) if flip else pic
        inner_at = inside_strips(cuts, view.shape[-1], width)
        at, inner = _strips(view, cuts, width), _strips(view, inner_at, width)
        edge = torch.stack([s.reshape(len(cuts), -1).mean(1) for s in at], 1)  # (boundaries, 2)
        mean_in = torch.stack([s.mean() for s in inner])
        by_axis[name] = tuple((edge.mean(0) / mean_in).tolist())
        each[name] = [tuple(row) for row in (edge / mean_in).tolist()]
        sums[0] += edge.mean(0)
        sums[1] += mean_in
        if photo is not None:
            pview = photo.transpose(-1, -2) if flip else photo
            p_at, p_in = _strips(pview, cuts, width), _strips(pview, inner_at, width)
            for i, (cells_at, cells_in) in enumerate(zip(at, inner)):
                means = _flat(cells_at, cells_in, p_at[i], p_in[i])
                if means is not None:
                    sums[2:, i] += torch.stack(means)
        counts = [counts[0] + len(cuts), counts[1] + len(inner_at)]
    ratio = (sums[0] / sums[1]).tolist()
    flat = tuple((sums[2] / sums[3]).tolist()) if photo is not None and bool(sums[3].all()) else None
    return Seams(energy=ratio[0], color=ratio[1], by_axis=by_axis, each=each, boundaries=counts[0],
                 inside=counts[1], flat=flat)
