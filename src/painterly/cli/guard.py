"""What every command shares: exit codes, the argument parser, and errors as one line.

Exit codes: 0 done, 1 failure, 2 usage error, 130 interrupted. Any error a command raises
becomes one line on stderr (the traceback only with ``--debug`` or ``PAINTERLY_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence

from ..errors import ConfigError, ImageError, OutOfMemory, WeightsError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad command line; exits 2."""


class Parser(argparse.ArgumentParser):
    """argparse, with errors raised as :class:`UsageError` (one line) instead of usage text and exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def command(run: Callable[[list[str]], int]) -> Callable[[Sequence[str] | None], int]:
    """A command's ``main(argv)`` (``argv`` without the command's name; the process's own by default):
    ``run(argv)``, with every error as one line and an exit code (:func:`run_guarded`)."""
    def main(argv: Sequence[str] | None = None) -> int:
        args = list(sys.argv[2:] if argv is None else argv)
        return run_guarded(lambda: run(args))

    main.__doc__ = run.__doc__
    return main


def interrupt_outside_imports() -> None:
    """Ctrl-C while a module is being imported (torch's first seconds) ends the process at once with one line
    and exit 130. Raised there, KeyboardInterrupt crosses torch's C++ start-up, which turns it into an abort,
    a RecursionError, a lost interrupt or a death by SIGINT. Anywhere else it raises KeyboardInterrupt as usual."""
    def on_sigint(signum: int, frame: object) -> None:
        f = frame
        while f is not None:
            if f.f_code.co_filename.startswith("<frozen importlib"):  # type: ignore[attr-defined]
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except (OSError, RuntimeError, ValueError):
                        pass
                os.write(2, b"painterly: interrupted\n")
                os._exit(EXIT_INTERRUPTED)
            f = f.f_back  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)


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
    except OutOfMemory as e:
        print(f"painterly: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except MemoryError:
        print("painterly: error: out of memory; lower --size", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("painterly: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"painterly: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as e:  # noqa: BLE001 - anything else: one line, the traceback only on request
        if debugging():
            raise
        first = str(e).splitlines()[0] if str(e) else ""
        print(f"painterly: error: {type(e).__name__}: {first} (unexpected: please report it; "
              "--debug or PAINTERLY_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_FAILURE


_debug_flag = False  # --debug on the command line, for the duration of painterly.cli.main()


def set_debugging(on: bool) -> None:
    global _debug_flag
    _debug_flag = on


def debugging() -> bool:
    """Tracebacks wanted: ``--debug`` on the command line (see :func:`painterly.cli.main`) or ``PAINTERLY_DEBUG=1``."""
    return _debug_flag or os.environ.get("PAINTERLY_DEBUG", "") not in ("", "0")
