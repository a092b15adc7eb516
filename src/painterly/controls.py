"""The perceptual controls of Gatys et al. (2017) as one plan: colour, space and scale.

:meth:`Controls.prepare` validates everything before heavy work and returns the images the
optimisation sees; :meth:`Controls.style_loss` builds each scale's style loss when masks, a
scale mix or a content-dependent colour mode change it (``None`` means the plain blended
style targets of the style images, which callers may cache by style);
:meth:`Controls.finish` turns an optimised image (any scale) into the final colours.

- Colour (``cfg.preserve_colors``): see :mod:`painterly.color`. In ``luminance`` and
  ``match`` modes the style's colour map is computed once from the full images and applied
  to the style *after* it is resized for each scale, without clipping to [0, 1], so the
  colour statistics the network sees are exactly the content's.
- Space (``masks``): one mask per style image, see :mod:`painterly.masks`. Each style's
  targets (``cfg.style_loss``'s statistic) are computed from its whole image; the output's
  statistic inside the style's region (a guided Gram matrix; for ``swd`` the positions
  the mask covers by half or more; for ``meancov`` the mask-weighted moments) is matched
  to them. ``style_blend_weights`` then scale each region's
  pull (equal weights: 1 each). Pixels no mask covers keep the content.
- Scale (``coarse_style`` / ``fine_style``): a per-layer choice of style targets. Style
  layers at or deeper than ``cfg.coarse_layer`` (default relu3_1: relu3_1, relu4_1,
  relu5_1) take theirs from ``coarse_style``, shallower ones (relu1_1, relu2_1) from
  ``fine_style``; a side without its own image uses the (blended) style images. The two
  images are sized by the single ``--style-scale`` value (default 1).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from . import color, spill
from .config import ColorMatch, Method, PreserveColors, StyleConfig
from .errors import ConfigError
from .features import VGG19Features
from .images import ImageSource, Loaded, fit_long_edge, load_image, resize
from .losses import Region, StyleLoss
from .masks import MaskSource, keep_content, keep_mask, load_mask, mask_pyramid, region_masks
from .objective import style_long_edge, style_targets
from .vgg import LAYER_NAMES


@dataclass(frozen=True)
class StyleSource:
    """A style image as given, with the colour mode the optimisation sees it through."""

    raw: torch.Tensor  # (1, 3, h, w) in [0, 1]
    mode: PreserveColors
    method: ColorMatch

    def seen(self, content: torch.Tensor) -> torch.Tensor:
        """The full image as the optimisation sees it next to ``content``, clipped to [0, 1] (for display)."""
        return color.apply_map(self.raw, color.style_map(self.raw, content, self.mode, self.method), clamp=True)

    def at(self, out_hw: tuple[int, int], scale: float, content: torch.Tensor) -> torch.Tensor:
        """Resized to ``scale`` x the output's long edge (as ``objective.style_targets`` does),
        then colour-mapped to ``content`` at ``out_hw`` *without* clipping, so the colour
        statistics the network sees at this scale are exactly the content's."""
        hw = fit_long_edge(tuple(self.raw.shape[-2:]), style_long_edge(scale, out_hw))  # type: ignore[arg-type]
        small = resize(self.raw, hw)
        return color.apply_map(small, color.style_map(small, resize(content, out_hw), self.mode, self.method))


