"""Checks of one option's value, each raising :class:`ConfigError` with the option's name, what was
expected and what arrived (painterly.config validates every option through them)."""

from __future__ import annotations

import math

from .errors import ConfigError


def finite(option: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{option} must be a finite number, got {value!r}")


def positive(option: str, value: float, high: float = math.inf) -> None:
    finite(option, value)
    if not value > 0:
        raise ConfigError(f"{option} must be greater than 0, got {value}")
    if value > high:
        raise ConfigError(f"{option} must be at most {high:g}, got {value:g}")


def non_negative(option: str, value: float) -> None:
    finite(option, value)
    if not value >= 0:
        raise ConfigError(f"{option} must not be negative, got {value}")


def at_least(option: str, value: int, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{option} must be a whole number of at least {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{option} must be at most {high}, got {value}")
