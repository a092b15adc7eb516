"""Texture synthesis from an example (Gatys, Ecker & Bethge 2015, "Texture Synthesis Using
Convolutional Neural Networks"): optimise noise until its Gram matrices match the
sample's; no content term.

Tileable textures: every convolution of the network pads *circularly* instead of with
zeros, so the network sees the output as a torus and the wrap-around edges are optimised
like any other neighbourhood. 2x2 pooling wraps exactly when every side it halves is
even, i.e. when the output's sides are multiples of ``2 ** poolings`` (16 up to
``relu5_1``); other sizes are synthesised at the nearest multiple of 16 and resampled
periodically to the exact size asked for (at most 8 px per side, and the wrap stays
seamless). The sample's target statistics are then taken with *reflect* padding: a
zero-padded pass adds the sample's own borders (strong edge responses, above all in the
deep layers of a small sample) to its Gram matrices, a torus has no border to put them
on, and the optimiser would draw frames inside the texture.

Deviations from the paper, and why:

* Layers are ``relu1_1 .. relu5_1`` (the paper: ``conv1_1`` and ``pool1 .. pool4``), the
  same layers painterly's style loss uses, so a texture and a painting share one notion
  of "style".
* Gram matrices are normalised by C*H*W and compared with a mean squared error (see
  :mod:`painterly.losses`), so the loss does not grow with the output size and a
  1024x256 banner matches the same statistics as a 256x256 tile.
* The start is coarse noise (blobs of 4x4 px), not per-pixel white noise (see :func:`noise`).
* Measurement helpers (:func:`gram_error`, :func:`seam_ratio`, :func:`patch_copy_distance`)
  live here too; the tests and ``docs/explain.md`` report them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .. import vgg
from ..config import Method, StyleConfig, StyleLossKind
from ..engine import Engine
from ..errors import ConfigError
from ..events import Callback, draw_seed
from ..features import VGG19Features
from ..images import fit_long_edge, resize
from ..losses import StyleLoss, gram_matrix, tv_loss
from ..objective import scale_objective
from ..pipeline import get_extractor, resolve_device
from ..quality import gram_error as _gram_error
from ..scales import plan_scales, scale_schedule
from ..vgg import MIN_SIZE

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]

# Every pooling halves the grid; with four of them before relu5_1, sides that are multiples
# of 16 make each pooling window tile the torus exactly.
WRAP_MULTIPLE = 16
# Long edge the sample is reduced to by default: its Gram matrices cost a forward pass at
# that size, and the texture's scale in the output is the sample's scale at this size.
DEFAULT_SAMPLE_SIZE = 512
# Iterations of a 512 px scale when none are given (scales get N * 512 / their long edge,
# as for painting: scales.scale_schedule): from noise, textures need more than
# painting from the content image (StyleConfig.iterations) does.
TEXTURE_ITERATIONS = 200
# The starting noise is drawn on a grid this many times coarser than the output (see :func:`noise`).
NOISE_CELL = 4


@dataclass(frozen=True)
class Texture:
    """A synthesised texture and what produced it."""

    image: torch.Tensor  # (1, 3, H, W) in [0, 1], exactly the size asked for
    seed: int
    loss: float
    iterations: int
    seconds: float
    synth_size: tuple[int, int]  # (H, W) actually optimised (differs for tileable, non-multiple-of-16 sizes)


# Network -------------------------------------------------------------------------------
def with_padding(extractor: VGG19Features, mode: PaddingMode) -> VGG19Features:
    """A copy of ``extractor`` whose convolutions pad with ``mode`` ("circular", "reflect", "zeros").

    ``nn.Conv2d`` keeps its padding amounts whatever the mode, so switching
    ``padding_mode`` on a copy is enough. With "circular" the input is a torus; pooling
    then needs even sides (see :data:`WRAP_MULTIPLE`). Copies are cached per network.
    """
    key = (id(extractor), mode)
    cached = _PADDED.get(key)
    if cached is not None and cached[0] is extractor:
        return cached[1]
    padded = copy.deepcopy(extractor)
    for m in padded.modules():
        if isinstance(m, nn.Conv2d):
            m.padding_mode = mode
    if len(_PADDED) >= 8:  # networks come from a small lru_cache; keep this one small too
        _PADDED.clear()
    _PADDED[key] = (extractor, padded)
    return padded


def circular(extractor: VGG19Features) -> VGG19Features:
    """A copy of ``extractor`` whose convolutions pad circularly (the input is a torus)."""
    return with_padding(extractor, "circular")


_PADDED: dict[tuple[int, str], tuple[VGG19Features, VGG19Features]] = {}


def wrap_size(hw: tuple[int, int]) -> tuple[int, int]:
    """The nearest (H, W) with both sides multiples of :data:`WRAP_MULTIPLE` (at least one)."""
    return tuple(max(WRAP_MULTIPLE, WRAP_MULTIPLE * round(s / WRAP_MULTIPLE)) for s in hw)  # type: ignore[return-value]


def resize_periodic(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Resize a periodic image ((B, C, H, W)) so that the result is periodic too.

    Pads circularly by a margin, resizes with the same scale, crops the margin back off:
    the interpolation near an edge then reads the pixels across the wrap, not a clamp.
    """
    h, w = x.shape[-2:]
    if (h, w) == tuple(hw):
        return x
    m = min(4, h, w)  # circular padding cannot wrap more than once
    padded = F.pad(x, (m, m, m, m), mode="circular")
    sy, sx = hw[0] / h, hw[1] / w
    big = F.interpolate(padded, size=(round((h + 2 * m) * sy), round((w + 2 * m) * sx)),
                        mode="bicubic", align_corners=False)
    oy, ox = round(m * sy), round(m * sx)
    out = big[..., oy:oy + hw[0], ox:ox + hw[1]]
    if tuple(out.shape[-2:]) != tuple(hw):  # rounding of the padded size: fall back to an exact grid
        out = F.interpolate(padded, scale_factor=(sy, sx), mode="bicubic", align_corners=False,
                            recompute_scale_factor=False)[..., oy:oy + hw[0], ox:ox + hw[1]]
    return out.clamp(0, 1)


