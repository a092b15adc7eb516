"""``--method gatys`` in tiles: a tile's share of the whole picture's sliced-Wasserstein style loss.

The sliced-Wasserstein loss (painterly.losses) pulls each projection of the output's features to the
painting's value *at its rank*: the output's distribution, as a whole, becomes the painting's. Applied
to one tile, it would pull that tile's distribution to the whole painting's: a tile of sky would be
made to hold the painting's houses too. Here a tile's values are ranked within the **whole picture's**
distribution instead, and the painting's values at those ranks are the tile's share of the painting:
the tile's distribution is pulled to that share. So a tile of sky keeps the ranks of a sky and takes
the painting's values for those ranks, as it would in the whole picture.

The whole picture's distribution is that of the scale's start (the previous scale upsampled), from one
pass over the tiles (each with a margin, no gradients) before the first tile, at most
:data:`SAMPLES` positions per layer, evenly spaced. A tile's share of the painting's values is chosen
by its start values' ranks and kept (:class:`TileStyleLoss`): a deviation from a whole scale's loss,
whose ranks follow the whole current image at every iteration. On the finest scales, which only
refine, ranks move little. Only ``--style-loss swd`` (the default): a Gram
matrix or a mean and covariance has no per-position ranks to share out.
"""

from __future__ import annotations

import torch

from . import memory, spill, tiles, vgg
from .features import VGG19Features, sample_grid
from .losses import (
    SWD_QUANTILES,
    StyleLoss,
    at_positions,
    matched_quantiles,
    resample_sorted,
    swd_directions,
    swd_loss,
)

SAMPLES = 2**14  # positions per layer kept of the whole picture's features


def sample_bytes(layers: tuple[str, ...]) -> int:
    """Bytes of :func:`whole_projections`'s result (float32, :data:`SAMPLES` per direction, one direction per channel)."""
    return 4 * SAMPLES * sum(vgg.channels(k) for k in layers)


@torch.no_grad()
def whole_projections(extractor: VGG19Features, layers: tuple[str, ...], blend: tiles.Blend) -> dict[str, torch.Tensor]:
    """Per layer, the whole picture's features (``blend.start``) projected on the sliced-Wasserstein
    directions and sorted: (K, M), M at most about :data:`SAMPLES`. Tile by tile, each computed with a margin
    of the tiles' overlap; each position counted once (the tile nearest to it: :meth:`painterly.tiles.Blend.owned`)."""
    hw = blend.start.shape[-2:]
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in layers}
    for t in blend.tiles:
        outer, _ = tiles.margin(t, (hw[0], hw[1]), tiles.overlap(max(t.hw)))
        own = blend.owned(t)
        feats = extractor(outer.crop(blend.start), layers)
        for k in layers:
            s, every = sample_grid((hw[0], hw[1]), k, SAMPLES)  # the same grid of samples in every tile
            f = feats[k].float()[0]
            rows = slice((own.top - outer.top) // s, -(-(own.top + own.height - outer.top) // s))
            cols = slice((own.left - outer.left) // s, -(-(own.left + own.width - outer.left) // s))
            parts[k].append(f[:, rows, cols][:, ::every, ::every].reshape(f.shape[0], -1))
        spill.trim()
    out = {}
    for k, p in parts.items():
        flat = torch.cat(p, 1)
        out[k] = (swd_directions(flat.shape[0], flat.device) @ flat).sort(dim=1).values
    return out


def ranked_goal(values: torch.Tensor, whole: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """For each of ``values`` (K, N), the painting's value (its sorted ``quantiles``, (K, Q)) at the value's rank
    within the whole picture's sorted projections ``whole`` (K, M), linearly between neighbours; values
    outside the picture's range take its ends."""
    m = whole.shape[1]
    idx = torch.searchsorted(whole, values.contiguous())
    lo, hi = (idx - 1).clamp_(0, m - 1), idx.clamp(0, m - 1)
    a, b = whole.gather(1, lo), whole.gather(1, hi)
    share = ((values - a) / (b - a).clamp_min(1e-12)).clamp_(0, 1)
    rank = (lo + share * (hi - lo)) / max(m - 1, 1)  # in [0, 1]
    return at_positions(quantiles, rank * (quantiles.shape[1] - 1))


class TileStyleLoss(StyleLoss):
    """The sliced-Wasserstein style loss of one tile against its share of the painting's distribution.

    The share: for each direction, the painting's values (``targets``: its quantiles per layer, as
    :class:`StyleLoss` holds them) at the ranks that the tile's values at the scale's start (``start``, its
    features) have within the whole picture's projections ``whole`` (:func:`whole_projections`). The
    tile's distribution is then pulled to that share, re-ranked within the tile at every iteration as the
    whole picture's loss re-ranks the picture (holding each position to the one goal its rank gave it, on
    every direction, would ask for a feature map no image reaches, and paints less). Each layer's loss is
    relative to the whole painting's magnitude, as the whole picture's.
    """

    def __init__(self, targets: dict[str, torch.Tensor], weights: dict[str, float], whole: dict[str, torch.Tensor],
                 start: dict[str, torch.Tensor]):
        super().__init__(targets, weights, kind="swd")
        self.shares: dict[str, torch.Tensor] = {}
        for k in weights:
            flat = start[k].detach().float().reshape(start[k].shape[1], -1)
            goals = _ranked_goals(flat, whole[k].to(flat.device), self.targets[k])
            self.shares[k] = resample_sorted(goals.sort(dim=1).values, min(goals.shape[1], SWD_QUANTILES))
            del goals  # one layer's goals alive at a time

    def per_layer(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for k, w in self.weights.items():
            flat = feats[k].float().reshape(feats[k].shape[1], -1)
            share = self.shares[k]
            out[k] = w * swd_loss(flat, share, lambda values, rows: matched_quantiles(values, share[rows]),  # noqa: B023
                                  scale=self.targets[k].pow(2).mean())
        return out


@torch.no_grad()
def _ranked_goals(flat: torch.Tensor, whole: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(K, N): each position's goal on each direction (:func:`ranked_goal` of its projection), a block of
    directions at a time."""
    directions = swd_directions(flat.shape[0], flat.device).to(flat.dtype)
    rows = max(1, 2**22 // max(flat.shape[1], 1))
    return torch.cat([ranked_goal(d @ flat, whole[i:i + rows], target[i:i + rows])
                      for i, d in zip(range(0, len(directions), rows), directions.split(rows))])


def goal_bytes(tile_hw: tuple[int, int], layers: tuple[str, ...]) -> int:
    """Bytes of a tile's goals while :class:`TileStyleLoss` makes its share: one value per direction (a layer's
    channels) and position (a layer at a time in fact; all of them counted: a margin)."""
    return 4 * sum(memory.layer_values(k, tile_hw) for k in layers)
