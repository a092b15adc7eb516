"""``stylize``: the scale schedule around the optimisation loop.

Coarse-to-fine (the default): optimise at a small size, upsample the result, continue at
sizes growing by ``scale_factor`` up to ``size``. Content and style targets are recomputed
at every scale (the style image is resized relative to that scale's output), so each scale
solves the same, size-independent problem and the coarse result is a good warm start.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import torch
from PIL import Image

from . import color, neighbors, vgg
from .config import MAX_SIZE, MIN_SIZE, ConfigError, Init, Method, Precision, PreserveColors, StyleConfig
from .controls import Controls
from .devices import resolve_device, use_threads
from .engine import Engine, memory_plans, scale_schedule  # noqa: F401  (their home before the engine)
from .events import Callback, Result, Step, draw_seed  # noqa: F401  (Step: its home before painterly.events)
from .features import VGG19Features
from .images import ImageSource, Loaded, fit_long_edge, load_image, resize
from .masks import MaskSource
from .objective import Compiled, Objective, style_long_edge, style_targets
from .optimize import ObjectiveFn
from .weights import load_weights

# --compile (opt-in) applies where an iteration is long, against about 20 s of compiling per
# scale; scales that checkpoint (painterly.memory) stay uncompiled. On a CPU it does not pay
# (docs/performance.md, benchmarks/compile_lever.py); not measured on a GPU.
COMPILE_MIN_SIZE = 1024


def use_bf16(cfg: StyleConfig, device: torch.device) -> bool:
    return cfg.precision is Precision.BFLOAT16


@lru_cache(maxsize=4)
def get_extractor(weights: str | None, pooling: str, layers: tuple[str, ...], device: str) -> VGG19Features:
    """A cached extractor, so that batch runs and the server load the network once."""
    return VGG19Features(load_weights(weights), layers, pooling).to(device)


def extractor_for(cfg: StyleConfig, device: torch.device) -> VGG19Features:
    deepest = vgg.network_depth(cfg.style_layers + cfg.content_layers)
    return get_extractor(cfg.weights, cfg.pooling.value, (deepest,), str(device))


def check_shapes(content_hw: tuple[int, int], style_hws: Sequence[tuple[int, int]], cfg: StyleConfig) -> None:
    """Refuse, before any work, an image that some scale would shrink below VGG19's smallest side.

    A 1x10000 strip painted at ``--size 512`` is 512x0 px: the message says what would work (a
    larger ``--size`` or ``--style-scale``, a larger ``--min-scale-size``, or cropping).
    """
    schedule = scale_schedule(fit_long_edge(content_hw, cfg.size), cfg)
    coarse, final = schedule[0][0], schedule[-1][0]
    if min(coarse) < MIN_SIZE:
        need = min_long_edge(content_hw)
        fix = (f"use --min-scale-size {need} or --no-multiscale" if MIN_SIZE <= min(final) else
               thin_image_hint(content_hw, "--size", also=" --no-multiscale" if len(schedule) > 1 else ""))
        _refuse("the photo", content_hw, min(coarse), fix)
    for i, (hw, scale) in enumerate(zip(style_hws, cfg.scales_for(len(style_hws))), 1):
        short = min(fit_long_edge(hw, style_long_edge(scale, coarse)))
        if short < MIN_SIZE:
            _refuse(f"style image {i}", hw, short, thin_image_hint(hw, "--style-scale", max(coarse)))


def _refuse(what: str, hw: tuple[int, int], short: int, fix: str) -> None:
    raise ConfigError(f"{what} ({hw[1]}x{hw[0]} px) would be {short} px on its short side "
                      f"(VGG19 needs {MIN_SIZE}+); {fix}")


def min_long_edge(hw: tuple[int, int]) -> int:
    """The long edge at which the short side of an image of ``hw`` reaches :data:`MIN_SIZE`."""
    return -(-MIN_SIZE * max(hw) // min(hw))


def thin_image_hint(hw: tuple[int, int], option: str, per_unit: float = 1.0, also: str = "") -> str:
    """What to do about an image too thin for VGG19: ``option`` (``--size``, or ``--style-scale``
    where the long edge is ``per_unit`` times the option) raised to a value that works (``also``:
    more flags that it needs), or a crop."""
    need = min_long_edge(hw)
    if need > MAX_SIZE:
        return f"no size up to {MAX_SIZE} px works; crop it to at most 1:{MAX_SIZE // MIN_SIZE}"
    return f"use {option} {need / per_unit:.4g}{also} or crop it to a less elongated shape"


def _init_image(cfg: StyleConfig, content: torch.Tensor, styles: Sequence[torch.Tensor],
                gen: torch.Generator) -> torch.Tensor:
    if cfg.init == Init.CONTENT.value:
        return content
    if cfg.init == Init.PALETTE.value:
        return palette_start(content, styles, cfg.blend_weights(len(styles)))
    if cfg.init == Init.RANDOM.value:
        return torch.rand(content.shape, generator=gen)
    return resize(load_image(cfg.init, what="--init").rgb, content.shape[-2:])


def palette_start(content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float]) -> torch.Tensor:
    """The content recoloured so that its colour mean and covariance are the styles' (blended by
    ``blend``): a start in the painting's palette with the photo's layout (``--init palette``), and
    ``--method nnst``'s last step (its colour correction)."""
    if not styles:
        return content
    stats = [color.color_stats(s) for s in styles]
    mean = sum(w * m for w, (m, _) in zip(blend, stats))
    # The blend's covariance: the weighted second moments about the blended mean.
    cov = sum(w * (c + (m - mean)[:, :, None] * (m - mean)[:, None, :]) for w, (m, c) in zip(blend, stats))
    return color.match_stats(content, mean, cov)  # type: ignore[arg-type]


