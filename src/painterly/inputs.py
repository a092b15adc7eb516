"""Reading input files: every file painterly reads whole (images, masks, --init, presets, batch inputs)
comes through :func:`read_input`, and every other input path (a video, --weights) is checked by
:func:`check_input`: regular files only (a folder, a pipe, a socket or a device is refused: reading
``/dev/zero`` never ends and a pipe blocks for ever), and a size limit checked before a byte is read.
It imports only ``os`` and ``stat``: the options check ``--init`` with it when ``import painterly`` runs,
before the command line can answer Ctrl-C."""

from __future__ import annotations

import os
import stat

# The largest input file read whole: MAX_PIXELS (painterly.images) of uncompressed 16-bit RGBA is
# 1.4 GB, so a larger file cannot be an image painterly could paint.
MAX_INPUT_BYTES = 2**31


def check_input(path: str | os.PathLike, what: str, *, limit: int | None = MAX_INPUT_BYTES,
                error: type[Exception]) -> os.stat_result:
    """``path`` is a regular file (not a folder, pipe, socket or device: reading ``/dev/zero`` never
    ends and a pipe blocks for ever) of at most ``limit`` bytes; raises ``error`` naming ``what`` and the path."""
    label = f"{what} {_shown(path)}"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        broken = " (a broken symbolic link)" if os.path.islink(path) else ""
        raise error(f"{label}: no such file{broken}; check the path") from None
    except OSError as e:
        raise error(f"{label}: cannot be read ({e.strerror}); check its permissions") from None
    _check_stat(st, label, limit, error)
    return st


def _check_stat(st: os.stat_result, label: str, limit: int | None, error: type[Exception]) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{label}: is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{label}: not a regular file (a pipe, socket or device); give a file")
    if limit is not None and st.st_size > limit:
        raise error(f"{label}: {st.st_size / 2**20:,.0f} MB is more than the {limit / 2**20:,.0f} MB "
                    "an input may have; give a smaller file")


def read_input(path: str | os.PathLike, what: str, *, limit: int = MAX_INPUT_BYTES,
               error: type[Exception]) -> bytes:
    """The bytes of the input file ``path``, checked as :func:`check_input` says before a byte is read.

    The file is opened without blocking and checked on the open descriptor, so a pipe put in a
    regular file's place between the check and the read is refused too, and no more than
    ``limit`` bytes are ever read."""
    check_input(path, what, limit=limit, error=error)
    label = f"{what} {_shown(path)}"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise error(f"{label}: cannot be read ({e.strerror}); check its permissions") from None
    try:
        st = os.fstat(fd)
        _check_stat(st, label, limit, error)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(st.st_size + 1)  # what it holds (asking for ``limit`` would allocate that much)
            while len(data) <= limit:  # it grew since: read on, never past the limit
                more = f.read(min(2**24, limit + 1 - len(data)))
                if not more:
                    break
                data += more
    except OSError as e:
        raise error(f"{label}: cannot be read ({e.strerror}); check its permissions") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{label}: more than the {limit / 2**20:,.0f} MB an input may have; give a smaller file")
    return data


def _shown(path: str | os.PathLike) -> str:
    """``path`` as a message names it, as ``pathlib.Path`` prints it (``./a//b.png`` -> ``a/b.png``)."""
    text = os.fspath(path)
    return os.path.normpath(text) if text and not text.startswith("//") else text

