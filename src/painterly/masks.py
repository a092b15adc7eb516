"""Spatial control (Gatys et al. 2017, section 4): masks that assign style images to regions.

A mask is a gray image or tensor, white (1) = the region its style paints, black (0) =
elsewhere; soft edges (values between) blend. Internally a mask is (1, 1, H, W) float in
[0, 1] at the output's size. Each style image gets one mask, or ``None``: "the rest",
i.e. what no given mask claims (``1 - clip(sum of the given masks, 0, 1)``).

Pixels that no mask covers are *kept unstylised*: they have no style loss and the final
image takes them from the content (:func:`keep_content`), blended across soft edges.

Guidance per layer (the paper's "guided Gram matrices", with the guidance downsampled to
each layer): a mask is average-pooled 2x2 at each of the network's pooling layers, so at
layer ``relu<b>_<i>`` it has exactly that layer's (H, W) and each value is the fraction
of the region inside that cell. (The paper's alternative, eroding the guidance by the
receptive field, leaves thin regions empty at deep layers; we do not use it.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from . import vgg
from .errors import ConfigError
from .images import ImageError, load_image

MaskSource = str | os.PathLike | Image.Image | torch.Tensor

# A mask whose largest value is below this marks no region (e.g. a black image, or a JPEG's noise).
EMPTY_BELOW = 1e-3
# How far a mask's width:height may differ from the content's (relative) before it is refused.
ASPECT_TOLERANCE = 0.02


def _label(source: MaskSource, what: str) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"{what} {os.fspath(source)}"
    return what


def load_mask(source: MaskSource, *, what: str = "--mask") -> torch.Tensor:
    """Read a mask: path, PIL image or tensor -> (1, 1, H, W) float in [0, 1].

    Images: the gray level (colour images by luminance), times alpha where there is
    alpha (transparent = not in the region). Tensors: (H, W), (1, H, W), (1, 1, H, W),
    or an RGB image tensor ((3, H, W) / (1, 3, H, W), by luminance); bool or float in [0, 1].
    """
    if isinstance(source, torch.Tensor):
        return _mask_tensor(source, what)
    try:
        if isinstance(source, Image.Image) and source.mode in ("L", "1", "I;16", "I", "F"):
            source = source.convert("L")
        loaded = load_image(source, what=what)
    except ImageError as e:
        raise ConfigError(str(e)) from None
    from .color import luminance

    m = luminance(loaded.rgb).clamp(0, 1)
    if loaded.alpha is not None:
        m = m * loaded.alpha
    return m.float()


def _mask_tensor(x: torch.Tensor, what: str) -> torch.Tensor:
    shape = tuple(x.shape)
    if x.dtype == torch.bool:
        x = x.float()
    if not x.is_floating_point():
        raise ConfigError(f"{what}: expected a float or bool tensor with values in [0, 1], got {x.dtype}")
    x = x.detach().float()
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3 and x.shape[0] in (1, 3):
        x = x[None]
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] not in (1, 3):
        raise ConfigError(f"{what}: expected a tensor of shape (H, W), (1, H, W) or (1, 1, H, W), got {shape}")
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ConfigError(f"{what}: values must lie in [0, 1] (white = the region), "
                          f"got {float(x.min()):.3g} ... {float(x.max()):.3g}")
    if x.shape[1] == 3:
        from .color import luminance

        x = luminance(x).clamp(0, 1)
    return x


def fit_mask(mask: torch.Tensor, hw: tuple[int, int], *, what: str = "--mask") -> torch.Tensor:
    """Resize a (1, 1, h, w) mask to ``hw`` (area-averaged when shrinking, bilinear when
    growing), after checking that it has the same width:height as the content.

    Raises :class:`ConfigError` naming ``what`` if the shapes disagree or the mask is empty.
    """
    h, w = mask.shape[-2:]
    H, W = hw
    predicted = h * W / w  # the content height this mask's aspect implies
    if abs(predicted - H) > max(1.0, ASPECT_TOLERANCE * H):
        raise ConfigError(
            f"{what}: the mask is {w}x{h} px but the content is {W}x{H} px (a different width:height); "
            "draw the mask over the content image (any size, same proportions)"
        )
    if (h, w) != (H, W):
        if H * W <= h * w:
            mask = F.interpolate(mask, size=(H, W), mode="area")
        else:
            mask = F.interpolate(mask, size=(H, W), mode="bilinear", align_corners=False)
        mask = mask.clamp(0, 1)
    if float(mask.max()) < EMPTY_BELOW:
        raise ConfigError(f"{what}: the mask is empty (all black); white marks the region its style paints")
    return mask


def region_masks(
    masks: Sequence[torch.Tensor | None], hw: tuple[int, int], *, labels: Sequence[str] | None = None
) -> list[torch.Tensor]:
    """One mask per style at ``hw``; ``None`` entries become "the rest" (what no mask claims).

    Raises :class:`ConfigError` if a "rest" region is empty (the other masks cover everything).
    """
    labels = list(labels) if labels is not None else [f"--mask {i + 1}" for i in range(len(masks))]
    fitted: list[torch.Tensor | None] = [
        None if m is None else fit_mask(m, hw, what=lab) for m, lab in zip(masks, labels)
    ]
    given = [m for m in fitted if m is not None]
    if not given:
        raise ConfigError("--mask: every mask is 'none'; give a mask for at least one style, or no --mask at all")
    rest = 1 - torch.stack(given).sum(0).clamp(0, 1)
    out = []
    for m, lab in zip(fitted, labels):
        if m is None:
            if float(rest.max()) < EMPTY_BELOW:
                raise ConfigError(f"{lab}: 'none' means the region no other mask covers, but the other masks "
                                  "cover the whole image; give this style a mask or drop it")
            m = rest
        out.append(m)
    return out


def keep_mask(regions: Sequence[torch.Tensor]) -> torch.Tensor:
    """(1, 1, H, W): where no region is (1 = kept unstylised, soft across edges)."""
    return 1 - torch.stack(list(regions)).sum(0).clamp(0, 1)


def keep_content(image: torch.Tensor, content: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``image`` with the kept region taken from ``content``: ``keep * content + (1 - keep) * image``.

    ``image`` and ``content`` are (1, 3, H, W) in [0, 1]; ``keep`` (1, 1, h, w) is resized
    to the image.
    """
    if tuple(keep.shape[-2:]) != tuple(image.shape[-2:]):
        keep = F.interpolate(keep, size=image.shape[-2:], mode="bilinear", align_corners=False).clamp(0, 1)
    keep = keep.to(image.device)
    return keep * content.to(image.device) + (1 - keep) * image


def mask_pyramid(mask: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """A (1, 1, H, W) mask at each layer's resolution: 2x2 average pooling per network pooling.

    The sizes follow the network's own pooling (2x2, stride 2, ``ceil_mode``: an odd side keeps
    its last row/column as a half window), so ``out[layer]`` has exactly the shape of that
    layer's features.
    """
    levels = [mask]
    out: dict[str, torch.Tensor] = {}
    for layer in layers:
        b = vgg.block(layer)
        while len(levels) < b:
            levels.append(F.avg_pool2d(levels[-1], 2, 2, ceil_mode=True))
        out[layer] = levels[b - 1]
    return out