class Painter:
    """Holds the network (and the options) so that several images reuse one extractor."""

    def __init__(self, config: StyleConfig | None = None):
        self.config = config or StyleConfig()
        self.device = resolve_device(self.config.device)
        use_threads(self.config.threads)
        self.extractor = extractor_for(self.config, self.device)
        self.bf16 = use_bf16(self.config, self.device)

    def style_targets(self, styles: Sequence[torch.Tensor], hw: tuple[int, int],
                      cfg: StyleConfig) -> dict[str, torch.Tensor]:
        """Blended style targets for an output of ``hw``; a hook so that batch runs can cache them."""
        return style_targets(self.extractor, styles, hw, cfg, bf16=self.bf16)

    @property
    def coordinates(self) -> type[neighbors.LaplacianCoordinates] | None:
        """What the optimiser moves at a scale: the Laplacian pyramid's coefficients for nnst, else the pixels."""
        return neighbors.LaplacianCoordinates if self.config.method is Method.NNST else None

    def finish_colours(self, image: torch.Tensor, styles: Sequence[torch.Tensor]) -> torch.Tensor:
        """``--method nnst``'s last step, its colour correction (the output's colour mean and covariance
        moved to the painting's by the optimal-transport map), unless the photo's colours are kept."""
        cfg = self.config
        if cfg.method is not Method.NNST or cfg.preserve_colors is not PreserveColors.NONE:
            return image
        return palette_start(image, styles, cfg.blend_weights(len(styles)))

    def style_bank(self, styles: Sequence[torch.Tensor], hw: tuple[int, int], cfg: StyleConfig) -> neighbors.StyleBank:
        """The painting's hypercolumns for an output of ``hw`` (``--method nnst``); a hook like :meth:`style_targets`."""
        sized = [resize(s, fit_long_edge(tuple(s.shape[-2:]), style_long_edge(k, hw))).to(self.device)  # type: ignore[arg-type]
                 for s, k in zip(styles, cfg.scales_for(len(styles)))]
        return neighbors.StyleBank.of(self.extractor, sized, cfg.blend_weights(len(styles)))

    def paint(
        self,
        content: Loaded,
        styles: Sequence[Loaded],
        *,
        callback: Callback | None = None,
        image_every: int = 0,
        masks: Sequence[MaskSource | None] | None = None,
        coarse_style: ImageSource | Loaded | None = None,
        fine_style: ImageSource | Loaded | None = None,
    ) -> Result:
        """Paint ``content`` in the style of ``styles``.

        Perceptual controls (painterly.controls): ``masks``, one per style image (path, PIL
        or tensor; white = that style's region, ``None`` = what no other mask covers; pixels
        no mask covers keep the content); ``coarse_style``/``fine_style``, images whose Gram
        targets replace the styles' at the layers from/before ``cfg.coarse_layer``.
        """
        cfg = self.config
        check_shapes(tuple(content.rgb.shape[-2:]), [tuple(s.rgb.shape[-2:]) for s in styles], cfg)  # type: ignore[arg-type, misc]
        # Perceptual controls: colour, masks, scale mix; validated before heavy work.
        controls = Controls.prepare(content.rgb, [s.rgb for s in styles], cfg, masks=masks,
                                    coarse_style=coarse_style, fine_style=fine_style)
        cfg = cfg.replace(seed=draw_seed(cfg.seed))
        torch.manual_seed(cfg.seed)  # type: ignore[arg-type]
        gen = torch.Generator().manual_seed(cfg.seed)  # type: ignore[arg-type]
        out_hw = fit_long_edge(tuple(content.rgb.shape[-2:]), cfg.size)  # type: ignore[arg-type]
        schedule = scale_schedule(out_hw, cfg)
        content_full = controls.content  # as the optimisation sees it (gray in luminance mode)
        style_rgbs = controls.styles
        nnst = cfg.method is Method.NNST

        def objective_for(net: VGG19Features, hw: tuple[int, int]) -> ObjectiveFn:
            content_hw = resize(content_full, hw).to(self.device)
            if nnst:
                return neighbors.NeighborObjective(net, content_hw, self.style_bank(style_rgbs, hw, cfg),
                                                   weight=cfg.style_strength,
                                                   content_weight=cfg.content_weight * neighbors.CONTENT_SCALE)
            style_loss = controls.style_loss(net, hw, bf16=self.bf16)  # None: plain blended targets
            grams = self.style_targets(style_rgbs, hw, cfg) if style_loss is None else {}
            objective = Objective(net, content_hw, grams, cfg, bf16=self.bf16, style_loss=style_loss)
            return Compiled(objective) if cfg.compile and max(hw) >= COMPILE_MIN_SIZE and not net.checkpoint else objective

        engine = Engine(self.extractor, cfg, self.device, callback, image_every,
                        memory_plans(schedule, cfg, self.device),
                        show=lambda img: controls.finish(img.cpu()),
                        finish=lambda img: controls.finish(resize(self.finish_colours(img.cpu(), style_rgbs), out_hw)),
                        coordinates=self.coordinates)
        out = engine.run(_init_image(cfg, content_full, style_rgbs, gen), schedule, objective_for)
        alpha = resize(content.alpha, out_hw) if content.alpha is not None else None
        return Result(out.image, alpha, cfg, out.loss, out.iterations, out.seconds)


