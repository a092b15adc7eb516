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

    ``iteration``/``iterations`` count within the current scale (within the current tile of a
    tiled scale), ``done``/``total`` over the whole schedule, every tile counted. ``image``
    ((1, 3, H, W) in [0, 1], at this scale's size) is set every ``image_every`` iterations and on
    each scale's last iteration; on a tiled scale, only on a step after a tile's last iteration, which
    carries the blend so far (after every tile with ``image_every``, else after the last). ``tile``/``tiles``:
    the tile (from 1) and the scale's count of tiles; 0/0 for a scale painted whole. The step that follows
    each tile (with or without the blend's image) counts in ``tile`` the tiles finished so far: tiles painted
    at once on a pool (painterly.tilepool) report only those steps.
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
    tile: int = 0
    tiles: int = 0


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
