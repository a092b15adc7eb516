"""The package's errors, in a module that imports nothing heavy, so that the command line can
catch them (and Ctrl-C) from its first line, before torch is loaded."""

from __future__ import annotations


class ConfigError(ValueError):
    """An option has a value painterly cannot use. The message names the option."""


class ImageError(Exception):
    """An image cannot be read or written. The message names the file and what to do."""


class WeightsError(Exception):
    """The weights cannot be found or read. The message says how to fix it."""


class OutOfMemory(MemoryError):
    """A device ran out of memory mid-run. The message names the device, the scale and a size that fits."""


class MissingWeights(WeightsError, ConfigError):
    """``--weights`` names no file: a mistake in the command (exit code 2), not a failure."""


__all__ = ["ConfigError", "ImageError", "MissingWeights", "OutOfMemory", "WeightsError"]
