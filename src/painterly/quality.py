"""``painterly eval``: how much a result looks like the painting and keeps the photo, by
several measures that no single loss optimises (docs/quality.md explains each).

All images are compared at one evaluation size (``size``, long edge of the output; the style
resized to the same pixel count), so the measures do not depend on the size a result was
painted at. Lower is better for every measure except ``layout`` (a correlation, 1 is best).

* ``gram``: per style layer, ``||G_out - G_style|| / ||G_style||`` with ``G = F F^T / (H W)``
  (relu1_1 ... relu5_1), and its mean. The relative Gram loss minimises its square, so it
  flatters that loss; it is kept because it is the classic measure.
* ``swd``: per style layer, the sliced Wasserstein distance between the output's and the
  painting's feature distributions (Heitz et al. 2021), relative to the painting's feature
  scale: ``sqrt(mean_k W2^2(P_k F_out, P_k F_style) / mean_k E[(P_k F_style)^2])`` over
  random unit directions ``P_k`` drawn from a fixed seed; and its mean. It sees the whole
  distribution (what a Gram matrix, a second moment, cannot), colour included at relu1_1.
* ``color``: the sliced Wasserstein-2 distance between the output's and the painting's pixel
  distributions in CIELAB (in Lab units, like a colour difference), and ``color_rel``, the same
  as a fraction of the photo's own distance to the painting (1 = the photo's palette kept,
  0 = the painting's palette). Computed on pixels, not on any network's features.
* ``content``: ``||F_out - F_photo|| / ||F_photo||`` at relu4_2.
* ``layout``: the Pearson correlation of the output's and the photo's luminance at a
  thumbnail of ``THUMBNAIL`` px (long edge): does the picture still show the photo's
  composition at a glance? ``layout_style`` is the same against the painting (its
  composition copied into the result shows as a high value).
* ``photo_detail``: how much of the photo's finest detail survives unpainted: the Pearson
  correlation of the output's and the photo's finest octave of luminance (the image minus its
  4x-reduced copy). 1: every edge and window of the photo in place; near 0: all of it repainted.
* ``photo_color``: how much of the photo's local colour survives: the share of the output's
  chroma (CIELAB a, b at a ``COLOR_CELLS`` px thumbnail) that one global function of the photo's
  colour explains (R^2; a quadratic polynomial of its L, a, b, which covers colour grades and
  palette maps). 1: a colour-graded photo (every object keeps its own colour, recoloured alike);
  low: objects take colours of their own, as a painter's palette gives them.
* ``copied``: regions of the painting reproduced in the output beyond its texture. For each
  position of the output's relu4_1 and relu5_1 maps, its cosine similarity with the nearest
  position of the painting, minus how similar that painting position is to the rest of the
  painting (its best match an eighth of the picture or more away). A painting's texture repeats,
  so reproducing it scores about 0; a unique part of the painting (an eye, a face, the moon)
  reproduced scores high. The 99th percentile over positions, the larger of the two layers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from .color import luminance
from .features import VGG19Features
from .images import ImageSource, fit_long_edge, fit_pixels, load_image, resize
from .losses import resample_sorted

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
EVAL_SIZE = 512
THUMBNAIL = 32
COLOR_CELLS = 64
COPY_LAYERS = ("relu4_1", "relu5_1")
# Random directions per feature channel, and their seed: fixed, so that two evaluations agree,
# and unrelated to any run's seed (the sliced-Wasserstein style loss draws its own).
PROJECTIONS_PER_CHANNEL = 1
COLOR_PROJECTIONS = 64
SEED = 20161
# Positions (feature vectors or pixels) sampled per distribution for the sliced distances: sorting
# is what they cost, and 2**15 samples give the quantiles to well under 1% at any size.
SAMPLES = 2**15


@dataclass(frozen=True)
class Report:
    """The measures of one output (see the module docstring). Lower is better but for ``layout``."""

    output: str
    gram: float
    swd: float
    color: float
    color_rel: float
    content: float
    layout: float
    layout_style: float
    photo_detail: float
    photo_color: float
    copied: float
    gram_layers: dict[str, float] = field(default_factory=dict)
    swd_layers: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


MEASURES = ("gram", "swd", "color", "color_rel", "content", "layout", "layout_style", "photo_detail", "photo_color",
            "copied")


# Pixel measures --------------------------------------------------------------------------
def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (B, 3, H, W) -> CIELAB (D65), L in [0, 100]."""
    x = x.double().clamp(0, 1)
    lin = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    m = torch.tensor([[0.4124564, 0.3575761, 0.1804375],
                      [0.2126729, 0.7151522, 0.0721750],
                      [0.0193339, 0.1191920, 0.9503041]], dtype=torch.float64)
    xyz = torch.einsum("ij,bjhw->bihw", m, lin)
    xyz = xyz / torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64).view(1, 3, 1, 1)
    eps = 216 / 24389
    f = torch.where(xyz > eps, xyz.clamp_min(eps) ** (1 / 3), (24389 / 27 * xyz + 16) / 116)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def _sample(x: torch.Tensor) -> torch.Tensor:
    """At most SAMPLES columns of (D, N), drawn without replacement; the same columns for the same N."""
    n = x.shape[1]
    if n <= SAMPLES:
        return x
    return x[:, torch.randperm(n, generator=torch.Generator().manual_seed(SEED + n))[:SAMPLES]]


