"""Neural Neighbor Style Transfer (Kolkin, Kucera, Paris, Sykora, Shechtman, Shakhnarovich, 2022).

Pure functions and the objective of one scale, reimplemented from the paper on VGG19:

* the output is optimised as Laplacian-pyramid coefficients (painterly.pyramid), so that a step moves a
  whole region's colour as readily as an edge;
* each position's *hypercolumn* (the activations of every ReLU of blocks 1 to 4, each layer divided by
  its channel count so that no layer dominates, resized to a quarter of the image) is replaced by its
  nearest neighbour among the painting's hypercolumns, taken from the painting and its three
  rotations (:func:`nearest`, centred cosine distance); the output is pulled towards those replaced
  features (:class:`NeighborObjective`, cosine distance);
* the search runs on a blend of the photo and the current output (three quarters of the output; the
  paper takes a quarter), so the photo chooses which of the painting's features go where at the coarse
  scales and the marks painted there choose them at the finer ones;
* the search compares colours as well as features (:data:`COLOUR_SHARE`): a position whose colour at the
  scale's start (the photo in the painting's palette, then the coarser scale's output) is the painting's
  sky takes the marks of the painting's sky, not those of whatever region has the nearest texture;
* at the last scale, each layer is also matched on its own (painterly.layermatch, the paper's last pass).

Why no motif is copied: a distribution loss asks the output to hold *all* of the painting's features (a
portrait's eyes must go somewhere); a nearest-neighbour target only those nearest to something in the photo.

Deviations from the paper's code (VGG16, CUDA): VGG19's ReLUs of blocks 1-4 (12 layers, not 10); the
search compares the hypercolumns' leading principal components (:data:`SEARCH_DIMS`: a small matrix
product on a CPU; the targets are the full hypercolumns, in float16) and colour (:data:`COLOUR_SHARE`); at
most :data:`MAX_BANK_ROWS` of the painting's hypercolumns, read in blocks (:func:`painting_columns`), so
that memory is bounded at any size; Adam on the image clamped to [0, 1] (the cosine cannot see contrast;
a pixel pushed outside is pulled back, :data:`OUTSIDE_WEIGHT`), with a larger step and fewer iterations
(config.OPTIMIZERS says why not L-BFGS); colours corrected by the optimal-transport map of the output's
colour moments to the painting's (painterly.plan's palette map), not the paper's re-coloured photo chroma.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import layermatch, spill, vgg
from .features import VGG19Features
from .pyramid import half, up
from .turns import turned_crop, turned_hw, turned_region

HYPERCOLUMN_LAYERS: tuple[str, ...] = tuple(n for n in vgg.RELU_LAYERS if vgg.block(n) <= 4)  # block 5: slower, no better
HYPERCOLUMN_CHANNELS = sum(vgg.channels(k) for k in HYPERCOLUMN_LAYERS)  # 3456
HYPERCOLUMN_STRIDE = 4  # hypercolumns at a quarter of the image's side
SEARCH_DIMS = 256  # principal components the search compares
AXES_ROWS = 2**13  # rows of the painting's hypercolumns the principal components are found from
MAX_BANK_ROWS = 2**16  # the painting's hypercolumns kept (evenly spaced) beyond this: bounded memory at any size
SEARCH_BLOCK = 2**24  # elements of a query-by-reference distance block (64 MB of float32)
# The current output's share in the searched image (the paper: a quarter): at 512 px a half leaves Tübingen's
# houses photo-crisp under small marks, three quarters repaints them in the painting's strokes, all runs over them.
OUTPUT_SHARE = 0.75
# The colour's weight in the search: each 4 px cell's mean colour, scaled to this share of the length of the
# projected features (both centred). By features alone a smooth sky took the painting's smoothest region, whatever
# its colour (Golden Gate x The Scream: the boardwalk's grey hatching, not the sky's orange bands). 0: features only.
COLOUR_SHARE = 0.5


# Hypercolumns and the nearest-neighbour search -----------------------------------------------
def hypercolumns(feats: dict[str, torch.Tensor], hw: Sequence[int],
                 layers: Sequence[str] = HYPERCOLUMN_LAYERS) -> torch.Tensor:
    """(1, sum C, h, w): the ``layers`` of ``feats``, each divided by its channel count and resized to ``hw``
    (bilinear), stacked along channels."""
    return torch.cat([up(feats[k].float(), hw) / feats[k].shape[1] for k in layers], 1)


def column_size(image_hw: Sequence[int]) -> tuple[int, int]:
    """The hypercolumn map's (h, w) for an image of ``image_hw``."""
    return max(1, int(image_hw[0]) // HYPERCOLUMN_STRIDE), max(1, int(image_hw[1]) // HYPERCOLUMN_STRIDE)


def cell_colours(image: torch.Tensor) -> torch.Tensor:
    """(1, 3, h, w): the mean colour of each hypercolumn's cell of ``image`` (1, 3, H, W) (:func:`column_size`)."""
    h, w = column_size(image.shape[-2:])
    return spill.banded(lambda x: F.avg_pool2d(x.float(), HYPERCOLUMN_STRIDE, ceil_mode=True), image,
                        HYPERCOLUMN_STRIDE)[..., :h, :w]


def nearest(queries: torch.Tensor, refs: torch.Tensor, *, block: int = SEARCH_BLOCK,
            centre: torch.Tensor | None = None) -> torch.Tensor:
    """For each row of ``queries`` (N, D), the index of its nearest row of ``refs`` (M, D).

    The distance is the paper's centred cosine distance: each set is centred on its own mean, then
    rows are compared by the cosine of their angle; ``centre`` (D,): the queries' centre instead of their
    mean (a tile's queries are centred on the whole picture's mean). Queries go ``block // M`` rows at a
    time, so the distance matrix never holds more than ``block`` elements.
    """
    q, r = layermatch.unit_centred(queries.float(), centre), layermatch.unit_centred(refs.float())
    rows = max(1, block // max(r.shape[0], 1))
    return torch.cat([(q[i:i + rows] @ r.T).argmax(1) for i in range(0, q.shape[0], rows)])


def principal_axes(x: torch.Tensor, dims: int) -> torch.Tensor:
    """(D, k) leading principal directions of the rows of ``x`` (N, D), k = min(dims, D, N). Exact (an SVD) when k
    is the whole rank; otherwise a randomized range finder (Halko, Martinsson and Tropp 2011, three power iterations)
    from its own fixed-seed generator: the same axes every run, no global random state touched (two painters may
    run in two threads)."""
    centred = x - x.mean(0, keepdim=True)
    k = min(dims, *centred.shape)
    if k == min(centred.shape):
        return torch.linalg.svd(centred, full_matrices=False).Vh[:k].T
    sketch = torch.randn(centred.shape[1], min(k + 16, min(centred.shape)),
                         generator=torch.Generator().manual_seed(0)).to(centred)
    basis = torch.linalg.qr(centred @ sketch).Q
    for _ in range(3):
        basis = torch.linalg.qr(centred @ torch.linalg.qr(centred.T @ basis).Q).Q
    return torch.linalg.svd(basis.T @ centred, full_matrices=False).Vh[:k].T


def _columns(hw: Sequence[int]) -> int:
    """How many hypercolumns :func:`painting_columns` reads from an image of ``hw``."""
    h, w = column_size(_read_size(int(hw[0]), int(hw[1])))
    return h * w


def _evenly(rows: torch.Tensor, n: int) -> torch.Tensor:
    """At most ``n`` of ``rows``, evenly spaced."""
    return rows if len(rows) <= n else rows[torch.linspace(0, len(rows) - 1, n).long()]


# The painting is read in square blocks of about this many pixels and a margin (seen, not kept): the bank's
# transient memory (a block's activations, about 1.2 kB a pixel) is bounded at any size (:func:`block_pixels`).
BLOCK_PIXELS = 2**16
WHOLE_PIXELS = 2**18  # a painting up to this many pixels (a 512 px scale's) is read in one piece (0.37 GB), uncropped
BLOCK_MARGIN, BLOCK_BYTES_PER_PIXEL = 64, 1400  # px, a multiple of 8 (block 4's pooling grid); bytes a pixel seen
Block = tuple[int, int, int, int]  # top, bottom, left, right (px)


def blocks(height: int, width: int) -> list[Block]:
    """The blocks an image of ``height`` x ``width`` is read in, row by row: one if it has at most
    :data:`WHOLE_PIXELS`, else squares of about :data:`BLOCK_PIXELS` px on multiples of 32 px (the pooling grid
    of blocks 1-4 and the hypercolumn stride)."""
    if height * width <= WHOLE_PIXELS:
        return [(0, height, 0, width)]
    side = max(32, int(BLOCK_PIXELS**0.5) // 32 * 32)
    return [(t, min(height, t + side), left, min(width, left + side))
            for t in range(0, height, side) for left in range(0, width, side)]


def _seen(b: Block, height: int, width: int) -> Block:  # the block with its margin, within the image
    return (max(0, b[0] - BLOCK_MARGIN), min(height, b[1] + BLOCK_MARGIN),
            max(0, b[2] - BLOCK_MARGIN), min(width, b[3] + BLOCK_MARGIN))


def block_pixels(height: int, width: int) -> int:
    """The most pixels the network sees at once while :func:`painting_columns` reads such an image."""
    t, b, left, r = blocks(height, width)[0]  # an inner block's, with its margin all round
    return min(height, b - t + 2 * BLOCK_MARGIN) * min(width, r - left + 2 * BLOCK_MARGIN)


def _read_size(h: int, w: int) -> tuple[int, int]:
    """The size of an image of ``h`` x ``w`` as :func:`painting_columns` reads it: whole if it is one block
    (:data:`WHOLE_PIXELS`), else cropped to multiples of 32 px (at most 31 px of its right and bottom edges), so
    that each block sees the whole image's pooling grid."""
    return (h, w) if len(blocks(h, w)) == 1 else (max(32, h // 32 * 32), max(32, w // 32 * 32))


def painting_columns(extractor: VGG19Features, image: torch.Tensor, keep: int | None = None,
                     turn: int = 0) -> torch.Tensor:
    """(n, C) float16: ``keep`` of the hypercolumns of ``image`` (1, 3, H, W; all if None) turned by ``turn``
    quarter turns, evenly spaced in raster order, computed block by block (:func:`blocks`, each turned alone:
    :func:`turned_crop`) with a margin, so that at most one block's activations and the kept rows are alive.
    The turned image is cropped to :func:`_read_size` first: the rows are then the whole image's (cosine 1.0 on a
    painting read in six blocks)."""
    height, width = _read_size(*turned_hw(image.shape[-2:], turn))
    h, w = column_size((height, width))
    chosen = _evenly(torch.arange(h * w), h * w if keep is None else keep)
    row, col, s = chosen // w, chosen % w, HYPERCOLUMN_STRIDE
    out = torch.empty(len(chosen), HYPERCOLUMN_CHANNELS, dtype=torch.float16, device=image.device)
    for b in blocks(height, width):
        here = ((row >= b[0] // s) & (row < b[1] // s) & (col >= b[2] // s) & (col < b[3] // s)).nonzero()[:, 0]
        if not len(here):
            continue
        top, bottom, left, right = _seen(b, height, width)
        with torch.no_grad():
            feats = extractor(turned_crop(image, turn, top, bottom, left, right), HYPERCOLUMN_LAYERS)
        at = (row[here] - top // s) * ((right - left) // s) + col[here] - left // s  # in the seen block's columns
        start = 0
        for k in HYPERCOLUMN_LAYERS:  # a layer at a time: the block's hypercolumns are never stacked
            part = hypercolumns({k: feats.pop(k)}, column_size((bottom - top, right - left)), (k,))[0].flatten(1)
            out[here, start:start + part.shape[0]] = part.T[at].half()
            start += part.shape[0]
            del part
        spill.trim()  # the block's pages of a painting kept in a mapped file (painterly.spill)
    return out


def painting_colours(image: torch.Tensor, keep: int | None = None, turn: int = 0) -> torch.Tensor:
    """(n, 3): the cell colours (:func:`cell_colours`) of the rows that :func:`painting_columns` keeps of ``image``
    turned by ``turn``. A painting read in blocks (its size a multiple of 32 px) has its cells' colours taken
    before it is turned and the cells turned after, so that no turned copy of it is made."""
    height, width = _read_size(*turned_hw(image.shape[-2:], turn))
    if len(blocks(height, width)) > 1:
        cells = torch.rot90(cell_colours(turned_region(image, turn, 0, height, 0, width)), turn % 4, dims=(-2, -1))
    else:
        cells = cell_colours(turned_crop(image, turn, 0, height, 0, width))
    colours = cells[0].flatten(1).T
    return _evenly(colours, len(colours) if keep is None else keep)


def bank_bytes(hw: Sequence[int], style_long_edges: Sequence[int], spilled: bool = False) -> int:
    """Bytes a scale (or a tile of it) of ``hw`` adds for its :class:`StyleBank` (style images of these long edges,
    taken square) and its targets (the memory plan's, painterly.memory); ``spilled``: on the CPU (painterly.spill)."""
    rows = min(MAX_BANK_ROWS, sum(4 * (e // HYPERCOLUMN_STRIDE) ** 2 for e in style_long_edges))
    h, w = column_size(hw)
    # The bank (float16) and its projection; the targets and the output's resized layers kept for the backward pass
    # (float32, :func:`cosine_to`); one block of distances; the paintings resized to the scale (a large one in a mapped
    # file) and one block of the one being read (:func:`painting_columns`, turned a block at a time: painterly.turns);
    # the last scale's layer match (painterly.layermatch).
    block = max((block_pixels(e, e) for e in style_long_edges), default=0) * BLOCK_BYTES_PER_PIXEL
    paintings = sum(4 * 3 * (min(e * e, spill.SPILL_PIXELS) if spilled else e * e) for e in style_long_edges)
    return rows * (2 * HYPERCOLUMN_CHANNELS + 4 * SEARCH_DIMS) + 4 * (2 * h * w * HYPERCOLUMN_CHANNELS + SEARCH_BLOCK) \
        + paintings + block + layermatch.work_bytes(HYPERCOLUMN_CHANNELS)


@dataclass(frozen=True)
class StyleBank:
    """The painting's hypercolumns at one scale, as rows (M, C) in float16 (the targets are
    normalised, so half precision loses nothing that matters and halves the memory), the search's
    axes (C, k), and what the search compares (M, k + 3): each row's projection on the axes and its
    cell's colour times ``colour_scale`` (:data:`COLOUR_SHARE`)."""

    columns: torch.Tensor
    axes: torch.Tensor
    searched: torch.Tensor
    colour_scale: float

    @classmethod
    def of(cls, extractor: VGG19Features, styles: Sequence[torch.Tensor], weights: Sequence[float]) -> StyleBank:
        """Rows from every style image (each already at this scale's size) and its rotations.

        Several styles contribute rows in proportion to their blend ``weights`` (a style with weight
        0 contributes none): the nearest neighbour of a feature is then the nearest among them all.
        """
        used = [(style, w / max(weights)) for style, w in zip(styles, weights) if w > 0]
        total = sum(w * _columns(turned_hw(style.shape[-2:], turn)) for style, w in used for turn in range(4))
        share = min(1.0, MAX_BANK_ROWS / total)  # at most MAX_BANK_ROWS in all, evenly
        reads = [(style, turn, max(1, int(w * _columns(turned_hw(style.shape[-2:], turn)) * share)))
                 for style, w in used for turn in range(4)]
        # Read into the bank's rows (never two copies of it), each turned a block at a time (painterly.turns).
        columns = used[0][0].new_empty(sum(keep for *_, keep in reads), HYPERCOLUMN_CHANNELS, dtype=torch.float16)
        for (style, turn, keep), at in zip(reads, [0, *itertools.accumulate(keep for *_, keep in reads)]):
            columns[at:at + keep] = painting_columns(extractor, style, keep, turn)
        colours = [painting_colours(style, keep, turn) for style, turn, keep in reads]
        return cls.of_rows(_evenly(columns, MAX_BANK_ROWS), _evenly(torch.cat(colours), MAX_BANK_ROWS))

    @classmethod
    def of_rows(cls, columns: torch.Tensor, colours: torch.Tensor) -> StyleBank:
        """A bank of these rows (N, C) and their cells' colours (N, 3): the principal axes from at most
        :data:`AXES_ROWS` of the rows, the colours' scale from their spread and the projections'."""
        columns = columns.half()
        axes = principal_axes(_evenly(columns, AXES_ROWS).float(), SEARCH_DIMS)
        projected = torch.cat([block.float() @ axes for block in columns.split(AXES_ROWS)])
        colours = colours.float().to(projected.device)
        spread = (colours - colours.mean(0)).norm(dim=1).mean()
        scale = COLOUR_SHARE * float((projected - projected.mean(0)).norm(dim=1).mean() / spread.clamp_min(1e-8))
        return cls(columns, axes, torch.cat([projected, colours * scale], 1), scale)

    def search_rows(self, projected: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
        """(N, k + 3): what the search compares of queries ``projected`` (N, k) whose cells have ``colours`` (N, 3)."""
        return torch.cat([projected.float(), colours.float() * self.colour_scale], 1)

    def replace(self, projected: torch.Tensor, colours: torch.Tensor, centre: torch.Tensor | None = None) -> torch.Tensor:
        """Each query (:meth:`search_rows`) replaced by its nearest neighbour among the bank's rows (float32, (N, C));
        ``centre``: the searched queries' centre (:func:`nearest`), if not their own mean."""
        return self.columns[nearest(self.search_rows(projected, colours), self.searched, centre=centre)].float()

    def centre_of(self, projected: torch.Tensor, colours: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The sum of :meth:`search_rows` and their number: summed over a picture's tiles, the whole picture's centre."""
        return self.search_rows(projected, colours).sum(0), projected.shape[0]


# The loss is bounded (a cosine distance, at most 2 per position), so the optimiser's 1e6x guard never fires:
# a step that doubles it has sent the image out of [0, 1], where the clamp leaves no gradient, and the
# scale would end where it started (seen at 384 px with the earlier content weight). Such a step is undone.
BLOWUP = 2.0
# The pull back into [0, 1] of a pixel the optimiser moved outside (squared excess, per pixel, times the
# style weight): on Tübingen x The Scream at 128 px, 1 and 10 both let the 64 px scale converge (2.5e6 and
# 2.4e6 from 3.4e6), where without it that scale ends at its start.
OUTSIDE_WEIGHT = 10.0

CONTENT_LAYER = "relu4_2"  # in the hypercolumn already: the content term costs nothing more
# The content term's weight is ``--content-weight`` times this: the default 5 makes it 0.2 of the relative
# relu4_2 error squared, against the cosine distance. With the last pass (512 px, eval's content against
# neural-style's results), half of it let the photo drift: 0.75 against 0.73 on Tübingen x The Shipwreck,
# 0.73 against 0.61 on Golden Gate x The Scream; this: 0.64 and 0.62, the marks the same (docs/quality.md).
CONTENT_SCALE = 0.04


class NeighborObjective:
    """One scale of Neural Neighbor Style Transfer: ``objective(image) -> (loss, terms)``.

    The targets are set from the first image it is given, the scale's start (the engine's
    optimiser evaluates there first): the hypercolumns of ``OUTPUT_SHARE`` of that image (with the
    photo's own finest detail in place of the output's) blended with the photo, each replaced by
    its nearest neighbour in ``bank`` (by those features and the start's colours). The loss is the
    mean cosine distance between the output's hypercolumns and those targets, plus ``content_weight``
    times the squared relative error of the photo's relu4_2 (not in the paper: it holds the photo's
    structure where the painting has nothing near), plus, with ``final`` (the last scale), the
    layer-by-layer match (painterly.layermatch), all times ``weight``.

    A tile of a larger scale (painterly.tiles) gets the targets the whole picture would give its pixels:
    ``search``, a crop of the whole picture's :func:`search_image` reaching beyond the tile; ``inner``, where
    the tile lies in it (on a multiple of :data:`HYPERCOLUMN_STRIDE`); ``centre``, the whole picture's centre
    of the search (:meth:`StyleBank.centre_of`); ``bank``, the whole painting's, built once per scale.
    """

    def __init__(self, extractor: VGG19Features, content: torch.Tensor, bank: StyleBank, *,
                 weight: float = 1.0, content_weight: float = 0.0, output_share: float = OUTPUT_SHARE,
                 search: torch.Tensor | None = None, inner: tuple[int, int] | None = None,
                 centre: torch.Tensor | None = None, final: bool = False):
        self.extractor, self.content, self.bank = extractor, content, bank
        self.weight, self.content_weight, self.output_share = weight, content_weight, output_share
        self.search, self.inner, self.centre = search, inner, centre
        self.layer_match = layermatch.LayerMatch(bank.columns, HYPERCOLUMN_LAYERS) if final else None
        self.targets: torch.Tensor | None = None
        self.content_target: torch.Tensor | None = None

    def set_targets(self, start: torch.Tensor) -> None:
        """The replaced features for a scale that starts at ``start`` ((1, 3, H, W), the photo's size)."""
        content = self.content.to(start.device)
        searched = search_image(content, start, self.output_share) if self.search is None else self.search.to(start)
        with torch.no_grad():
            hw = (int(start.shape[-2]), int(start.shape[-1]))
            projected, colours = search_columns(self.extractor, searched, self.bank.axes, self.inner, hw), cell_colours(start)
            replaced = self.bank.replace(projected, colours[0].flatten(1).T, self.centre)
            if self.content_weight > 0:
                self.content_target = self.extractor(content, (CONTENT_LAYER,))[CONTENT_LAYER].float()
        self.targets = F.normalize(replaced.T.reshape(1, -1, *colours.shape[-2:]), dim=1)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # The network sees the image as it will be saved, clamped to [0, 1]: the cosine distance ignores
        # a feature's magnitude, and unclamped the optimiser drives the contrast past white and black.
        seen = image.clamp(0, 1)
        if self.targets is None:
            self.set_targets(seen.detach())
        assert self.targets is not None
        feats = self.extractor(seen, HYPERCOLUMN_LAYERS)
        style = self.weight * (1 - cosine_to(feats, self.targets)).mean()
        terms = {"style": style.detach()}
        if self.layer_match is not None:
            layers = self.weight * layermatch.WEIGHT * self.layer_match(feats)
            terms["layers"], style = layers.detach(), style + layers
        # The clamp gives a pixel outside [0, 1] no gradient: without this pull back, one long step leaves
        # the scale stuck where it started (Tübingen x The Scream: every scale, the result a blurred photo).
        total = style + self.weight * OUTSIDE_WEIGHT * (image - seen).pow(2).mean()
        if self.content_target is not None:
            target = self.content_target
            content = self.weight * self.content_weight * F.mse_loss(feats[CONTENT_LAYER].float(), target) \
                / target.pow(2).mean().clamp_min(1e-12)
            terms["content"] = content.detach()
            total = total + content
        return total, terms


def search_columns(extractor: VGG19Features, searched: torch.Tensor, axes: torch.Tensor,
                   inner: tuple[int, int] | None = None, hw: tuple[int, int] | None = None) -> torch.Tensor:
    """(h * w, k): the hypercolumns of ``searched`` projected on ``axes`` (C, k), a layer at a time (never stacked);
    with ``inner``, only those of the ``hw`` px region at ``inner`` (a multiple of :data:`HYPERCOLUMN_STRIDE`)."""
    feats, grid = extractor(searched, HYPERCOLUMN_LAYERS), column_size(searched.shape[-2:])
    (h, w), top, left = (grid, 0, 0) if inner is None or hw is None else \
        (column_size(hw), inner[0] // HYPERCOLUMN_STRIDE, inner[1] // HYPERCOLUMN_STRIDE)
    out, start = torch.zeros(h * w, axes.shape[1], device=searched.device), 0
    for k in HYPERCOLUMN_LAYERS:
        part = hypercolumns({k: feats.pop(k)}, grid, (k,))[0, :, top:top + h, left:left + w].flatten(1)
        out += part.T @ axes[start:start + part.shape[0]].to(part)
        start += part.shape[0]
    return out


def search_image(content: torch.Tensor, start: torch.Tensor, output_share: float = OUTPUT_SHARE) -> torch.Tensor:
    """The image whose features are searched for a scale that starts at ``start``: ``output_share`` of the
    start, with the photo's finest octave of detail in place of the upsampled output's blur, and the rest
    the photo (``content``, the same size). Local (a few px around each pixel): a crop of the inputs gives
    the crop of the whole picture's search image, away from the crop's edges."""
    detail = content - up(half(content), content.shape[-2:])
    return output_share * (up(half(start), start.shape[-2:]) + detail) + (1 - output_share) * content


def cosine_to(feats: dict[str, torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """(1, h, w): the cosine of each position's hypercolumn of ``feats`` with unit ``targets`` (1, C, h, w).

    The same as ``(F.normalize(hypercolumns(feats, (h, w)), dim=1) * targets).sum(1)``, a layer at a
    time: the stacked hypercolumns and their normalised copy are never made, so autograd keeps one
    resized copy of each layer instead of four of the whole (at 2048 px, 3.6 GB a copy).
    """
    hw = targets.shape[-2:]
    dot = norm2 = torch.zeros((), device=targets.device)
    start = 0
    for k in HYPERCOLUMN_LAYERS:
        part = up(feats[k].float(), hw) / feats[k].shape[1]
        c = part.shape[1]
        dot = dot + (part * targets[:, start:start + c]).sum(1)
        norm2 = norm2 + part.pow(2).sum(1)
        start += c
    return dot / norm2.sqrt().clamp_min(1e-8)
