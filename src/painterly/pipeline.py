"""``stylize`` and :class:`Painter`: a painting prepared (:mod:`painterly.plan`), then run by the engine.

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
import torch.nn.functional as F
from PIL import Image

from . import neighbors, pyramid, spill, tiles, tilestyle, vgg
from .config import Method, Precision, PreserveColors, StyleConfig
from .controls import Controls
from .devices import resolve_device, use_threads
from .engine import Engine, TileObjective, TilesElsewhere, TileStore
from .events import Callback, Result
from .features import VGG19Features
from .images import ImageSource, Loaded, fit_long_edge, load_image, resize
from .losses import StyleLoss
from .masks import MaskSource
from .objective import scale_objective, style_long_edge, style_targets, target_fields
from .optimize import BLOWUP, ObjectiveFn
from .plan import Plan, palette_start, prepare
from .weights import load_weights

Size = tuple[int, int]


def use_bf16(cfg: StyleConfig, device: torch.device) -> bool:
    return cfg.precision is Precision.BFLOAT16


@lru_cache(maxsize=4)
def get_extractor(weights: str | None, pooling: str, layers: tuple[str, ...], device: str) -> VGG19Features:
    """A cached extractor, so that batch runs and the server load the network once."""
    return VGG19Features(load_weights(weights), layers, pooling).to(device)


def extractor_for(cfg: StyleConfig, device: torch.device) -> VGG19Features:
    deepest = vgg.network_depth(cfg.style_layers + cfg.content_layers)
    return get_extractor(cfg.weights, cfg.pooling.value, (deepest,), str(device))


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

    def style_loss(self, controls: Controls, hw: tuple[int, int]) -> StyleLoss:
        """The style loss of a painting at ``hw``: the controls' where they change it, else the plain
        blended targets of the style images (through :meth:`style_targets`, which batch runs cache)."""
        cfg = controls.cfg
        loss = controls.style_loss(self.extractor, hw, bf16=self.bf16)
        if loss is None:
            loss = StyleLoss(self.style_targets(controls.styles, hw, cfg), cfg.layer_weights("style"), kind=cfg.style_loss)
        return loss

    def style_bank(self, styles: Sequence[torch.Tensor], hw: tuple[int, int], cfg: StyleConfig) -> neighbors.StyleBank:
        """The painting's hypercolumns for an output of ``hw`` (``--method nnst``); a hook like :meth:`style_targets`.
        Of ``cfg`` only :func:`bank_fields` is read."""
        out, blend, scales = bank_fields(cfg, len(styles), hw)
        sized = [resize(s, fit_long_edge(tuple(s.shape[-2:]), style_long_edge(k, out))).to(self.device)  # type: ignore[arg-type]
                 for s, k in zip(styles, scales)]
        return neighbors.StyleBank.of(self.extractor, sized, blend)

    def target_key(self, method: Method, styles: Sequence[str], hw: Size, cfg: StyleConfig) -> tuple[object, ...]:
        """What names exactly the targets :meth:`style_targets` (``method`` gatys) or :meth:`style_bank` (nnst)
        makes of the style images whose digests are ``styles``, for an output of ``hw``: the method, the images,
        the fields of ``cfg`` that maker reads (:func:`painterly.objective.target_fields`, :func:`bank_fields`)
        and this painter's network and device. A cache keyed by it (painterly.batches.workers) is never wrong."""
        fields = bank_fields(cfg, len(styles), hw) if method is Method.NNST else target_fields(cfg, len(styles), hw)
        return method, tuple(styles), fields, _network(self.config), str(self.device)

    def targets(self, controls: Controls, hw: tuple[int, int]) -> StyleLoss | neighbors.StyleBank:
        """What a scale of ``hw`` is pulled towards: the painting's hypercolumns (nnst) or the style loss (gatys)."""
        if controls.cfg.method is Method.NNST:
            return self.style_bank(controls.styles, hw, controls.cfg)
        return self.style_loss(controls, hw)

    def objective(self, net: VGG19Features, hw: tuple[int, int], cfg: StyleConfig, content: torch.Tensor,
                  targets: StyleLoss | neighbors.StyleBank, *, search: torch.Tensor | None = None,
                  inner: tuple[int, int] | None = None, centre: torch.Tensor | None = None,
                  final: bool = False) -> ObjectiveFn:
        """The objective of one scale (or one tile of a scale) of ``hw`` for images and video frames: ``content``
        (1, 3, H, W) on this painter's device, ``targets`` from :meth:`targets`; ``search``, ``inner``, ``centre``:
        a tile's place in the whole picture's search (nnst, :class:`neighbors.NeighborObjective`); ``final``: the
        painting's last scale (nnst's layer-by-layer match, painterly.layermatch)."""
        if isinstance(targets, neighbors.StyleBank):
            return neighbors.NeighborObjective(net, content, targets, weight=cfg.style_weight_in_use,
                                               content_weight=cfg.content_weight * neighbors.CONTENT_SCALE,
                                               search=search, inner=inner, centre=centre, final=final)
        return scale_objective(net, hw, cfg, content=content, style=targets, bf16=self.bf16)

    def tile_objectives(self, controls: Controls, out_hw: Size) -> TileObjective:
        """The objective of a tile of a tiled scale, with the targets the whole picture would give its pixels
        (docs/tiles.md). ``nnst``: the tile's crop of the photo at that scale; the whole painting's bank and
        the whole picture's centre of the search (:meth:`search_centre`), both once per scale; the search on
        the whole picture's search image cropped with a margin of the tiles' overlap
        (neighbors.NeighborObjective). ``gatys`` (swd): the tile's values ranked within the whole picture's
        distribution, from one pass per scale (painterly.tilestyle)."""
        cfg = controls.cfg
        scale: dict[Size, tuple[torch.Tensor, StyleLoss | neighbors.StyleBank, torch.Tensor | dict[str, torch.Tensor]]] = {}

        def objective(net: VGG19Features, tile_hw: Size, window: tiles.Window) -> ObjectiveFn:
            hw, t = window.hw, window.tile
            if hw not in scale:
                scale.clear()  # one scale's photo and targets at a time
                content, targets = resize(controls.content, hw).to(self.device), self.targets(controls, hw)
                whole = self.search_centre(net, content, window.blend, targets) \
                    if isinstance(targets, neighbors.StyleBank) else \
                    tilestyle.whole_projections(net, cfg.style_layers, window.blend)
                scale[hw] = content, targets, whole
            content, targets, whole = scale[hw]
            tile_content = t.crop(content).contiguous()
            if isinstance(targets, StyleLoss):
                assert isinstance(whole, dict) and not targets.masks, "tiles are planned without masks"
                with torch.no_grad():
                    start = net(t.crop(window.start).contiguous(), cfg.style_layers)
                style = tilestyle.TileStyleLoss(targets.targets, targets.weights, whole, start)
                return self.objective(net, tile_hw, cfg, tile_content, style)
            assert isinstance(whole, torch.Tensor)
            search, inner = search_crop(content, window.start, t)
            return self.objective(net, tile_hw, cfg, tile_content, targets, search=search, inner=inner, centre=whole,
                                  final=hw == out_hw)

        return objective

    @staticmethod
    def search_centre(net: VGG19Features, content: torch.Tensor, blend: tiles.Blend,
                      bank: neighbors.StyleBank) -> torch.Tensor:
        """The whole picture's mean of its projected search features (what :func:`neighbors.nearest` centres a
        whole scale's queries on), tile by tile: each tile's positions weighted by its feathers, which sum to 1."""
        total, count = torch.zeros(()), torch.zeros(())
        for t in blend.tiles:
            search, inner = search_crop(content, blend.start, t)
            with torch.no_grad():
                projected = neighbors.search_columns(net, search, bank.axes, inner, t.hw)
            colours = neighbors.cell_colours(t.crop(blend.start))[0].flatten(1).T.to(projected)
            w = F.avg_pool2d(blend.weights(t), neighbors.HYPERCOLUMN_STRIDE).reshape(-1, 1).to(projected)
            total = total + bank.centre_of(projected * w, colours * w)[0].cpu()
            count = count + w.sum().cpu()
            spill.trim()
        return total / count.clamp_min(1e-8)

    @property
    def coordinates(self) -> type[pyramid.LaplacianCoordinates] | None:
        """What the optimiser moves at a scale: the Laplacian pyramid's coefficients for nnst, else the pixels."""
        return pyramid.LaplacianCoordinates if self.config.method is Method.NNST else None

    @property
    def blowup(self) -> float:
        """How far a step's loss may rise before the optimiser undoes it: nnst's loss is bounded (a cosine)."""
        return neighbors.BLOWUP if self.config.method is Method.NNST else BLOWUP

    def finish_colours(self, image: torch.Tensor, styles: Sequence[torch.Tensor]) -> torch.Tensor:
        """``--method nnst``'s last step, its colour correction (the output's colour mean and covariance
        moved to the painting's by the optimal-transport map), unless the photo's colours are kept."""
        cfg = self.config
        if cfg.method is not Method.NNST or cfg.preserve_colors is not PreserveColors.NONE:
            return image
        return palette_start(image, styles, cfg.blend_weights(len(styles)))

    def prepare(
        self,
        content: Loaded,
        styles: Sequence[Loaded],
        *,
        masks: Sequence[MaskSource | None] | None = None,
        coarse_style: ImageSource | Loaded | None = None,
        fine_style: ImageSource | Loaded | None = None,
        tileable: bool = True,
    ) -> Plan:
        """:func:`painterly.plan.prepare` with this painter's options and device."""
        return prepare(content, styles, self.config, device=self.device, masks=masks, coarse_style=coarse_style,
                       fine_style=fine_style, tileable=tileable)

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
        """Paint ``content`` in the style of ``styles``: :meth:`prepare`, then :meth:`run`.

        Perceptual controls (painterly.controls): ``masks``, one per style image (path, PIL
        or tensor; white = that style's region, ``None`` = what no other mask covers; pixels
        no mask covers keep the content); ``coarse_style``/``fine_style``, images whose Gram
        targets replace the styles' at the layers from/before ``cfg.coarse_layer``.
        """
        plan = self.prepare(content, styles, masks=masks, coarse_style=coarse_style, fine_style=fine_style)
        return self.run(plan, callback=callback, image_every=image_every)

    def run(self, plan: Plan, *, callback: Callback | None = None, image_every: int = 0,
            tiles_elsewhere: TilesElsewhere | None = None, tile_store: TileStore | None = None) -> Result:
        """Run a prepared painting (:func:`painterly.plan.prepare`, with this painter's network and device).
        ``tiles_elsewhere``: paints a tiled scale's tiles at once on a pool (painterly.tilepool); ``tile_store``:
        keeps the finished tiles, so that the run started again continues from them (painterly.tilefolder)."""
        cfg, controls = plan.cfg, plan.controls
        if plan.device != self.device or _network(cfg) != _network(self.config):
            raise ValueError("Painter.run: the plan was prepared for another network or device than this painter's")
        torch.manual_seed(cfg.seed)  # type: ignore[arg-type]

        def objective_for(net: VGG19Features, hw: tuple[int, int]) -> ObjectiveFn:
            content = resize(controls.content, hw).to(self.device)  # as the optimisation sees it
            return self.objective(net, hw, cfg, content, self.targets(controls, hw), final=hw == plan.out_hw)

        engine = self.engine(plan, callback, image_every, tiles_elsewhere=tiles_elsewhere, tile_store=tile_store)
        out = engine.run(plan.start(), plan.scales, objective_for)
        alpha = resize(plan.alpha, plan.out_hw) if plan.alpha is not None else None
        return Result(out.image, alpha, cfg, out.loss, out.iterations, out.seconds)

    def engine(self, plan: Plan, callback: Callback | None = None, image_every: int = 0, *,
               tiles_elsewhere: TilesElsewhere | None = None, tile_store: TileStore | None = None) -> Engine:
        """The engine that paints ``plan`` with this painter: its colours shown and finished, its optimiser's
        coordinates, its tiles' objectives (:meth:`tile_objectives`). :meth:`run` paints with it, and a pool's
        worker paints a tile of the plan with the one it makes (painterly.tilepool), so both paint a tile alike."""
        controls, out_hw = plan.controls, plan.out_hw
        return Engine(self.extractor, plan.cfg, self.device, callback, image_every,
                      show=lambda img: controls.finish(img.cpu()),
                      finish=lambda img: controls.finish(resize(self.finish_colours(img.cpu(), controls.styles), out_hw)),
                      coordinates=self.coordinates, blowup=self.blowup, tile_objective=self.tile_objectives(controls, out_hw),
                      tiles_elsewhere=tiles_elsewhere, tile_store=tile_store)


