"""A painting turned by quarter turns, a crop at a time.

nnst's bank holds the painting's features in four orientations (painterly.neighbors). Turning the whole
painting makes a copy of it per turn (at a 7680 px scale, 0.56 GB each); here a crop of the turned painting is
made from the part of the painting it shows, so that only the crop (a block being read) is ever turned.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def turned_hw(hw: Sequence[int], turn: int) -> tuple[int, int]:
    """The size of an image of ``hw`` turned by ``turn`` quarter turns."""
    return (int(hw[1]), int(hw[0])) if turn % 2 else (int(hw[0]), int(hw[1]))


def turned_crop(image: torch.Tensor, turn: int, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Rows ``top:bottom``, columns ``left:right`` of ``torch.rot90(image, turn)`` (the painting turned by 0, 90,
    180 or 270 degrees: its marks in every orientation), made from that part of ``image`` alone: only the crop is
    turned, never the whole painting (a copy of it at every turn)."""
    return torch.rot90(turned_region(image, turn, top, bottom, left, right), turn % 4, dims=(-2, -1))


def turned_region(image: torch.Tensor, turn: int, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """The part of ``image`` (a view) that :func:`turned_crop` turns: ``turned_crop`` is its ``torch.rot90``."""
    height, width = image.shape[-2:]
    turn %= 4
    if turn == 1:
        return image[..., left:right, width - bottom:width - top]
    if turn == 2:
        return image[..., height - bottom:height - top, width - right:width - left]
    if turn == 3:
        return image[..., height - right:height - left, top:bottom]
    return image[..., top:bottom, left:right]
