"""What a run reports and returns: :class:`Step` events to callbacks, the :class:`Result`, and seeds."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from PIL import Image

from .config import StyleConfig
from .images import to_pil


@dataclass(frozen=True)
class Step:
    """One iteration, as reported to callbacks.

    ``iteration``/``iterations`` count within the current scale, ``done``/``total``
    over the whole schedule. ``image`` ((1, 3, H, W) in [0, 1], at this scale's size) is
    set every ``image_every`` iterations and on each scale's last iteration.
    """

    iteration: int
    iterations: int
    scale: int
    scales: int
    size: tuple[int, int]
    loss: float
    terms: dict[str, float]
    done: int
    total: int
    elapsed: float
    image: torch.Tensor | None = None


Callback = Callable[[Step], None]


@dataclass
class Result:
    """The stylised image and what produced it."""

    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    alpha: torch.Tensor | None
    config: StyleConfig  # with the seed resolved
    loss: float
    iterations: int
    seconds: float
    extra: dict[str, object] = field(default_factory=dict)

    def pil(self) -> Image.Image:
        return to_pil(self.image, self.alpha)


def draw_seed(seed: int | None) -> int:
    """``seed``, or a fresh random one (recorded with the result so that the run can be repeated)."""
    return seed if seed is not None else secrets.randbelow(2**31)