@dataclass
class Controls:
    """The prepared controls of one painting (build with :meth:`prepare`)."""

    cfg: StyleConfig
    original: torch.Tensor  # (1, 3, H, W) content at the output size, true colours
    content: torch.Tensor  # what the optimisation sees as content (gray in luminance mode)
    styles: list[torch.Tensor]  # the style images as the optimisation sees them (clipped, for display)
    coarse: torch.Tensor | None = None
    fine: torch.Tensor | None = None
    regions: list[torch.Tensor] | None = None  # one (1, 1, H, W) mask per style, output size
    keep: torch.Tensor | None = None  # (1, 1, H, W): 1 where the content is kept
    sources: list[StyleSource] = field(default_factory=list)  # styles, then coarse, then fine

    @classmethod
    def prepare(
        cls,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        cfg: StyleConfig,
        *,
        out_hw: tuple[int, int],
        masks: Sequence[MaskSource | None] | None = None,
        coarse_style: ImageSource | Loaded | None = None,
        fine_style: ImageSource | Loaded | None = None,
    ) -> Controls:
        """Check the controls against the inputs and prepare the images (cheap: no network).

        ``content`` is (1, 3, H, W) in [0, 1] at any size (resized here to the output's ``out_hw``,
        which :func:`painterly.plan.prepare` computes, the one place it is), ``styles`` likewise. Raises
        :class:`ConfigError` naming the option at fault.
        """
        styles = list(styles)
        _gatys_only(cfg, masks is not None or coarse_style is not None or fine_style is not None)
        coarse = _rgb(coarse_style, "--coarse-style")
        fine = _rgb(fine_style, "--fine-style")
        if not styles and (coarse is None or fine is None):
            raise ConfigError("give at least one style image (or both --coarse-style and --fine-style)")
        if styles:
            cfg.blend_weights(len(styles))
            cfg.scales_for(len(styles))
        mixing = coarse is not None or fine is not None
        if mixing:
            coarse_layers, fine_layers = split_layers(cfg)
            if not coarse_layers or not fine_layers:
                raise ConfigError(
                    f"--coarse-layer {cfg.coarse_layer}: the style layers ({','.join(cfg.style_layers)}) must "
                    "include layers on both sides of it for --coarse-style/--fine-style; choose a middle layer"
                )
        original = resize(content, out_hw)
        regions = keep = None
        if masks is not None:
            masks = [None if (isinstance(m, str) and m.lower() == "none") else m for m in masks]
            if mixing:
                raise ConfigError("--mask cannot be combined with --coarse-style/--fine-style; use one or the other")
            if len(masks) != len(styles):
                raise ConfigError(f"--mask: {len(masks)} mask(s) for {len(styles)} style image(s); "
                                  "give one --mask per style image, in the same order ('none' for the rest)")
            labels = [f"--mask {m}" if isinstance(m, (str, os.PathLike)) else f"--mask {i + 1}"
                      for i, m in enumerate(masks)]
            loaded = [None if m is None else load_mask(m, what="--mask" if isinstance(m, (str, os.PathLike)) else lab)
                      for m, lab in zip(masks, labels)]
            regions = region_masks(loaded, out_hw, labels=labels)
            keep = keep_mask(regions)
            if float(keep.max()) < 1e-3:
                keep = None
        mode, method = cfg.preserve_colors, cfg.color_match
        seen_content = color.prepare(original, [], mode, method)[0]
        sources = [StyleSource(x, mode, method) for x in styles + [x for x in (coarse, fine) if x is not None]]
        seen = [src.seen(original) for src in sources]
        c = seen[len(styles)] if coarse is not None else None
        f = seen[-1] if fine is not None else None
        return cls(cfg, original, seen_content, seen[: len(styles)], c, f, regions, keep, sources)

    # Per scale ------------------------------------------------------------------------
    @property
    def recolours(self) -> bool:
        """True when the style targets depend on the content's colours (luminance / match)."""
        return self.cfg.preserve_colors in (PreserveColors.LUMINANCE, PreserveColors.MATCH)

    def style_loss(self, extractor: VGG19Features, hw: tuple[int, int], *, bf16: bool = False) -> StyleLoss | None:
        """The style loss for an output of ``hw``, or ``None`` when no control changes the
        plain blended targets of ``styles`` (so callers may cache those by style)."""
        cfg = self.cfg
        mixing = self.coarse is not None or self.fine is not None
        if self.regions is None and not mixing and not self.recolours:
            return None
        weights = cfg.layer_weights("style")
        n = len(self.styles)
        need_styles = not (self.coarse is not None and self.fine is not None)
        per_style = [self._grams(extractor, i, hw, scale, bf16) for i, scale in enumerate(cfg.scales_for(n))] \
            if n and need_styles else []
        if self.regions is not None:
            device = next(extractor.buffers()).device
            blend = cfg.blend_weights(n)
            regions: dict[str, list[Region]] = {k: [] for k in cfg.style_layers}
            for mask, grams, w in zip(self.regions, per_style, blend):
                pyramid = mask_pyramid(_area(mask, hw).to(device), cfg.style_layers)
                for k in cfg.style_layers:
                    regions[k].append((pyramid[k], grams[k], w * n))
            return StyleLoss({}, weights, masks=regions, kind=cfg.style_loss)
        blended: dict[str, torch.Tensor] = {}
        for grams, w in zip(per_style, cfg.blend_weights(n) if per_style else []):
            for k, g in grams.items():
                blended[k] = blended[k] + w * g if k in blended else w * g
        if not mixing:
            return StyleLoss(blended, weights, kind=cfg.style_loss)
        scale = cfg.style_scales[0] if len(cfg.style_scales) == 1 else cfg.style_scale
        a = self._grams(extractor, n, hw, scale, bf16) if self.coarse is not None else blended
        b = self._grams(extractor, len(self.sources) - 1, hw, scale, bf16) if self.fine is not None else blended
        coarse_layers, fine_layers = split_layers(cfg)
        return StyleLoss({k: a[k] for k in coarse_layers} | {k: b[k] for k in fine_layers}, weights,
                         kind=cfg.style_loss)

    def _grams(self, extractor: VGG19Features, i: int, hw: tuple[int, int], scale: float,
               bf16: bool) -> dict[str, torch.Tensor]:
        # Already at its size, so style_targets does not resize (or clip) it.
        image = self.sources[i].at(hw, scale, self.original)
        one = self.cfg.replace(style_blend_weights=(), style_scales=(scale,))
        return style_targets(extractor, [image], hw, one, bf16=bf16)

    # After the optimisation -----------------------------------------------------------
    def finish(self, image: torch.Tensor) -> torch.Tensor:
        """(1, 3, h, w) optimised image at any scale -> final colours, kept region restored."""
        image = spill.pixelwise(lambda x: x.clamp(0, 1), image)
        out = color.finish(image, self.original, self.cfg.preserve_colors)
        if self.keep is not None:
            out = keep_content(out, resize(self.original.to(out.device), out.shape[-2:]), self.keep)
        return out


