"""``painterly CONTENT STYLE [STYLE ...] -o OUT``: paint one image (parse -> config -> Painter -> files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..config import Init, StyleConfig
from ..devices import describe
from ..errors import ConfigError
from ..images import (
    DEFAULT_QUALITY,
    Loaded,
    check_output_path,
    load_image,
    refuse_overwriting_inputs,
    save_image,
    to_pil,
)
from ..meta import describe_input, provenance, save_with_provenance
from ..optimize import Interrupted
from ..prints import DEFAULT_DPI, PrintSize, check_dpi
from .guard import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, Parser
from .options import add_control_options, add_style_options, config_from_args, controls_from_args, input_paths, save_every
from .tiling import TiledRun, add_pool_options, check_pool_options


def build_parser(commands: str = "") -> argparse.ArgumentParser:
    p = Parser(
        prog="painterly",
        description="Paint a photo in the style of an artwork (Gatys et al. neural style transfer). "
        + (f"Other commands: {commands} (painterly COMMAND --help)." if commands else ""),
    )
    p.add_argument("content", help="the photo to paint")
    p.add_argument("styles", nargs="*", metavar="style",
                   help="one or more style images (optional with --coarse-style and --fine-style)")
    add_output_options(p)
    add_print_options(p)
    add_style_options(p)
    add_pool_options(p)
    add_control_options(p)
    return p


def add_print_options(p: argparse.ArgumentParser) -> None:
    """``--print`` and ``--dpi``: the output's size as a print (painterly.prints), the DPI written into the file."""
    g = p.add_argument_group("print")
    g.add_argument("--print", metavar="WxH{in,cm,mm}",
                   help="paint for a print of this size, such as 24x36in or 30x40cm, at --dpi (instead of --size): "
                   "the photo's long side goes along the print's, uncropped, as large as fits")
    g.add_argument("--dpi", type=float, metavar="N",
                   help=f"print resolution: the pixels per inch of --print, written into the file (PNG, TIFF, JPEG) "
                   f"(default {DEFAULT_DPI:g} with --print; without it, written only when given)")


def print_size(args: argparse.Namespace) -> PrintSize | None:
    """``--print`` parsed, and its conflicts refused (one line each) before anything is loaded."""
    if getattr(args, "dpi", None) is not None:
        check_dpi(args.dpi)
    if getattr(args, "print", None) is None:
        return None
    if args.size is not None:
        raise ConfigError(f"--print {args.print} and --size {args.size} both set the output's size; give one of them")
    return PrintSize.parse(args.print)