def sliced_w2(a: torch.Tensor, b: torch.Tensor, directions: torch.Tensor) -> tuple[float, float]:
    """(mean squared W2 distance along each direction, mean second moment of ``b`` along them).

    ``a`` (D, N) and ``b`` (D, M) are samples in columns (at most :data:`SAMPLES` of each are
    used), ``directions`` (K, D) unit rows.
    """
    a, b = _sample(a), _sample(b)
    directions = directions.to(a.dtype)
    pa, pb = directions @ a, directions @ b
    n = min(pa.shape[1], pb.shape[1])
    qa, qb = resample_sorted(pa.sort(dim=1).values, n), resample_sorted(pb.sort(dim=1).values, n)
    return float((qa - qb).pow(2).mean()), float(pb.pow(2).mean())


def _directions(k: int, d: int, gen: torch.Generator) -> torch.Tensor:
    v = torch.randn(k, d, generator=gen, dtype=torch.float64)
    return v / v.norm(dim=1, keepdim=True)


def color_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Sliced W2 distance of two images' pixel distributions in CIELAB (Lab units)."""
    gen = torch.Generator().manual_seed(SEED)
    dirs = torch.cat([torch.eye(3, dtype=torch.float64), _directions(COLOR_PROJECTIONS, 3, gen)])
    la, lb = rgb_to_lab(a).flatten(2)[0], rgb_to_lab(b).flatten(2)[0]
    return math.sqrt(sliced_w2(la, lb, dirs)[0])


def layout_similarity(a: torch.Tensor, b: torch.Tensor, *, cells: int = THUMBNAIL, colour: bool = False) -> float:
    """Pearson correlation of ``a``'s and ``b``'s luminance (all three channels with ``colour``) at a
    thumbnail of ``cells`` px (long edge).

    A measure of layout without detail. ``b`` is resized to ``a``'s shape first. 1: the same light and
    dark (and coloured) regions in the same places.
    """
    hw = fit_long_edge(tuple(a.shape[-2:]), cells)  # type: ignore[arg-type]

    def thumbnail(x: torch.Tensor) -> torch.Tensor:
        x = x.float().cpu()
        t = F.adaptive_avg_pool2d(x if colour else luminance(x), hw).flatten()
        return t - t.mean()

    ta, tb = thumbnail(a), thumbnail(resize(b.float().cpu(), a.shape[-2:]))
    return float((ta * tb).sum() / (ta.norm() * tb.norm()).clamp_min(1e-12))


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


def photo_detail(output: torch.Tensor, photo: torch.Tensor) -> float:
    """Correlation of the finest octave of luminance (the image minus its 4x-reduced copy) of
    ``output`` and ``photo`` (resized to the output's shape)."""
    def fine(x: torch.Tensor) -> torch.Tensor:
        y = luminance(x.float().cpu())
        return y - F.interpolate(F.avg_pool2d(y, 4, ceil_mode=True), y.shape[-2:], mode="bilinear", align_corners=False)

    return _correlation(fine(output), fine(resize(photo.float().cpu(), output.shape[-2:])))


