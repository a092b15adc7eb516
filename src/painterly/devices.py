"""Where a painting runs: the ``--device`` value, the torch device it resolves to, its free memory,
the CPU thread count, and how the record names them.

``--device`` takes ``auto`` (a CUDA GPU if there is one, else the CPU), ``cpu``, ``cuda`` (the
current GPU), ``cuda:N`` and ``mps`` (Apple GPUs, where torch has them). The value is checked as
text when the options are built (:func:`parse_device`, used by :class:`painterly.config.StyleConfig`)
and against the machine when a painter starts (:func:`resolve_device`): each refusal is one line.
CPU is the tested path; the CUDA and MPS branches are written to torch's documented API.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from .config import MAX_THREADS, Device, parse_device
from .errors import ConfigError

__all__ = ["MAX_THREADS", "Device", "describe", "free_bytes", "name", "parse_device", "resolve_device", "use_threads"]

_INDEX = re.compile(r"cuda:(\d+)")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | Device) -> torch.device:
    """The torch device for a ``--device`` value, or :class:`ConfigError` (one line) where this machine has none."""
    text = parse_device(device)
    if text == Device.AUTO.value:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text.startswith(Device.CUDA.value):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {text}: no CUDA GPU is available here (torch {torch.__version__}); "
                              "use --device cpu")
        count = torch.cuda.device_count()
        m = _INDEX.fullmatch(text)
        if m and int(m.group(1)) >= count:
            raise ConfigError(f"--device {text}: this machine has {count} CUDA GPU{'s' if count > 1 else ''} "
                              f"(cuda:0{f' ... cuda:{count - 1}' if count > 1 else ''})")
        return torch.device(text)
    if text == Device.MPS.value and not _mps_available():
        raise ConfigError("--device mps: this torch has no Apple GPU (MPS) available here; use --device cpu")
    return torch.device(text)


def free_bytes(device: torch.device) -> int | None:
    """Memory free on ``device`` now, in bytes: a CUDA GPU's free memory (``torch.cuda.mem_get_info``),
    or None for the CPU and MPS (the CPU's is :func:`painterly.memory.available_bytes`)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return None


def use_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)``; None leaves torch's own choice. The setting is process-wide."""
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def name(device: torch.device) -> str:
    """``device`` as ``--device`` takes it, with a GPU's index: ``cpu``, ``cuda:0`` (not ``cuda``), ``mps``."""
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return device.type


def describe(device: torch.device) -> dict[str, Any]:
    """What a result's record says of where it was painted: the device (:func:`name`), a GPU's
    name, and the CPU threads torch used."""
    out: dict[str, Any] = {"device": name(device), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        out["device_name"] = torch.cuda.get_device_name(device)
    return out
