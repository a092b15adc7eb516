"""A painting prepared: everything decided before the network loads, once (Prepare, then run).

:func:`prepare` checks the inputs against the options and makes the :class:`Plan` of one painting:
the shapes every scale will have, the perceptual controls (:class:`painterly.controls.Controls`),
the output's size, the scale schedule with each scale's memory plan, the seed and the ``--init``
image. It is cheap (no network) and raises :class:`ConfigError` / :class:`ImageError` naming the
option or file at fault. A shell (the CLI, video, batch, the server) validates by preparing and
hands the plan to :meth:`painterly.pipeline.Painter.run`; nothing downstream prepares again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from . import color
from .config import MAX_SIZE, Init, StyleConfig
from .controls import Controls
from .devices import resolve_device
from .errors import ConfigError
from .events import draw_seed
from .images import ImageSource, Loaded, fit_long_edge, load_image, resize
from .masks import MaskSource
from .objective import style_long_edge
from .scales import Scale, plan_scales, scale_schedule
from .vgg import MIN_SIZE

Size = tuple[int, int]


@dataclass(frozen=True)
class Plan:
    """One painting, prepared. ``cfg`` has its seed resolved; ``scales`` end at ``out_hw`` (H, W)."""

    cfg: StyleConfig
    controls: Controls
    out_hw: Size
    scales: tuple[Scale, ...]
    device: torch.device
    alpha: torch.Tensor | None = None  # (1, 1, h, w) the content's alpha, as loaded
    init_image: torch.Tensor | None = None  # ``--init PATH`` at ``out_hw``

    def with_seed(self, seed: int) -> Plan:
        """The same plan with another seed (a resumed video keeps the seed it started with)."""
        return replace(self, cfg=self.cfg.replace(seed=seed))

    def start(self) -> torch.Tensor:
        """The image the optimisation starts from (``--init``), at ``out_hw``, in the optimisation's colours."""
        cfg, content = self.cfg, self.controls.content
        if cfg.init is Init.CONTENT:
            return content
        if cfg.init is Init.PALETTE:
            return palette_start(content, self.controls.styles, cfg.blend_weights(len(self.controls.styles)))
        if cfg.init is Init.RANDOM:
            return torch.rand(content.shape, generator=torch.Generator().manual_seed(cfg.seed))  # type: ignore[arg-type]
        assert self.init_image is not None
        return self.init_image


def prepare(
    content: Loaded,
    styles: Sequence[Loaded],
    cfg: StyleConfig,
    *,
    device: torch.device | None = None,
    masks: Sequence[MaskSource | None] | None = None,
    coarse_style: ImageSource | Loaded | None = None,
    fine_style: ImageSource | Loaded | None = None,
    tileable: bool = True,
) -> Plan:
    """The plan of painting ``content`` in the style of ``styles`` with ``cfg`` on ``device`` (see the
    module docstring; the controls are :meth:`painterly.pipeline.Painter.paint`'s; ``device`` None: ``cfg.device``,
    resolved). No network is loaded.
    ``tileable``: a scale may be painted in tiles (painterly.tiles; not for a video, whose later frames paint
    whole scales)."""
    content_hw: Size = tuple(content.rgb.shape[-2:])  # type: ignore[assignment]
    out_hw = fit_long_edge(content_hw, cfg.size)  # the output's size: here, once
    schedule = scale_schedule(out_hw, cfg)
    check_shapes(content_hw, [tuple(s.rgb.shape[-2:]) for s in styles], cfg, schedule)  # type: ignore[misc]
    controls = Controls.prepare(content.rgb, [s.rgb for s in styles], cfg, out_hw=out_hw, masks=masks,
                                coarse_style=coarse_style, fine_style=fine_style)
    cfg = cfg.replace(seed=draw_seed(cfg.seed))
    device = device or resolve_device(cfg.device)
    if controls.regions is not None and cfg.tile_size is not None:
        raise ConfigError(": masks paint each scale whole (a region's statistics belong to the whole region); leave "
                          "--tile-size out, or the masks", "tile_size")
    scales = plan_scales(schedule, cfg, device, tileable=tileable and controls.regions is None, source_hw=content_hw)
    init = None if isinstance(cfg.init, Init) else resize(load_image(cfg.init, what="--init").rgb, out_hw)
    return Plan(cfg, controls, out_hw, scales, device, content.alpha, init)


def palette_start(content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float]) -> torch.Tensor:
    """The content recoloured so that its colour mean and covariance are the styles' (blended by
    ``blend``): a start in the painting's palette with the photo's layout (``--init palette``)."""
    if not styles:
        return content
    stats = [color.color_stats(s) for s in styles]
    mean = sum(w * m for w, (m, _) in zip(blend, stats))
    # The blend's covariance: the weighted second moments about the blended mean.
    cov = sum(w * (c + (m - mean)[:, :, None] * (m - mean)[:, None, :]) for w, (m, c) in zip(blend, stats))
    return color.match_stats(content, mean, cov)  # type: ignore[arg-type]


# Shapes -------------------------------------------------------------------------------------
def check_shapes(content_hw: Size, style_hws: Sequence[Size], cfg: StyleConfig,
                 schedule: Sequence[tuple[Size, int]]) -> None:
    """Refuse, before any work, an image that some scale of ``schedule`` (the painting's, from coarse to
    fine) would shrink below VGG19's smallest side.

    A 1x10000 strip painted at ``--size 512`` is 512x0 px: the message says what would work (a
    larger ``--size`` or ``--style-scale``, a larger ``--min-scale-size``, or cropping).
    """
    coarse, final = schedule[0][0], schedule[-1][0]
    if min(coarse) < MIN_SIZE:
        fix = (f"use --min-scale-size {min_long_edge(content_hw)} or --no-multiscale" if MIN_SIZE <= min(final) else
               thin_image_hint(content_hw, "--size", also=" --no-multiscale" if len(schedule) > 1 else ""))
        _refuse("the photo", content_hw, min(coarse), fix)
    for i, (hw, scale) in enumerate(zip(style_hws, cfg.scales_for(len(style_hws))), 1):
        short = min(fit_long_edge(hw, style_long_edge(scale, coarse)))
        if short < MIN_SIZE:
            _refuse(f"style image {i}", hw, short, thin_image_hint(hw, "--style-scale", max(coarse)))


def _refuse(what: str, hw: Size, short: int, fix: str) -> None:
    raise ConfigError(f"{what} ({hw[1]}x{hw[0]} px) would be {short} px on its short side "
                      f"(VGG19 needs {MIN_SIZE}+); {fix}")


def min_long_edge(hw: Size) -> int:
    """The long edge at which the short side of an image of ``hw`` reaches :data:`MIN_SIZE`."""
    return -(-MIN_SIZE * max(hw) // min(hw))


def thin_image_hint(hw: Size, option: str, per_unit: float = 1.0, also: str = "") -> str:
    """What to do about an image too thin for VGG19: ``option`` (``--size``, or ``--style-scale``
    where the long edge is ``per_unit`` times the option) raised to a value that works (``also``:
    more flags that it needs), or a crop."""
    need = min_long_edge(hw)
    if need > MAX_SIZE:
        return f"no size up to {MAX_SIZE} px works; crop it to at most 1:{MAX_SIZE // MIN_SIZE}"
    return f"use {option} {need / per_unit:.4g}{also} or crop it to a less elongated shape"
