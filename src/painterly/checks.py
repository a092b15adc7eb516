"""Checks of one option's value, each raising :class:`ConfigError` with the option's name, what was
expected and what arrived (painterly.config validates every option through them)."""

from __future__ import annotations

import math

from .errors import ConfigError


def finite(option: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"must be a finite number, got {value!r}", option)


def positive(option: str, value: float, high: float = math.inf) -> None:
    finite(option, value)
    if not value > 0:
        raise ConfigError(f"must be greater than 0, got {value}", option)
    if value > high:
        raise ConfigError(f"must be at most {high:g}, got {value:g}", option)


def non_negative(option: str, value: float) -> None:
    finite(option, value)
    if not value >= 0:
        raise ConfigError(f"must not be negative, got {value}", option)


def at_least(option: str, value: int, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"must be a whole number of at least {low}, got {value!r}", option)
    if high is not None and value > high:
        raise ConfigError(f"must be at most {high}, got {value}", option)
