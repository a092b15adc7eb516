"""The command line: ``painterly CONTENT STYLE [STYLE ...] -o OUT`` paints one image (:mod:`.paint`);
``painterly COMMAND ...`` runs another command (``COMMANDS``), imported only when used.

Exit codes: 0 done, 1 failure, 2 usage error, 130 interrupted (the best image so far is saved).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

from .guard import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Parser,
    UsageError,
    debugging,
    interrupt_outside_imports,
    run_guarded,
    set_debugging,
)

# Other commands: name -> module with ``main(argv) -> int``, imported only when used.
COMMANDS: dict[str, str] = {
    "serve": "painterly.server.cli",
    "video": "painterly.video.cli",
    "batch": "painterly.batches.cli",
    "explain": "painterly.explain.cli",
    "texture": "painterly.explain.cli:texture_main",
    "eval": "painterly.cli.eval",
    "again": "painterly.cli.again",
}

__all__ = ["COMMANDS", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "Parser", "UsageError",
           "build_parser", "debugging", "main", "run", "run_guarded"]


def build_parser():  # type: ignore[no-untyped-def]
    """The one-image command's parser (``painterly --help``)."""
    from .paint import build_parser

    return build_parser(", ".join(COMMANDS))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    set_debugging("--debug" in argv)  # any command: show tracebacks of unexpected errors
    argv = [a for a in argv if a != "--debug"]
    try:
        if argv and argv[0] in COMMANDS:
            module, _, func = COMMANDS[argv[0]].partition(":")
            entry = getattr(importlib.import_module(module), func or "main")
            return int(entry(argv[1:]))
        from .paint import paint

        return run_guarded(lambda: paint(argv, ", ".join(COMMANDS)))
    finally:
        set_debugging(False)


def run() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="painterly: %(message)s")
    interrupt_outside_imports()
    try:
        code = main()
    except KeyboardInterrupt:  # Ctrl-C between imports, before a command's own handling starts
        print("painterly: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    sys.exit(code)