def search_crop(content: torch.Tensor, start: torch.Tensor, t: tiles.Tile) -> tuple[torch.Tensor, tuple[int, int]]:
    """The whole picture's search image (neighbors.search_image) around tile ``t``, with a margin of the tiles'
    overlap, and where ``t`` lies in it."""
    outer, inner = tiles.margin(t, tuple(start.shape[-2:]), tiles.overlap(max(t.hw)))  # type: ignore[arg-type]
    return neighbors.search_image(outer.crop(content), outer.crop(start)), (inner.top, inner.left)


def bank_fields(cfg: StyleConfig, n_styles: int, out_hw: Size) -> tuple[Size, tuple[float, ...], tuple[float, ...]]:
    """Everything of the options that :meth:`Painter.style_bank` reads, for ``n_styles`` images and an output of
    ``out_hw``: (size, blend weights, style scales); as :func:`painterly.objective.target_fields` for gatys."""
    return (out_hw[0], out_hw[1]), tuple(cfg.blend_weights(n_styles)), tuple(cfg.scales_for(n_styles))


def _network(cfg: StyleConfig) -> tuple[object, ...]:
    return cfg.weights, cfg.pooling, cfg.style_layers + cfg.content_layers, cfg.precision


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
    plan = prepare(loaded_content, loaded_styles, cfg, masks=masks,
                   coarse_style=coarse_style, fine_style=fine_style)  # every check, before the network loads
    return Painter(cfg).run(plan, callback=callback, image_every=image_every).pil()


