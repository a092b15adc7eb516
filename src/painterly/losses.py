"""Loss functions: plain functions first, thin modules that hold targets second.

Normalisation (deviations from Gatys et al. 2016, whose sums grow with the image and
whose layers pull in proportion to their activations' magnitude):

* the Gram matrix is divided by C*H*W and the content loss is a mean, so every term is
  independent of the image size (jcjohnson/neural-style's convention);
* each style layer's loss is the squared *relative* error of its Gram matrix,
  ||G - T||^2 / ||T||^2. Raw Gram entries differ by four orders of magnitude between
  relu1_1, relu4_1 and relu5_1 (for the Starry Night at 512 px the mean squared entry is
  about 7e2, 8e5 and 5e1), so with plain squared errors relu4_1 alone sets the result and
  the finest and coarsest layers are all but ignored. Relative errors make equal layer
  weights mean equal pull, whatever the style image.

Masked variants weight each position by a guidance map (Gatys et al. 2017's guided Gram
matrices).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import StyleLossKind


class _Gram(torch.autograd.Function):
    """``F F^T`` for (B, C, N) ``F``, with the backward pass as one product: ``(dG + dG^T) F``.

    Autograd's own backward of ``bmm(F, F^T)`` treats the two factors as different tensors:
    two matmuls, one of them into a transposed (N, C) buffer, then a strided add. This does
    half the work. On the CPU, with batch 1 and at least 128 channels, both products run as
    oneDNN 1x1-convolution primitives (the Gram matrix is a 1x1 convolution's weight gradient,
    its backward a 1x1 convolution), which reach the convolutions' rate where the BLAS matmul
    does not for 128 channels and more. oneDNN's primitives take extra memory on big maps, so
    maps over ``ONEDNN_MAX_ELEMENTS`` (128 MB) stay with the matmul. Measurements:
    docs/performance.md.
    """

    ONEDNN_MAX_ELEMENTS = 2**25

    @staticmethod
    def _onednn(flat: torch.Tensor) -> bool:
        b, c, _ = flat.shape
        return flat.device.type == "cpu" and b == 1 and c >= 128 and flat.numel() <= _Gram.ONEDNN_MAX_ELEMENTS

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(flat)
        if not _Gram._onednn(flat):
            return torch.bmm(flat, flat.transpose(1, 2))
        _, c, n = flat.shape
        x = flat.reshape(1, c, n, 1)
        _, gram, _ = torch.ops.aten.convolution_backward(
            x, x, flat.new_empty((c, c, 1, 1)), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [False, True, False])
        return gram.view(1, c, c)  # type: ignore[no-any-return]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (flat,) = ctx.saved_tensors
        sym = grad + grad.transpose(1, 2)
        if not _Gram._onednn(flat):
            return torch.bmm(sym, flat)
        _, c, n = flat.shape
        return F.conv2d(flat.reshape(1, c, n, 1), sym.reshape(c, c, 1, 1)).view(1, c, n)


def _float(x: torch.Tensor) -> torch.Tensor:
    """float32 for the network's lower precisions (bfloat16 autocast); float64 stays (gradcheck)."""
    return x if x.dtype == torch.float64 else x.float()


