"""``painterly eval CONTENT STYLE OUTPUT [OUTPUT ...]``: quality measures of results (painterly.quality).

Prints a table, one row per output, and writes one JSON object per output (a line each) to
``--json`` (``-``: standard output, instead of the table). Exit code 0, 2 for bad input.
"""

from __future__ import annotations

import json
import sys

from ..errors import ConfigError
from ..vgg import MIN_SIZE
from .guard import EXIT_OK, Parser, command


def build_parser() -> Parser:
    from ..quality import EVAL_SIZE

    p = Parser(
        prog="painterly eval",
        description="Measure how much each OUTPUT looks like the painting STYLE and keeps the photo CONTENT: "
        "Gram error, sliced-Wasserstein distance of VGG features, colour distance in Lab, content error, "
        "layout at thumbnail size (docs/quality.md). Lower is better, except layout.",
    )
    p.add_argument("content", help="the photo")
    p.add_argument("style", help="the painting")
    p.add_argument("outputs", nargs="+", metavar="OUTPUT", help="results to measure")
    p.add_argument("--size", type=int, default=EVAL_SIZE,
                   help=f"long edge at which every image is compared (default {EVAL_SIZE})")
    p.add_argument("--json", metavar="PATH", help="also write one JSON line per output here ('-': standard output)")
    return p


def _eval(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.size < MIN_SIZE:
        raise ConfigError(f"--size must be at least {MIN_SIZE}, got {args.size}")
    from ..images import load_image, refuse_overwriting_inputs
    from ..quality import Evaluator, table

    refuse_overwriting_inputs({"--json": None if args.json == "-" else args.json},
                              [args.content, args.style, *args.outputs], error=ConfigError)
    # Every image is read (and so checked) before the network loads.
    content, style = load_image(args.content, what="content"), load_image(args.style, what="style")
    outputs = [load_image(o, what="output") for o in args.outputs]
    ev = Evaluator(content.rgb, style.rgb, size=args.size)
    reports = [ev(o.rgb, name) for o, name in zip(outputs, args.outputs)]
    lines = "".join(json.dumps(r.to_dict()) + "\n" for r in reports)
    if args.json == "-":
        sys.stdout.write(lines)
        return EXIT_OK
    if args.json:
        from ..images import write_bytes_atomic

        write_bytes_atomic(args.json, lines.encode())
    print(table(reports))
    return EXIT_OK


main = command(_eval)
