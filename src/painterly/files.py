"""Writing files so that they are whole or untouched, and checking where they go before any work.
(Input files are read by :mod:`painterly.inputs`.)"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO


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


def atomic_write(p: Path, payload: bytes | Callable[[BinaryIO], None]) -> None:
    """``payload`` into ``p`` by a temporary file and a rename: ``p`` is whole or untouched. A failure
    (a full disk, a vanished folder) names ``p``, the user's path, not the temporary file. ``payload``: the bytes,
    or a function that writes them to the open file (a large picture, a band at a time)."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent or ".")
        with os.fdopen(fd, "wb") as f:
            if callable(payload):
                payload(f)
            else:
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