def gram_matrix(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C): ``F F^T / (C * H * W)``, computed in float32.

    With ``mask`` ((B or 1, 1, H, W), values in [0, 1], the features' H and W) the
    features are weighted by the mask and normalised by C times the sum of the squared
    mask: ``(F m)(F m)^T / (C * sum(m^2))`` (a guided Gram matrix, Gatys et al. 2017). It is
    the weighted mean of the per-position outer products, so a region's Gram matrix is on
    the same scale as an unmasked one, and an all-ones mask gives the plain Gram matrix.
    """
    b, c, h, w = features.shape
    f = _float(features)
    if mask is None:
        norm: torch.Tensor | int = c * h * w
    else:
        if mask.dim() != 4 or mask.shape[1] != 1 or tuple(mask.shape[-2:]) != (h, w):
            raise ValueError(f"gram_matrix: mask of shape {tuple(mask.shape)} does not fit features "
                             f"{tuple(features.shape)}; expected (B or 1, 1, {h}, {w})")
        m = mask.to(f.dtype)
        f = f * m
        norm = c * m.pow(2).sum(dim=(1, 2, 3)).clamp_min(1e-8).view(-1, 1, 1)
    flat = f.reshape(b, c, h * w)
    return _Gram.apply(flat) / norm  # type: ignore[no-any-return]


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between activations (0 at the target)."""
    return F.mse_loss(features.float(), target.float())


def style_loss(gram: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared relative error between Gram matrices: ``||G - T||^2 / ||T||^2`` (0 at the target)."""
    return F.mse_loss(gram, target) / target.pow(2).mean().clamp_min(1e-12)


# Style statistics: what a style layer matches ------------------------------------------
# Each kind turns a layer's features into a target tensor (``style_target``) that several
# style images blend by a weighted sum, and compares an output's features with it
# (``layer_style_loss``). All are size-independent (means over positions).
#
# * gram: the relative Gram error above (every layer pulls equally at equal weights).
# * classic: the plain squared Gram error, ``mean((G - T)^2)``, of Gatys et al. 2016 and
#   jcjohnson/neural-style: relu4_1's large activations dominate.
# * meancov: the feature mean and covariance (crowsonkb/style-transfer-pytorch's statistics),
#   each as a relative squared error; unlike the uncentred Gram matrix, the mean (at relu1_1:
#   the palette) and the spread are matched separately.
# * swd: the sliced Wasserstein distance (Heitz et al. 2021): the features projected on
#   fixed random directions, sorted, and compared with the style's sorted projections, so
#   the whole distribution per direction is matched, not only its second moment. The target
#   is the style's quantile function per direction; the weighted mean of several styles'
#   quantile functions is their Wasserstein barycenter.
SWD_QUANTILES = 4096  # quantiles kept of the style's sorted projections (resampled to the output's count)


def swd_directions(channels: int, device: torch.device | str = "cpu", *, seed: int = 0) -> torch.Tensor:
    """(channels, channels) random unit directions (rows), the same for a given ``seed`` and size."""
    gen = torch.Generator().manual_seed(seed * 1009 + channels)
    d = torch.randn(channels, channels, generator=gen)
    return (d / d.norm(dim=1, keepdim=True)).to(device)


def _positions(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(1, C, H, W) -> (C, N) float32, keeping the positions where ``mask`` (1, 1, H, W) is at least 0.5."""
    flat = _float(features).reshape(features.shape[1], -1)
    if mask is None:
        return flat
    keep = mask.reshape(-1) >= 0.5
    if not bool(keep.any()):
        keep = mask.reshape(-1) >= mask.max()
    return flat[:, keep]


def resample_sorted(sorted_rows: torch.Tensor, n: int) -> torch.Tensor:
    """Sorted rows (K, M) as (K, n) quantiles, by linear interpolation (the same rows if M == n)."""
    if sorted_rows.shape[-1] == n:
        return sorted_rows
    return F.interpolate(sorted_rows[None], size=n, mode="linear", align_corners=True)[0]


def _weighted_moments(flat: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    if mask is None:
        mean = flat.mean(1, keepdim=True)
        d = flat - mean
        return mean, d @ d.T / flat.shape[1]
    w = mask.to(flat.dtype).reshape(1, -1)
    w = w / w.sum().clamp_min(1e-8)
    mean = (flat * w).sum(1, keepdim=True)
    d = flat - mean
    return mean, (d * w) @ d.T


def style_target(kind: StyleLossKind | str, features: torch.Tensor) -> torch.Tensor:
    """A style image's statistic of one layer's features (1, C, H, W), for ``kind`` (above)."""
    kind = StyleLossKind(kind)
    if kind in (StyleLossKind.GRAM, StyleLossKind.CLASSIC):
        return gram_matrix(features)
    flat = _positions(features)
    if kind is StyleLossKind.MEANCOV:
        mean, cov = _weighted_moments(flat, None)
        return torch.cat([mean, cov], 1)  # (C, 1 + C)
    # swd: a block of directions at a time, as in layer_style_loss
    directions = swd_directions(flat.shape[0], flat.device).to(flat.dtype)
    rows = max(1, _CHUNK // max(flat.shape[1], 1))
    return torch.cat([resample_sorted((d @ flat).sort(dim=1).values, SWD_QUANTILES)
                      for d in directions.split(rows)])


def layer_style_loss(kind: StyleLossKind | str, features: torch.Tensor, target: torch.Tensor,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
    """One layer's style loss of ``features`` against a :func:`style_target` (0 at the target)."""
    kind = StyleLossKind(kind)
    if kind is StyleLossKind.GRAM:
        return style_loss(gram_matrix(features, mask), target)
    if kind is StyleLossKind.CLASSIC:
        return F.mse_loss(gram_matrix(features, mask), target)
    flat = _positions(features, mask if kind is StyleLossKind.SWD else None)
    if kind is StyleLossKind.MEANCOV:
        mean, cov = _weighted_moments(flat, mask)
        t_mean, t_cov = target[:, :1], target[:, 1:]
        return (F.mse_loss(mean, t_mean) / t_mean.pow(2).mean().clamp_min(1e-12)
                + F.mse_loss(cov, t_cov) / t_cov.pow(2).mean().clamp_min(1e-12))
    return swd_loss(flat, target, lambda values, rows: matched_quantiles(values, target[rows]))


def swd_loss(flat: torch.Tensor, target: torch.Tensor, goal: Callable[[torch.Tensor, slice], torch.Tensor], *,
             scale: torch.Tensor | None = None) -> torch.Tensor:
    """The sliced-Wasserstein loss of features ``flat`` (C, N) against the quantiles ``target`` (K, Q):
    ``mean((D F - goal)^2)`` over the directions ``D`` (:func:`swd_directions`), relative to the target's
    magnitude (``scale``: another, the mean square of the quantiles it is relative to). ``goal(values, rows)``:
    what the projections ``values`` on the directions ``rows`` (a slice) are pulled to (for a whole picture,
    :func:`matched_quantiles`: the target at each value's rank)."""
    # Its gradient is D^T 2 (D F - goal) / (K N): computed without autograd and a block of directions
    # at a time, so that the backward pass keeps one map of the layer's size (that gradient) and
    # nothing else of this size is alive at once.
    with torch.no_grad():
        directions = swd_directions(flat.shape[0], flat.device).to(flat.dtype)
        k, n = directions.shape[0], flat.shape[1]
        total = torch.zeros((), dtype=flat.dtype, device=flat.device)
        grad = torch.zeros_like(flat)
        rows = max(1, _CHUNK // max(n, 1))
        for start in range(0, k, rows):
            d = directions[start:start + rows]
            diff = d @ flat
            diff -= goal(diff, slice(start, start + rows))
            total += diff.pow(2).sum()
            grad.addmm_(d.T, diff, alpha=2 / (k * n))
        value = total / (k * n)
    surrogate = (flat * grad).sum()
    return (value + (surrogate - surrogate.detach())) / (target.pow(2).mean() if scale is None else scale).clamp_min(1e-12)


def at_positions(sorted_rows: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Rows of ``sorted_rows`` (K, Q) read at fractional positions ``pos`` (K, M), linearly."""
    q = sorted_rows.shape[1]
    j = pos.long().clamp_(0, max(q - 2, 0))
    return torch.lerp(sorted_rows.gather(1, j), sorted_rows.gather(1, (j + 1).clamp_(max=q - 1)),
                      (pos - j).clamp_(0, 1))


SWD_BINS = 4096  # histogram bins per direction for the ranks (matched_quantiles)
SWD_EXACT = 16384  # up to this many values per direction, ranks by sorting (as fast, and exact)
_CHUNK = 2**22  # elements of a direction-by-position block handled at once (bounds the temporaries)


def matched_quantiles(values: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """For each of ``values`` (K, N), the value of the sorted ``quantiles`` (K, Q) at its rank.

    ``mean((values - result)^2)`` is then the squared 1D Wasserstein distance per row (the
    same pairing as sorting both), and its gradient ``2 (values - result) / N`` the sliced
    Wasserstein gradient. For rows of more than ``SWD_EXACT`` values the ranks come from a
    histogram of each row (``SWD_BINS`` bins, uniform within a bin) instead of a sort: a few
    passes over the values rather than ``N log N`` comparisons (a CPU sort of relu1_1's
    projections would be the slowest kernel of an iteration). Rows go in blocks
    of at most ``_CHUNK`` elements, so the temporaries stay small at any image size. Within
    a bin the values are taken as evenly spread: on projected VGG features (relu1_1 and
    relu2_1 at 512 px) the distance agrees with a sort's to 0.03%; a spike of many equal
    values in one bin would be paired less exactly.
    """
    k, n = values.shape
    q = quantiles.shape[1]
    if n <= SWD_EXACT:  # few values: sort them, exact ranks
        order = values.argsort(dim=1)
        return torch.empty_like(values).scatter_(1, order, resample_sorted(quantiles, n))
    out = torch.empty_like(values)
    rows = max(1, _CHUNK // max(n, 1))
    scale = (q - 1) / max(n - 1, 1)  # rank -> position among the quantiles
    for start in range(0, k, rows):
        v = values[start:start + rows]
        lo, hi = v.amin(1, keepdim=True), v.amax(1, keepdim=True)
        x = (v - lo) * (SWD_BINS / (hi - lo).clamp_min(1e-12))
        idx = x.long().clamp_(0, SWD_BINS - 1)
        x.sub_(idx).clamp_(0, 1)  # the position within the bin
        counts = torch.zeros(v.shape[0], SWD_BINS, dtype=v.dtype, device=v.device)
        counts.scatter_add_(1, idx, torch.ones_like(v))
        # The values in bin b hold ranks below_b ... below_b + count_b - 1 (uniform within the bin):
        # the quantiles at the ends of that range, per bin, then a linear share per value.
        below = counts.cumsum(1) - counts
        qs = quantiles[start:start + rows]
        first, last = at_positions(qs, below * scale), at_positions(qs, (below + counts - 1).clamp_min(0) * scale)
        out[start:start + rows] = torch.lerp(first.gather(1, idx), last.gather(1, idx), x)
    return out


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation (squared differences of neighbours, mean over positions; 0 for a constant)."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


class ContentLoss(nn.Module):
    """Holds the content targets per layer and their weights."""

    def __init__(self, targets: dict[str, torch.Tensor], weights: dict[str, float]):
        super().__init__()
        self.targets = {k: v.detach() for k, v in targets.items()}
        self.weights = weights

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(
            (self.weights[k] * content_loss(feats[k], t) for k, t in self.targets.items()),
            torch.zeros((), device=next(iter(self.targets.values())).device),
        )


# A region of a masked style loss: (mask, target Gram) or (mask, target Gram, weight).
Region = tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, float]


class StyleLoss(nn.Module):
    """Holds the target statistic per layer (already blended over style images) of ``kind``
    (see :func:`style_target`; Gram matrices for the default).

    ``masks`` (optional) maps a layer to a list of regions ``(mask, target_gram)`` or
    ``(mask, target_gram, weight)``, for spatial control: each region's guided Gram matrix
    of the output is matched to its own target. A region's loss is weighted by its area,
    ``mean(mask^2)`` (times ``weight``, default 1), so each pixel pulls as hard as in an
    unmasked transfer whatever the region's size, and one all-ones mask gives exactly the
    unmasked loss. Layers in ``masks`` need no entry in ``targets``.
    """

    def __init__(self, targets: dict[str, torch.Tensor], weights: dict[str, float],
                 masks: dict[str, list[Region]] | None = None, kind: StyleLossKind | str = StyleLossKind.GRAM):
        super().__init__()
        self.kind = StyleLossKind(kind)
        self.targets = {k: v.detach() for k, v in targets.items()}
        self.weights = weights
        self.masks: dict[str, list[tuple[torch.Tensor, torch.Tensor, float]]] = {}
        for k, regions in (masks or {}).items():
            entries = []
            for region in regions:
                m, t = region[0].detach(), region[1].detach()
                scale = float(region[2]) if len(region) == 3 else 1.0
                entries.append((m, t, scale * float(m.float().pow(2).mean())))
            self.masks[k] = entries

    def per_layer(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for k, w in self.weights.items():
            if k in self.masks:
                out[k] = w * sum(
                    (a * layer_style_loss(self.kind, feats[k], t, m) for m, t, a in self.masks[k]),
                    torch.zeros((), device=feats[k].device),
                )
            else:
                out[k] = w * layer_style_loss(self.kind, feats[k], self.targets[k])
        return out

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(self.per_layer(feats).values())).sum()
