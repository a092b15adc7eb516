"""The command line: parse -> config -> pipeline -> exit code.

``painterly CONTENT STYLE [STYLE ...] -o OUT`` paints one image; ``painterly COMMAND ...``
runs another command (see ``COMMANDS``). Exit codes: 0 done, 1 failure, 2 usage error,
130 interrupted (the best image so far is saved).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

import torch

from .. import __version__
from ..config import ConfigError, StyleConfig
from ..images import ImageError, check_output_path, load_image, refuse_overwriting_inputs, save_image, to_pil
from ..meta import describe_input, provenance, save_with_provenance
from ..optimize import Interrupted
from ..weights import WeightsError
from .options import add_control_options, add_style_options, config_from_args, controls_from_args, input_paths

# Other commands: name -> module with ``main(argv) -> int``, imported only when used.
COMMANDS: dict[str, str] = {
    "serve": "painterly.server.cli",
    "video": "painterly.video.cli",
    "batch": "painterly.batches.cli",
    "explain": "painterly.explain.cli",
    "texture": "painterly.explain.cli:texture_main",
    "eval": "painterly.cli.eval",
}

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
log = logging.getLogger("painterly")


class UsageError(Exception):
    """A bad command line; exits 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="painterly",
        description="Paint a photo in the style of an artwork (Gatys et al. neural style transfer). "
        f"Other commands: {', '.join(COMMANDS)} (painterly COMMAND --help).",
    )
    p.add_argument("content", help="the photo to paint")
    p.add_argument("styles", nargs="*", metavar="style",
                   help="one or more style images (optional with --coarse-style and --fine-style)")
    g = p.add_argument_group("output")
    g.add_argument("-o", "--output", required=True, help="result image (.png, .jpg, .webp, .tif)")
    g.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="16 for 16-bit PNG/TIFF (default 8)")
    g.add_argument("--save-every", type=int, metavar="N", help="also write every N-th iteration next to the output")
    g.add_argument("--sheet", metavar="PATH", help="also write content | style(s) | result side by side")
    g.add_argument("--plot", metavar="PATH", help="also write the loss curves (total, content, style per layer, TV)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    g.add_argument("--version", action="version", version=f"painterly {__version__}")
    add_style_options(p)
    add_control_options(p)
    return p


def run_guarded(fn: Callable[[], int]) -> int:
    """Turn the package's errors into one-line messages and exit codes (no tracebacks)."""
    try:
        return fn()
    except UsageError as e:
        print(f"{e}", file=sys.stderr)
        return EXIT_USAGE
    except (ConfigError, ImageError) as e:
        print(f"painterly: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except WeightsError as e:
        print(f"painterly: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except MemoryError:
        print("painterly: error: out of memory; lower --size", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("painterly: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as e:
        print(f"painterly: error: {e.filename or ''} {e.strerror or e}".strip(), file=sys.stderr)
        return EXIT_FAILURE
    except Exception as e:  # noqa: BLE001 - anything else: one line, the traceback only on request
        if debugging():
            raise
        first = str(e).splitlines()[0] if str(e) else ""
        print(f"painterly: error: {type(e).__name__}: {first} (unexpected: please report it; "
              "--debug or PAINTERLY_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_FAILURE


_debug_flag = False  # --debug on the command line, for the duration of main()


def debugging() -> bool:
    """Tracebacks wanted: ``--debug`` on the command line (see :func:`main`) or ``PAINTERLY_DEBUG=1``."""
    return _debug_flag or os.environ.get("PAINTERLY_DEBUG", "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    global _debug_flag
    argv = list(sys.argv[1:] if argv is None else argv)
    _debug_flag = "--debug" in argv  # any command: show tracebacks of unexpected errors
    argv = [a for a in argv if a != "--debug"]
    try:
        if argv and argv[0] in COMMANDS:
            module, _, func = COMMANDS[argv[0]].partition(":")
            entry = getattr(importlib.import_module(module), func or "main")
            return int(entry(argv[1:]))
        return run_guarded(lambda: _paint(argv))
    finally:
        _debug_flag = False


def _paint(argv: list[str]) -> int:
    from ..pipeline import Painter, Step  # heavy imports only once the command line is valid

    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    out = check_output_path(args.output)
    if args.sheet:
        check_output_path(args.sheet, option="--sheet")
    if args.bit_depth == 16 and out.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise ConfigError(f"--bit-depth 16: {out.suffix} cannot hold 16 bits; write .png or .tif")
    if args.save_every is not None and args.save_every < 1:
        raise ConfigError("--save-every must be at least 1")
    controls = controls_from_args(args)
    refuse_overwriting_inputs({"--output": out, "--sheet": args.sheet, "--plot": args.plot},
                              [args.content, *args.styles, *input_paths(controls), cfg.init, args.preset])
    content = load_image(args.content, what="content")
    styles = [load_image(s, what="style") for s in args.styles]
    from ..controls import Controls

    # Masks, colour modes and the scale mix are checked before the network loads.
    Controls.prepare(content.rgb, [s.rgb for s in styles], cfg, **controls)
    from ..plot import LossRecorder

    recorder = LossRecorder(args.plot)  # checks the path now; records only when --plot is given
    painter = Painter(cfg)

    from .progress import ProgressBar

    def record(result_cfg: StyleConfig | None, **extra: object) -> dict[str, object]:
        return provenance(painter.config if result_cfg is None else result_cfg,
                          {"content": describe_input(args.content), "styles": [describe_input(s) for s in args.styles],
                           **{k: [describe_input(m) for m in v if m] if isinstance(v, list) else describe_input(v)
                              for k, v in controls.items() if v}},
                          **extra)

    def write(image: torch.Tensor, alpha: torch.Tensor | None, rec: dict[str, object]) -> None:
        save_with_provenance(image, out, rec, alpha=alpha, bit_depth=args.bit_depth)

    with ProgressBar(enabled=not args.quiet) as bar:
        def callback(step: Step) -> None:
            bar.update(step)
            if args.plot:
                recorder(step)
            if args.save_every and step.image is not None and step.iteration % args.save_every == 0:
                inter = out.with_name(f"{out.stem}.s{step.scale + 1}.i{step.iteration:04d}{out.suffix}")
                save_image(step.image, inter)

        try:
            result = painter.paint(content, styles, callback=callback, image_every=args.save_every or 0, **controls)
        except Interrupted as e:
            alpha = content.alpha
            write(e.image, alpha, record(None, interrupted=True))
            recorder.write()
            print(f"painterly: interrupted; best image so far written to {out}", file=sys.stderr)
            return EXIT_INTERRUPTED
    write(result.image, result.alpha, record(result.config, seconds=round(result.seconds, 2),
                                             iterations=result.iterations, loss=result.loss))
    recorder.write()
    if args.sheet:
        from ..sheet import contact_sheet

        panels = [("content", to_pil(content.rgb))] + [(f"style {i + 1}" if len(styles) > 1 else "style",
                                                         to_pil(s.rgb)) for i, s in enumerate(styles)]
        panels.append(("result", result.pil()))
        save_image(load_image(contact_sheet(panels), what="sheet").rgb, args.sheet)
    if not args.quiet:
        print(f"painterly: wrote {out} ({result.iterations} iterations, {result.seconds:.1f} s, "
              f"seed {result.config.seed})", file=sys.stderr)
    return EXIT_OK


def run() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="painterly: %(message)s")
    try:
        code = main()
    except KeyboardInterrupt:  # Ctrl-C while starting up (importing torch), before any work
        print("painterly: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    sys.exit(code)