def add_output_options(p: argparse.ArgumentParser, *, again: bool = False) -> None:
    """The image command's output flags (also ``painterly again``'s, where -o, --bit-depth and --quality
    default to the result's)."""
    g = p.add_argument_group("output")
    g.add_argument("-o", "--output", required=not again,
                   help="result image (.png, .jpg, .webp, .tif)" + (" (default: RESULT.again.png)" if again else ""))
    g.add_argument("--bit-depth", type=int, choices=(8, 16), default=None if again else 8,
                   help="16 for 16-bit PNG/TIFF (default " + ("the result's)" if again else "8)"))
    g.add_argument("--quality", type=int, metavar="Q",
                   help=f"JPEG/WebP quality, 1-100 (default {DEFAULT_QUALITY}" + (", or the result's)" if again else ")"))
    g.add_argument("--save-every", type=save_every, metavar="N",
                   help="also write every N-th iteration of each scale next to the output (a 512 px scale runs "
                   "--iterations, 20 by default; a 256 px scale twice as many)")
    g.add_argument("--sheet", metavar="PATH", help="also write content | style(s) | result side by side")
    g.add_argument("--plot", metavar="PATH", help="also write the loss curves (total, content, style per layer, TV)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    g.add_argument("--version", action="version", version=f"painterly {__version__}")


def _check_outputs(args: argparse.Namespace, cfg: StyleConfig, controls: dict[str, object]) -> Path:
    """Every output writable and no output an input, before anything is loaded."""
    out = check_output_path(args.output, bit_depth=args.bit_depth, quality=args.quality)
    if args.sheet:
        check_output_path(args.sheet, option="--sheet")
    refuse_overwriting_inputs({"--output": out, "--sheet": args.sheet, "--plot": args.plot},
                              [args.content, *args.styles, *input_paths(controls), cfg.init, args.preset,
                               getattr(args, "result", None)])
    return out


def _inputs_record(args: argparse.Namespace, cfg: StyleConfig, controls: dict[str, object]) -> dict[str, object]:
    """Every input file with its hash; a 'none' mask as null, so that each mask keeps its style's place."""
    files = {k: [describe_input(m) if m else None for m in v] if isinstance(v, list) else describe_input(v)  # type: ignore[arg-type]
             for k, v in controls.items() if v}
    init = {"init": describe_input(cfg.init)} if cfg.init not in Init.values() else {}
    return {"content": describe_input(args.content), "styles": [describe_input(s) for s in args.styles], **files, **init}


def paint(argv: list[str], commands: str = "") -> int:
    args = build_parser(commands).parse_args(argv)
    size = print_size(args)
    return paint_files(args, config_from_args(args), controls_from_args(args), print_size=size)


def paint_files(args: argparse.Namespace, cfg: StyleConfig, controls: dict[str, Any], *,
                print_size: PrintSize | None = None, **record: object) -> int:
    """Check the outputs, load the inputs, paint, write the result with its record (plus ``record``'s keys).
    ``args``: the output flags (:func:`add_output_options`; ``dpi`` optional), ``content``, ``styles`` and
    ``preset``, and optionally ``workers`` and ``scheduler`` (:func:`painterly.cli.tiling.add_pool_options`);
    ``print_size``: ``--print``, which sets the size from the photo's shape once it is loaded."""
    from ..plan import prepare
    from ..pools import PoolError
    from ..scales import describe_tiles

    out = _check_outputs(args, cfg, controls)
    check_pool_options(args)
    content = load_image(args.content, what="content")
    styles = [load_image(s, what="style") for s in args.styles]
    dpi = getattr(args, "dpi", None)
    if print_size is not None:
        dpi = DEFAULT_DPI if dpi is None else dpi
        cfg = cfg.replace(size=print_size.long_edge(tuple(content.rgb.shape[-2:]), dpi))  # type: ignore[arg-type]
    plan = prepare(content, styles, cfg, **controls)  # every check, before the network
    if not args.quiet:
        for line in describe_tiles(plan.scales):  # said before the network loads
            print(f"painterly: {line}", file=sys.stderr)
    if any(s.tile for s in plan.scales):  # the memory plan's choice changes the result: recorded with it
        record = {**record, "tiles": {f"{s.hw[1]}x{s.hw[0]}": s.tile for s in plan.scales if s.tile}}
    finished = False
    try:
        tiled = TiledRun(args, plan, out, cfg.seed)  # the pool and OUT.tiles/
        try:
            saving = {"bit_depth": args.bit_depth, "quality": args.quality, "dpi": dpi}
            code = _paint(args, tiled, out, (content, styles), _inputs_record(args, cfg, controls), saving, record)
            finished = code == EXIT_OK
        finally:
            tiled.close(finished)
    except PoolError as e:
        print(f"painterly: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    return code


def _paint(args: argparse.Namespace, tiled: TiledRun, out: Path, images: tuple[Loaded, list[Loaded]],
           inputs: dict[str, object], saving: dict[str, Any], record: dict[str, object]) -> int:
    """Paint ``tiled.plan`` with a progress bar and write the result, or on Ctrl-C the best image so far
    (``images``: the content and styles as loaded; ``inputs``: the record of the input files)."""
    from ..events import Step
    from ..pipeline import Painter
    from ..plot import LossRecorder
    from .progress import ProgressBar

    plan, (content, styles) = tiled.plan, images
    recorder = LossRecorder(args.plot)  # checks the path now; records only when --plot is given
    painter = Painter(plan.cfg)
    if not args.quiet and tiled.note():
        print(f"painterly: {tiled.note()}", file=sys.stderr)

    def write(image: torch.Tensor, alpha: torch.Tensor | None, result_cfg: StyleConfig, **extra: object) -> None:
        rec = provenance(result_cfg, inputs, **describe(painter.device), **saving, **record, **extra)
        save_with_provenance(image, out, rec, alpha=alpha, **saving)  # type: ignore[arg-type]
        recorder.write()

    with ProgressBar(enabled=not args.quiet) as bar:
        def callback(step: Step) -> None:
            bar.update(step)
            if args.plot:
                recorder(step)
            if args.save_every and step.image is not None and step.iteration % args.save_every == 0:
                save_image(step.image, out.with_name(f"{out.stem}.s{step.scale + 1}.i{step.iteration:04d}{out.suffix}"),
                           quality=args.quality)

        try:
            result = painter.run(plan, callback=callback, image_every=args.save_every or 0, **tiled.hooks)
        except Interrupted as e:
            write(e.image, content.alpha, plan.cfg, interrupted=True, **tiled.record())
            kept = f"; the finished tiles are kept in {tiled.folder.path}: run the same command again to resume" \
                if tiled.folder is not None else ""
            print(f"painterly: interrupted; best image so far written to {out}{kept}", file=sys.stderr)
            return EXIT_INTERRUPTED
    write(result.image, result.alpha, result.config, seconds=round(result.seconds, 2), iterations=result.iterations,
          loss=result.loss, **tiled.record())
    if args.sheet:
        _write_sheet(args.sheet, content, styles, result.pil())
    if not args.quiet:
        print(f"painterly: wrote {out} ({result.iterations} iterations, {result.seconds:.1f} s, "
              f"seed {result.config.seed})", file=sys.stderr)
    return EXIT_OK


def _write_sheet(path: str, content: Loaded, styles: list[Loaded], result: object) -> None:
    from ..sheet import contact_sheet

    panels = [("content", to_pil(content.rgb))] + [(f"style {i + 1}" if len(styles) > 1 else "style", to_pil(s.rgb))
                                                   for i, s in enumerate(styles)]
    panels.append(("result", result))  # type: ignore[arg-type]
    save_image(load_image(contact_sheet(panels), what="sheet").rgb, path)
