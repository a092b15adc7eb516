"""The package's errors, in a module that imports nothing heavy, so that the command line can
catch them (and Ctrl-C) from its first line, before torch is loaded."""

from __future__ import annotations


class ConfigError(ValueError):
    """An option has a value painterly cannot use. The message names the option.

    ``option``: the :class:`~painterly.config.StyleConfig` field the error is about, or None when
    ``message`` names its options itself. With an option, ``message`` is what follows its name
    (``"must not be negative, got -1"``): ``str(error)`` names it as a command-line flag
    (``--style-weight must ...``) and :meth:`named` as another entry point calls it (the web API's
    ``style_weight``), so no caller rewrites a message.
    """

    def __init__(self, message: str, option: str | None = None) -> None:
        self.option, self.detail = option, message
        super().__init__(self.named(flag(option)) if option else message)

    def named(self, name: str) -> str:
        """The message with the option called ``name`` (the message as it is when it has no option)."""
        if self.option is None:
            return self.detail
        return f"{name}{'' if self.detail.startswith(':') else ' '}{self.detail}"


def flag(option: str) -> str:
    """The command-line flag of a :class:`~painterly.config.StyleConfig` field: ``style_weight`` -> ``--style-weight``."""
    return "--" + option.replace("_", "-")


class ImageError(Exception):
    """An image cannot be read or written. The message names the file and what to do."""


class WeightsError(Exception):
    """The weights cannot be found or read. The message says how to fix it."""


class OutOfMemory(MemoryError):
    """A device ran out of memory mid-run. The message names the device, the scale and a size that fits."""


class MissingWeights(WeightsError, ConfigError):
    """``--weights`` names no file: a mistake in the command (exit code 2), not a failure."""


__all__ = ["ConfigError", "ImageError", "MissingWeights", "OutOfMemory", "WeightsError"]