def photo_color(output: torch.Tensor, photo: torch.Tensor, *, cells: int = COLOR_CELLS) -> float:
    """R^2 of the best quadratic map from the photo's CIELAB colour to the output's chroma, at a
    thumbnail of ``cells`` px: 1 when the output's colours are a global recolouring of the photo's."""
    hw = fit_long_edge(tuple(output.shape[-2:]), cells)  # type: ignore[arg-type]

    def lab(x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(rgb_to_lab(x.float().cpu()), hw)[0].flatten(1).T / 50  # (N, 3), about unit scale

    out, src = lab(output)[:, 1:], lab(resize(photo.float().cpu(), output.shape[-2:]))
    pairs = [src[:, i] * src[:, j] for i in range(3) for j in range(i, 3)]
    design = torch.cat([torch.ones(len(src), 1, dtype=src.dtype), src, torch.stack(pairs, 1)], 1)
    residual = out - design @ torch.linalg.lstsq(design, out).solution
    return float(1 - residual.pow(2).sum() / (out - out.mean(0)).pow(2).sum().clamp_min(1e-12))


def copied_regions(output: dict[str, torch.Tensor], painting: dict[str, torch.Tensor]) -> float:
    """The ``copied`` measure (module docstring) from the output's and the painting's features at
    :data:`COPY_LAYERS` (each (1, C, H, W))."""
    scores = []
    for k in COPY_LAYERS:
        out = F.normalize(output[k][0].flatten(1).T.float(), dim=1)
        ref = F.normalize(painting[k][0].flatten(1).T.float(), dim=1)
        h, w = painting[k].shape[-2:]
        yx = torch.cartesian_prod(torch.arange(h), torch.arange(w)).float()
        near = torch.cdist(yx, yx, p=float("inf")) < max(h, w) / 8
        own = (ref @ ref.T).masked_fill_(near, -1).amax(1)  # each painting position's best match elsewhere
        best, where = (out @ ref.T).max(1)
        scores.append(float(torch.quantile(best - own[where], 0.99)))
    return max(scores)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1] of the same shape."""
    mse = float((a.float() - b.float()).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


# Feature measures ------------------------------------------------------------------------
def _gram(f: torch.Tensor) -> torch.Tensor:
    flat = f.reshape(f.shape[1], -1).double()
    return flat @ flat.T / flat.shape[1]


def gram_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """``||G(a) - G(b)|| / ||G(b)||`` (Frobenius) of two feature maps (1, C, H, W) whose sizes may differ;
    the ratio does not depend on how the Gram matrices are normalised."""
    ga, gb = _gram(a), _gram(b)
    return float((ga - gb).norm() / gb.norm().clamp_min(1e-12))


def eval_extractor() -> VGG19Features:
    from .pipeline import get_extractor

    return get_extractor(None, "max", ("relu5_1",), "cpu")


@dataclass(frozen=True)
class _Pair:
    style_image: torch.Tensor
    content: dict[str, torch.Tensor]
    style: dict[str, torch.Tensor]
    photo_color: float  # the photo's colour distance to the painting


class Evaluator:
    """Measures outputs against one content/style pair; the pair's features are computed once."""

    def __init__(self, content: ImageSource, style: ImageSource, *, size: int = EVAL_SIZE,
                 extractor: VGG19Features | None = None):
        self.content = load_image(content, what="content").rgb
        self.style_full = load_image(style, what="style").rgb
        self.size = size
        self.extractor = extractor or eval_extractor()
        self._cache: dict[tuple[int, int], _Pair] = {}

    @torch.no_grad()
    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.extractor(x.float().cpu(), STYLE_LAYERS + (CONTENT_LAYER,))

    def _pair(self, hw: tuple[int, int]) -> _Pair:
        """The content and style at the evaluation size ``hw`` (the style at the same pixel count)."""
        if hw not in self._cache:
            c = resize(self.content, hw)
            s = resize(self.style_full, fit_pixels(tuple(self.style_full.shape[-2:]), hw[0] * hw[1]))  # type: ignore[arg-type]
            self._cache[hw] = _Pair(s, self._features(c), self._features(s), color_distance(c, s))
        return self._cache[hw]

    def __call__(self, output: ImageSource, name: str = "") -> Report:
        out = load_image(output, what="output").rgb
        hw = fit_long_edge(tuple(out.shape[-2:]), self.size)  # type: ignore[arg-type]
        out = resize(out, hw)
        pair = self._pair(hw)
        fc, fs = pair.content, pair.style
        fo = self._features(out)
        gen = torch.Generator().manual_seed(SEED)
        gram, swd = {}, {}
        for k in STYLE_LAYERS:
            gram[k] = gram_error(fo[k], fs[k])
            a, b = fo[k][0].flatten(1), fs[k][0].flatten(1)
            w2, scale = sliced_w2(a, b, _directions(PROJECTIONS_PER_CHANNEL * a.shape[0], a.shape[0], gen))
            swd[k] = math.sqrt(w2 / max(scale, 1e-12))
        col = color_distance(out, pair.style_image)
        k = CONTENT_LAYER
        return Report(
            output=name or (str(output) if not isinstance(output, torch.Tensor) else "tensor"),
            gram=sum(gram.values()) / len(gram), swd=sum(swd.values()) / len(swd),
            color=col, color_rel=col / max(pair.photo_color, 1e-12),
            content=float((fo[k] - fc[k]).norm() / fc[k].norm().clamp_min(1e-12)),
            layout=layout_similarity(out, self.content), layout_style=layout_similarity(out, self.style_full),
            photo_detail=photo_detail(out, self.content), photo_color=photo_color(out, self.content),
            copied=copied_regions(fo, fs),
            gram_layers=gram, swd_layers=swd,
        )


def evaluate(content: ImageSource, style: ImageSource, outputs: ImageSource | Sequence[ImageSource], *,
             size: int = EVAL_SIZE) -> list[Report]:
    """Measure each of ``outputs`` against ``content`` and ``style`` (paths, PIL images or tensors)."""
    items: Sequence[ImageSource] = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]  # type: ignore[list-item]
    ev = Evaluator(content, style, size=size)
    return [ev(o) for o in items]


def measure(output: torch.Tensor, content: torch.Tensor, style: torch.Tensor, *,
            extractor: VGG19Features | None = None) -> Report:
    """The measures of one output tensor at its own size (no resizing of the output)."""
    return Evaluator(content, style, size=max(output.shape[-2:]), extractor=extractor)(output)


def table(reports: Sequence[Report]) -> str:
    """A plain-text table of the headline measures, one row per output."""
    head = ["output", *MEASURES]
    rows = [[r.output, *(f"{getattr(r, m):.3f}" if m != "color" else f"{r.color:.2f}" for m in MEASURES)]
            for r in reports]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(head), *(line(r) for r in rows)])