def circular_tv(image: torch.Tensor) -> torch.Tensor:
    """Total variation that also counts the wrap-around neighbours (0 for a constant)."""
    dx = image - image.roll(1, dims=-1)
    dy = image - image.roll(1, dims=-2)
    return dx.pow(2).mean() + dy.pow(2).mean()


# Targets and objective -----------------------------------------------------------------
def sample_grams(extractor: VGG19Features, sample: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Gram matrices ((1, C, C), see :func:`painterly.losses.gram_matrix`) of ``sample`` ((1, 3, H, W) in [0, 1]).

    Taken with the ordinary zero-padded network even for tileable output: the sample
    itself does not wrap, and a circular pass would add its seam to the statistics.
    """
    device = next(extractor.buffers()).device
    with torch.no_grad():
        feats = extractor(sample.to(device), layers)
    return {k: gram_matrix(feats[k]) for k in layers}


# Synthesis ---------------------------------------------------------------------------
def parse_size(text: str, option: str = "--size") -> tuple[int, int]:
    """``"WxH"`` or ``"N"`` (square) -> (H, W); raises :class:`ConfigError` naming ``option``."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) not in (1, 2):
        raise ConfigError(f"{option} {text!r}: expected WIDTHxHEIGHT such as 512x256, or one number for a square")
    w, h = (nums[0], nums[0]) if len(nums) == 1 else nums
    check_size((h, w), option)
    return h, w


def check_size(hw: tuple[int, int], option: str = "--size") -> None:
    h, w = hw
    if min(h, w) < MIN_SIZE:
        raise ConfigError(f"{option} {w}x{h}: each side needs at least {MIN_SIZE} px for VGG19")


def synthesize_texture(
    sample: torch.Tensor,
    size: tuple[int, int],
    *,
    config: StyleConfig | None = None,
    tileable: bool = False,
    sample_size: int | None = DEFAULT_SAMPLE_SIZE,
    layers: Sequence[str] | None = None,
    callback: Callback | None = None,
    image_every: int = 0,
) -> Texture:
    """Synthesise a texture of ``size`` (H, W) from ``sample`` ((1, 3, h, w) in [0, 1]).

    ``config`` supplies the optimiser, network, schedule and loss options (``iterations``
    of a 512 px scale, :data:`TEXTURE_ITERATIONS` when ``config`` is None; ``multiscale``,
    ``seed``, ``pooling``, ``style_weight``, ``style_layer_weights``, ``tv_weight``,
    ``device`` ...); ``layers`` defaults to
    ``config.style_layers``. The sample is reduced to ``sample_size`` on its long edge (None:
    used as it is; never enlarged): that fixes the texture's scale in the output. Starts
    from coarse noise (:func:`noise`) drawn from ``config.seed`` (random when None; the seed
    used is returned). Large outputs run coarse-to-fine like paintings
    (:func:`painterly.scales.scale_schedule`), each scale with its memory plan. ``callback`` receives a
    :class:`~painterly.events.Step` per iteration. Ctrl-C raises
    :class:`~painterly.optimize.Interrupted` with the best texture so far, at ``size``.
    """
    # A texture is the painting's statistics and nothing else: Gatys et al.'s method by definition,
    # with its schedule (a nearest-neighbour target needs a photo to take its features from).
    cfg = (config or StyleConfig(iterations=TEXTURE_ITERATIONS)).replace(method=Method.GATYS)
    layers = tuple(layers or cfg.style_layers)
    check_size(size)
    if cfg.style_layer_weights and len(cfg.style_layer_weights) != len(layers):
        raise ConfigError(f"--style-layer-weights has {len(cfg.style_layer_weights)} values for {len(layers)} layers")
    cfg = cfg.replace(style_layers=layers)  # the style terms, the objective's layers and the memory plan
    seed = draw_seed(cfg.seed)
    device = resolve_device(cfg.device)
    sample = prepare_sample(sample, sample_size)
    scales = plan_scales([(wrap_size(hw) if tileable else hw, n) for hw, n in scale_schedule(size, cfg)], cfg, device)
    base = get_extractor(cfg.weights, cfg.pooling.value, (vgg.network_depth(layers),), str(device))
    # Tileable: the sample's statistics without zero-padding borders (reflect padding
    # continues it plausibly), the output's on a torus. Otherwise the paper's network.
    grams = sample_grams(with_padding(base, "reflect") if tileable else base, sample, layers)
    style = StyleLoss(grams, cfg.layer_weights("style"), kind=StyleLossKind.GRAM)
    tv = circular_tv if tileable else tv_loss
    fit = resize_periodic if tileable else resize
    x = noise(scales[0].hw, torch.Generator().manual_seed(seed), periodic=tileable)
    engine = Engine(with_padding(base, "circular") if tileable else base, cfg, device, callback, image_every,
                    fit=lambda img, hw: fit(img.cpu(), hw), show=lambda img: fit(img.detach().clamp(0, 1).cpu(), size),
                    finish=lambda img: fit(img.cpu(), size))
    out = engine.run(x, scales, lambda net, hw: scale_objective(net, hw, cfg, content=None, style=style, tv=tv))
    return Texture(out.image, seed, out.loss, out.iterations, out.seconds, scales[-1].hw)


def prepare_sample(sample: torch.Tensor, sample_size: int | None) -> torch.Tensor:
    """Reduce ``sample`` ((1, 3, h, w) in [0, 1]) to ``sample_size`` on its long edge (never enlarge)."""
    sample = sample.detach().float().cpu()
    if sample_size is not None and max(sample.shape[-2:]) > sample_size:
        sample = resize(sample, fit_long_edge(tuple(sample.shape[-2:]), sample_size))  # type: ignore[arg-type]
    if min(sample.shape[-2:]) < MIN_SIZE:
        raise ConfigError(f"the sample is {sample.shape[-1]}x{sample.shape[-2]} px; each side needs {MIN_SIZE}+ px")
    return sample


def noise(hw: tuple[int, int], generator: torch.Generator, *, cell: int = NOISE_CELL, amplitude: float = 1.0,
          periodic: bool = False) -> torch.Tensor:
    """A starting image, (1, 3, H, W) in [0, 1]: uniform noise drawn on a grid ``cell`` times
    coarser than ``hw``, upsampled (bicubic; wrapping around when ``periodic``), scaled to
    ``amplitude`` around mid-grey.

    Gatys et al. start from per-pixel white noise. With L-BFGS (one evaluation per step,
    no line search) that leaves a speckle the Gram matrices hardly penalise even after
    hundreds of iterations; faint noise around grey starts near a saddle of the Gram loss,
    where the first curvature estimate is negative and L-BFGS's second step explodes.
    Full-contrast blobs (the texture default) avoid both.
    """
    h, w = hw
    x = torch.rand((1, 3, max(1, math.ceil(h / cell)), max(1, math.ceil(w / cell))), generator=generator)
    if cell > 1:
        x = resize_periodic(x, hw) if periodic else F.interpolate(x, size=hw, mode="bicubic", align_corners=False)
    return (0.5 + amplitude * (x - 0.5)).clamp(0, 1)


# Measurements ------------------------------------------------------------------------
def gram_error(
    extractor: VGG19Features,
    image: torch.Tensor,
    reference: torch.Tensor,
    layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
) -> dict[str, float]:
    """Per layer ``||G(image) - G(ref)|| / ||G(ref)||`` (Frobenius), and its mean: painterly eval's
    ``gram`` measure (painterly.quality), but with each image at its own size.

    The ratio does not depend on how the Gram matrices are normalised. Images are
    (1, 3, H, W) in [0, 1] and may differ in size. Returns ``{layer: error, "mean": ...}``.
    """
    device = next(extractor.buffers()).device
    with torch.no_grad():
        fa = extractor(image.to(device), layers)
        fb = extractor(reference.to(device), layers)
    out = {k: _gram_error(fa[k], fb[k]) for k in layers}
    out["mean"] = sum(out[k] for k in layers) / len(layers)
    return out


def seam_ratio(image: torch.Tensor) -> dict[str, float]:
    """How visible the wrap-around seams of ``image`` ((1, 3, H, W)) are.

    ``horizontal``: mean |difference| between the last and first columns, over the mean
    |difference| of horizontally adjacent columns inside the image; ``vertical`` likewise
    for rows; ``mean`` of both. About 1 for a seamless tile, clearly more when the edges
    do not continue each other.
    """
    x = image.detach().float()
    inner_x = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    inner_y = (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    seam_x = (x[..., :, 0] - x[..., :, -1]).abs().mean()
    seam_y = (x[..., 0, :] - x[..., -1, :]).abs().mean()
    h, v = float(seam_x / inner_x), float(seam_y / inner_y)
    return {"horizontal": h, "vertical": v, "mean": (h + v) / 2}


def patch_copy_distance(output: torch.Tensor, sample: torch.Tensor, *, patch: int = 16, stride: int = 4) -> dict[str, float]:
    """Distance from each ``patch`` x ``patch`` patch of ``output`` to its nearest patch of ``sample``.

    Output patches are taken every ``stride`` px, sample patches at every position. The
    distance is the RMS pixel difference (images in [0, 1]); a verbatim copy of any
    patch gives ``min`` 0. Returns ``{"min", "median"}``.
    """
    def patches(x: torch.Tensor, step: int) -> torch.Tensor:
        return F.unfold(x.detach().float().cpu(), patch, stride=step)[0].T  # (N, 3*patch*patch)

    a, b = patches(output, stride), patches(sample, 1)
    nearest = torch.cat([torch.cdist(chunk, b).min(dim=1).values for chunk in a.split(256)])
    rms = nearest / math.sqrt(a.shape[1])
    return {"min": float(rms.min()), "median": float(rms.median())}
