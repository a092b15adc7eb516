"""A neutral judge of a stylised image, independent of any tool's own loss.

* style score: mean over relu1_1..relu5_1 of ||G_out - G_style|| / ||G_style||, Gram
  matrices normalised by the number of positions, the style image resized to the
  output's pixel count;
* content score: ||F_out - F_content|| / ||F_content|| at relu4_2.

Lower is better for both. Both are computed on the Caffe VGG19 at the output's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .features import VGG19Features
from .images import fit_pixels, resize
from .pipeline import get_extractor

JUDGE_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
JUDGE_CONTENT_LAYER = "relu4_2"


@dataclass(frozen=True)
class Scores:
    style: float
    content: float
    style_layers: tuple[float, ...] = ()  # the style score's terms, relu1_1 ... relu5_1


def _gram(f: torch.Tensor) -> torch.Tensor:
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w).double()
    return flat @ flat.transpose(1, 2) / (h * w)


def judge_extractor() -> VGG19Features:
    return get_extractor(None, "max", ("relu5_1",), "cpu")


@torch.no_grad()
def score(output: torch.Tensor, content: torch.Tensor, style: torch.Tensor,
          extractor: VGG19Features | None = None) -> Scores:
    """Score ``output`` against ``content`` and ``style`` (all (1, 3, H, W) in [0, 1])."""
    ex = extractor or judge_extractor()
    hw = (int(output.shape[-2]), int(output.shape[-1]))
    out = output.float().cpu()
    c = resize(content.float().cpu(), hw)
    s = resize(style.float().cpu(), fit_pixels(tuple(style.shape[-2:]), hw[0] * hw[1]))  # type: ignore[arg-type]
    layers = JUDGE_STYLE_LAYERS + (JUDGE_CONTENT_LAYER,)
    fo, fc, fs = ex(out, layers), ex(c, layers), ex(s, layers)
    per = tuple(float((_gram(fo[k]) - _gram(fs[k])).norm() / _gram(fs[k]).norm()) for k in JUDGE_STYLE_LAYERS)
    k = JUDGE_CONTENT_LAYER
    content_err = float((fo[k] - fc[k]).norm() / fc[k].norm())
    return Scores(sum(per) / len(per), content_err, per)
