"""The Laplacian pyramid nnst optimises the output in (painterly.neighbors): a step on the coarse
coefficients moves a whole region's colour as readily as an edge."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def half(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    return F.interpolate(x, (max(1, h // 2), max(1, w // 2)), mode="bilinear", align_corners=False)


def up(x: torch.Tensor, hw: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, (int(hw[0]), int(hw[1])), mode="bilinear", align_corners=False)


def pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """(B, C, H, W) -> ``levels`` detail maps (finest first) and the low-pass residual, last.

    Each detail map is the image minus its half-size copy brought back up (bilinear);
    :func:`collapse` inverts it exactly.
    """
    out, cur = [], x
    for _ in range(levels):
        small = half(cur)
        out.append(cur - up(small, cur.shape[-2:]))
        cur = small
    out.append(cur)
    return out


def collapse(levels: Sequence[torch.Tensor]) -> torch.Tensor:
    """The image whose :func:`pyramid` is ``levels``."""
    cur = levels[-1]
    for detail in reversed(levels[:-1]):
        cur = detail + up(cur, detail.shape[-2:])
    return cur


def pyramid_levels(hw: Sequence[int], coarsest: int = 8) -> int:
    """Levels for an image of ``hw``: halve until the short side would drop below ``coarsest`` px."""
    n, side = 0, min(hw)
    while side // 2 >= coarsest:
        side //= 2
        n += 1
    return n


# How far a unit step on a coefficient moves the image, finest level first; the coarser levels move by the
# whole step. Adam moves every coefficient by about its step size whatever its gradient, so on the finest
# levels each step adds a speckle of that size, which twenty steps at 512 px cannot smooth away (Turner's
# storm sky over Tübingen came out a uniform lichen-like mottle at 1, 1; a smooth painted sky at 0.25, 0.5).
LEVEL_STEPS = (0.25, 0.5)


class LaplacianCoordinates:
    """Pixels <-> the flat vector of their Laplacian pyramid's coefficients, for the optimiser.

    ``encode`` of a (1, 3, H, W) image gives the coefficients of all levels in one vector, each level
    divided by its :data:`LEVEL_STEPS`; ``decode`` collapses such a vector back into the image. A step on
    the coarse coefficients moves a whole region at once, which pixel coordinates reach only through many
    small steps.
    """

    def __init__(self, hw: Sequence[int], channels: int = 3):
        probe = pyramid(torch.zeros(1, channels, int(hw[0]), int(hw[1])), pyramid_levels(hw))
        self.shapes = [tuple(p.shape) for p in probe]
        self.sizes = [p.numel() for p in probe]
        self.steps = [*LEVEL_STEPS[:len(probe) - 1], *[1.0] * max(1, len(probe) - len(LEVEL_STEPS))]  # residual: 1

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        return torch.cat([(p / k).reshape(-1) for p, k in zip(pyramid(image, len(self.shapes) - 1), self.steps)])

    def decode(self, params: torch.Tensor) -> torch.Tensor:
        parts = params.split(self.sizes)
        return collapse([p.view(s) * k for p, s, k in zip(parts, self.shapes, self.steps)])
