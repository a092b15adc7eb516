"""``painterly batch INPUTS... --style STYLE [--style ...] -o OUT_DIR``: paint many images.

Prints the JSON summary (also written to OUT_DIR/summary.json) on stdout; exit code 0 when
nothing failed, 1 when an image failed or the cluster cannot be used, 2 for a bad command
line, 130 when interrupted (finished images are kept; run the same command to resume).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..cli.guard import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, Parser, UsageError, command
from ..cli.options import add_style_options, config_from_args
from ..images import OUTPUT_FORMATS

FORMATS = sorted({s.lstrip(".") for s in OUTPUT_FORMATS} - {"jpeg", "tiff"})


def build_parser() -> Parser:
    p = Parser(
        prog="painterly batch",
        description="Paint every image of INPUTS in the given style(s), reusing the network and the style "
        "targets across images. Reruns skip finished images; one bad image fails only itself.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders (their image files), globs (quote them: 'shots/**/*.jpg'), or "
                        "manifests (.csv with a header row / .jsonl: content, style, output and options per line)")
    p.add_argument("--style", action="append", default=[], metavar="STYLE",
                   help="style image; repeat to blend several (see --style-blend-weights), or add --each-style")
    g = p.add_argument_group("batch")
    g.add_argument("-o", "--output", dest="out_dir", required=True, metavar="OUT_DIR",
                   help="folder for the results, batch-manifest.jsonl and summary.json (created if missing)")
    g.add_argument("--format", choices=FORMATS, default="png", help="image type of the results (default png)")
    g.add_argument("--each-style", action="store_true",
                   help="one result per style (NAME--STYLE.png) instead of one blend of all styles")
    g.add_argument("--workers", type=int, metavar="N",
                   help="local worker processes (default: one per core as memory allows, one on a GPU; "
                        "1 paints in this process)")
    g.add_argument("--scheduler", metavar="tcp://HOST:8786",
                   help="run the images on this Dask scheduler's workers instead (see docs/batch.md)")
    g.add_argument("--force", action="store_true", help="redo images that are already finished")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_style_options(p)
    return p


def _batch(argv: list[str]) -> int:
    from . import MANIFEST_SUFFIXES, BatchError, Event, batch, check_arguments  # heavy: after parsing

    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    if not args.style and not all(Path(i).suffix.lower() in MANIFEST_SUFFIXES for i in args.inputs):
        raise UsageError("painterly batch: give --style STYLE (only manifests can name styles per line)")
    check_arguments(cfg, args.style, args.workers, args.scheduler, args.each_style)

    from ..cli.progress import ProgressBar

    try:
        with ProgressBar("batch", enabled=not args.quiet) as bar:
            def on_event(ev: Event) -> None:
                if ev.status == "running" and ev.step is not None:
                    info = f"{ev.output} {100 * ev.step.done // max(1, ev.step.total)}%"
                else:
                    info = f"{ev.status} {ev.output}"
                    if ev.status == "failed" and not args.quiet:
                        bar.console.print(f"painterly: failed {ev.output}: {ev.reason}",
                                          markup=False, highlight=False, soft_wrap=True)
                bar.advance(ev.done, ev.total, info)

            summary = batch(args.inputs, args.style, args.out_dir, cfg, scheduler=args.scheduler,
                            workers=args.workers, force=args.force, callback=on_event,
                            output_format=args.format, each_style=args.each_style)
    except BatchError as e:
        print(f"painterly: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"painterly: interrupted; finished images are kept in {args.out_dir}; "
              "run the same command again to do the rest", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(json.dumps(summary.to_dict(), indent=2))
    if not args.quiet:
        c = summary.to_dict()["counts"]
        print(f"painterly: {c['done']} done, {c['skipped']} skipped, {c['failed']} failed "
              f"({summary.seconds:.1f} s); summary in {Path(args.out_dir) / 'summary.json'}", file=sys.stderr)
    return EXIT_FAILURE if summary.failed else EXIT_OK


main = command(_batch)