def split_layers(cfg: StyleConfig) -> tuple[list[str], list[str]]:
    """(coarse, fine) style layers: at/after ``cfg.coarse_layer`` in the network, and before it."""
    cut = LAYER_NAMES.index(cfg.coarse_layer)
    coarse = [k for k in cfg.style_layers if LAYER_NAMES.index(k) >= cut]
    fine = [k for k in cfg.style_layers if LAYER_NAMES.index(k) < cut]
    return coarse, fine


def single_targets(extractor: VGG19Features, style: torch.Tensor, hw: tuple[int, int], cfg: StyleConfig,
                 scale: float, *, bf16: bool = False) -> dict[str, torch.Tensor]:
    """One style image's targets (``cfg.style_loss``'s) for an output of ``hw`` (``scale`` x its long edge)."""
    one = cfg.replace(style_blend_weights=(), style_scales=(scale,))
    return style_targets(extractor, [style], hw, one, bf16=bf16)


def _area(mask: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(mask.shape[-2:]) == tuple(hw):
        return mask
    mode = "area" if hw[0] * hw[1] <= mask.shape[-2] * mask.shape[-1] else "bilinear"
    kw = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(mask, size=hw, mode=mode, **kw).clamp(0, 1)


def _gatys_only(cfg: StyleConfig, used: bool) -> None:
    """Masks and the scale mix shape Gatys et al.'s statistics: refused, in one line, with another method."""
    if used and cfg.method is not Method.GATYS:
        raise ConfigError(f"--mask, --coarse-style and --fine-style work with --method gatys, not {cfg.method.value}; "
                          "add --method gatys")


def _rgb(source: ImageSource | Loaded | None, what: str) -> torch.Tensor | None:
    if source is None:
        return None
    if isinstance(source, Loaded):
        return source.rgb
    return load_image(source, what=what).rgb
