"""Files in and out: every input file is read by :func:`read_input` (regular files only, its size
checked before reading), and outputs are written whole or not at all, their place checked before any work."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

# The largest input file read whole: MAX_PIXELS (painterly.images) of uncompressed 16-bit RGBA is
# 1.4 GB, so a larger file cannot be an image painterly could paint.
MAX_INPUT_BYTES = 2**31


def check_input(path: str | os.PathLike, what: str, *, limit: int | None = MAX_INPUT_BYTES,
                error: type[Exception]) -> os.stat_result:
    """``path`` is a regular file (not a folder, pipe, socket or device: reading ``/dev/zero`` never
    ends and a pipe blocks for ever) of at most ``limit`` bytes; raises ``error`` naming ``what`` and the path."""
    p = Path(path)
    label = f"{what} {p}"
    try:
        st = p.stat()
    except FileNotFoundError:
        broken = " (a broken symbolic link)" if p.is_symlink() else ""
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
    label = f"{what} {Path(path)}"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise error(f"{label}: cannot be read ({e.strerror}); check its permissions") from None
    try:
        _check_stat(os.fstat(fd), label, limit, error)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise error(f"{label}: cannot be read ({e.strerror}); check its permissions") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{label}: more than the {limit / 2**20:,.0f} MB an input may have; give a smaller file")
    return data


def check_writable(path: str | os.PathLike, *, option: str, formats: Iterable[str], kind: str, example: str,
                   error: type[Exception]) -> Path:
    """``path`` has a known extension, its folder exists and is writable, and it is not a folder."""
    p = Path(path)
    if p.suffix.lower() not in formats:
        raise error(f"{option} {p}: unknown {kind} type {p.suffix!r}; use one of {', '.join(sorted(formats))}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise error(f"{option} {p}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise error(f"{option} {p}: folder {parent} is not writable; choose another location")
    if p.is_dir():
        raise error(f"{option} {p}: is a folder; give a file name such as {example}")
    return p


def atomic_write(p: Path, payload: bytes) -> None:
    """``payload`` into ``p`` by a temporary file and a rename: ``p`` is whole or untouched. A failure
    (a full disk, a vanished folder) names ``p``, the user's path, not the temporary file."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent or ".")
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(e, OSError):
            raise OSError(e.errno, f"cannot be written ({e.strerror or e}); check the free space and the folder",
                          str(p)) from None
        raise


def write_bytes_atomic(path: str | os.PathLike, payload: bytes) -> None:
    """Atomically write ``payload`` (used for sidecars and other non-image outputs)."""
    atomic_write(Path(path), payload)
