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

import torch
import torch.nn.functional as F
from torch import nn


class _Gram(torch.autograd.Function):
    """``F F^T`` for (B, C, N) ``F``, with the backward pass as one product: ``(dG + dG^T) F``.

    Autograd's own backward of ``bmm(F, F^T)`` treats the two factors as different tensors:
    two matmuls, one of them into a transposed (N, C) buffer, then a strided add. This does
    half the work. On the CPU, with batch 1 and at least 128 channels, both products run as
    oneDNN 1x1-convolution primitives (the Gram matrix is a 1x1 convolution's weight gradient,
    its backward a 1x1 convolution), which reach the convolutions' rate where the BLAS matmul
    does not: on this 2-core AMD CPU MKL's sgemm peaks at about 225 GFLOP/s against oneDNN's
    450 (1.5-2x faster for 128-512 channels; no faster for 64). oneDNN's primitives take
    extra memory on big maps (a checkpointed 2560 px render peaked 1 GB higher with every
    Gram matrix in oneDNN), so maps over ``ONEDNN_MAX_ELEMENTS`` (128 MB) stay with the matmul.
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


def gram_matrix(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C): ``F F^T / (C * H * W)``, computed in float32.

    With ``mask`` ((B or 1, 1, H, W), values in [0, 1], the features' H and W) the
    features are weighted by the mask and normalised by C times the sum of the squared
    mask: ``(F m)(F m)^T / (C * sum(m^2))`` (a guided Gram matrix, Gatys et al. 2017). It is
    the weighted mean of the per-position outer products, so a region's Gram matrix is on
    the same scale as an unmasked one, and an all-ones mask gives the plain Gram matrix.
    """
    b, c, h, w = features.shape
    f = features.float()
    if mask is None:
        norm: torch.Tensor | int = c * h * w
    else:
        if mask.dim() != 4 or mask.shape[1] != 1 or tuple(mask.shape[-2:]) != (h, w):
            raise ValueError(f"gram_matrix: mask of shape {tuple(mask.shape)} does not fit features "
                             f"{tuple(features.shape)}; expected (B or 1, 1, {h}, {w})")
        m = mask.float()
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
    """Holds the target Gram matrix per layer (already blended over style images).

    ``masks`` (optional) maps a layer to a list of regions ``(mask, target_gram)`` or
    ``(mask, target_gram, weight)``, for spatial control: each region's guided Gram matrix
    of the output is matched to its own target. A region's loss is weighted by its area,
    ``mean(mask^2)`` (times ``weight``, default 1), so each pixel pulls as hard as in an
    unmasked transfer whatever the region's size, and one all-ones mask gives exactly the
    unmasked loss. Layers in ``masks`` need no entry in ``targets``.
    """

    def __init__(self, targets: dict[str, torch.Tensor], weights: dict[str, float],
                 masks: dict[str, list[Region]] | None = None):
        super().__init__()
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
                    (a * style_loss(gram_matrix(feats[k], m), t) for m, t, a in self.masks[k]),
                    torch.zeros((), device=feats[k].device),
                )
            else:
                out[k] = w * style_loss(gram_matrix(feats[k]), self.targets[k])
        return out

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(self.per_layer(feats).values())).sum()