def stylize(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    config: StyleConfig | None = None,
    *,
    callback: Callback | None = None,
    image_every: int = 0,
    masks: Sequence[MaskSource | None] | None = None,
    coarse_style: ImageSource | None = None,
    fine_style: ImageSource | None = None,
    **options: object,
) -> Image.Image:
    """Paint ``content`` in the style of ``style`` (one source or several).

    Sources are paths, PIL images or tensors ((3, H, W) or (1, 3, H, W) in [0, 1]).
    Options are a :class:`StyleConfig` and/or its fields as keywords
    (``stylize(a, b, size=256, style_weight=1e3)``). Returns a PIL image (RGBA when the
    content had alpha). ``masks``, ``coarse_style`` and ``fine_style``: see :meth:`Painter.paint`.
    """
    cfg = (config or StyleConfig()).replace(**options) if options else (config or StyleConfig())
    styles = [style] if isinstance(style, (str, os.PathLike, Image.Image, torch.Tensor)) else list(style)
    loaded_content = load_image(content, what="content")
    loaded_styles = [load_image(s, what="style") for s in styles]
    result = Painter(cfg).paint(loaded_content, loaded_styles, callback=callback, image_every=image_every,
                                masks=masks, coarse_style=coarse_style, fine_style=fine_style)
    return result.pil()


