"""The weighted objective of one scale: content + style (+ TV), built from target images.

:func:`scale_objective` is where every command's objective of a scale is made (images, video
frames, textures). It reads the extractor's feature dict; holds no state but the targets. Style images are
resized relative to the output (``style_scale`` times the output's long edge) and their
Gram matrices blended with the normalised blend weights (jcjohnson/neural-style's
``-style_blend_weights``), so several styles form one target.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import torch

from .config import StyleConfig, StyleLossKind
from .features import BLOCKWISE_PIXELS, VGG19Features, sampled_features
from .images import fit_long_edge, resize
from .losses import ContentLoss, StyleLoss, style_target, tv_loss
from .optimize import ObjectiveFn
from .vgg import MIN_SIZE

# --compile (opt-in) applies where an iteration is long, against about 20 s of compiling per
# scale; scales that checkpoint (painterly.memory) stay uncompiled. On a CPU it does not pay
# (docs/performance.md, benchmarks/compile_lever.py); not measured on a GPU.
COMPILE_MIN_SIZE = 1024

TargetFields = tuple[tuple[int, int], tuple[str, ...], StyleLossKind, tuple[float, ...], tuple[float, ...]]


def autocast(device: torch.device, enabled: bool):  # type: ignore[no-untyped-def]
    """bfloat16 autocast for the network's convolutions (Grams and losses stay float32)."""
    if not enabled:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def style_long_edge(scale: float, out_hw: tuple[int, int]) -> int:
    """The long edge a style image is resized to: ``scale`` times the output's (``--style-scale``)."""
    return max(MIN_SIZE, round(scale * max(out_hw)))


def target_fields(cfg: StyleConfig, n_styles: int, out_hw: tuple[int, int]) -> TargetFields:
    """Everything of the options that :func:`style_targets` reads, for ``n_styles`` images and an output
    of ``out_hw``: (size, style layers, style loss, blend weights, style scales). It reads them from
    here only, so a key built from this tuple (with the images and the network) names the targets exactly."""
    return (tuple(out_hw), cfg.style_layers, cfg.style_loss,  # type: ignore[return-value]
            tuple(cfg.blend_weights(n_styles)), tuple(cfg.scales_for(n_styles)))


def style_targets(
    extractor: VGG19Features,
    styles: Sequence[torch.Tensor],
    out_hw: tuple[int, int],
    cfg: StyleConfig,
    *,
    bf16: bool = False,
) -> dict[str, torch.Tensor]:
    """Blended style targets (``cfg.style_loss``'s statistic per layer: quantiles for swd, Gram matrices for gram)
    for an output of ``out_hw`` (H, W). Of ``cfg`` only :func:`target_fields` is read."""
    out, layers, kind, blend, scales = target_fields(cfg, len(styles), out_hw)
    device = next(extractor.buffers()).device
    target: dict[str, torch.Tensor] = {}
    for img, w, s in zip(styles, blend, scales):
        hw = fit_long_edge(tuple(img.shape[-2:]), style_long_edge(s, out))  # type: ignore[arg-type]
        with torch.no_grad(), autocast(device, bf16):
            if kind is StyleLossKind.SWD and hw[0] * hw[1] > BLOCKWISE_PIXELS:  # a distribution: from a sample, in blocks
                feats = sampled_features(extractor, resize(img, hw), layers)
            else:
                feats = extractor(resize(img, hw).to(device), layers)
        for k in layers:
            g = style_target(kind, feats[k])
            target[k] = target[k] + w * g if k in target else w * g
    return target


def scale_objective(net: VGG19Features, hw: tuple[int, int], cfg: StyleConfig, *, content: torch.Tensor | None,
                    style: StyleLoss, bf16: bool = False,
                    tv: Callable[[torch.Tensor], torch.Tensor] = tv_loss) -> ObjectiveFn:
    """The objective of one scale of ``hw`` (H, W), for every command: ``content`` ((1, 3, H, W) on the
    network's device, or None for none: textures), ``style`` the scale's style loss, ``tv`` the total
    variation (textures wrap it around). Compiled (``--compile``) where an iteration is long."""
    objective = Objective(net, content, style, cfg, bf16=bf16, tv=tv)
    return Compiled(objective) if cfg.compile and max(hw) >= COMPILE_MIN_SIZE and not net.checkpoint else objective


class Objective:
    """``objective(image) -> (total, {"content", "style", "tv", "style:<layer>"})``."""

    def __init__(
        self,
        extractor: VGG19Features,
        content: torch.Tensor | None,
        style: StyleLoss | dict[str, torch.Tensor],
        cfg: StyleConfig,
        *,
        bf16: bool = False,
        tv: Callable[[torch.Tensor], torch.Tensor] = tv_loss,
    ):
        """``style``: the style loss, or the targets of ``cfg``'s (:func:`style_targets`)."""
        self.extractor = extractor
        self.cfg = cfg
        self.bf16 = bf16
        self.tv = tv
        self.device = next(extractor.buffers()).device
        self.layers = tuple(dict.fromkeys(cfg.style_layers + (cfg.content_layers if content is not None else ())))
        self.content: ContentLoss | None = None
        if content is not None and cfg.content_weight > 0:
            with torch.no_grad(), autocast(self.device, bf16):
                feats = extractor(content.to(self.device), cfg.content_layers)
            self.content = ContentLoss(feats, cfg.layer_weights("content"))
        self.style = style if isinstance(style, StyleLoss) else \
            StyleLoss(style, cfg.layer_weights("style"), kind=cfg.style_loss)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        with autocast(self.device, self.bf16):
            feats = self.extractor(image, self.layers)
        terms: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=image.device)
        if self.content is not None:
            terms["content"] = cfg.content_weight * self.content(feats)
            total = total + terms["content"]
        if cfg.style_weight_in_use > 0:
            per_layer = self.style.per_layer(feats)
            terms["style"] = cfg.style_weight_in_use * torch.stack(list(per_layer.values())).sum()
            total = total + terms["style"]
            for k, v in per_layer.items():
                terms[f"style:{k}"] = cfg.style_weight_in_use * v.detach()
        if cfg.tv_weight > 0:
            terms["tv"] = cfg.tv_weight * self.tv(image)
            total = total + terms["tv"]
        return total, terms


class Compiled:
    """``objective`` through ``torch.compile`` (one static graph per image size), falling back
    to ``objective`` itself, with a warning, if compiling fails (no C++ compiler, say)."""

    def __init__(self, objective: ObjectiveFn):
        self.objective = objective
        self.compiled: Callable[..., Any] | None = torch.compile(objective, dynamic=False)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.compiled is not None:
            try:
                return self.compiled(image)  # type: ignore[no-any-return]
            except Exception as e:  # noqa: BLE001 - any compiler failure: run uncompiled
                warnings.warn(f"--compile: torch.compile failed, running uncompiled ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})", stacklevel=2)
                self.compiled = None
        return self.objective(image)
