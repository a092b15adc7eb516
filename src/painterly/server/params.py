"""What the web API accepts: presets, limits, and options -> :class:`StyleConfig`.

The page and the API send options as one JSON object whose keys are ``StyleConfig`` field
names (``{"preset": "quick", "size": 256, "style_weight": 300}``). A preset fills in
values first; the keys given override it. ``StyleConfig`` does the validation (it owns the
defaults and the lower bounds); this module adds what only a server needs: an allow-list
of keys (no file paths from the network: ``weights`` and ``init=PATH`` are refused),
JSON type checks, and upper bounds that keep one request from occupying the machine for
a day.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..config import ColorMatch, ConfigError, Init, Optimizer, Pooling, PreserveColors, StyleConfig, StyleLossKind

# Named starting points offered by the page and accepted by the API, defined here only.
# ``iterations`` is the budget of a 512 px scale; with multiscale each scale gets
# iterations * 512 / its long edge (pipeline.scale_schedule), a single scale exactly that.
# Two thirds of the budgets they had with the Gram loss, as for the command line's default
# (an iteration of the sliced-Wasserstein loss costs more and does more: docs/quality.md).
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"size": 256, "iterations": 40, "multiscale": False},
    "balanced": {"size": 384, "iterations": 40, "multiscale": True},
    "fine": {"size": 768, "iterations": 100, "multiscale": True},
}
DEFAULT_PRESET = "balanced"
PRESET_NOTES = {
    "quick": "256 px in one pass: about half a minute on a laptop CPU",
    "balanced": "384 px, coarse to fine: two or three minutes on a laptop CPU",
    "fine": "768 px, coarse to fine: best with a GPU (half an hour or more on a CPU)",
}


@dataclass(frozen=True)
class Limits:
    """Upper bounds the server enforces before any heavy work."""

    max_upload_bytes: int = 25 * 2**20  # per image file
    max_pixels: int = 40_000_000  # per image, read from the header before decoding
    max_size: int = 1024  # long edge of the output, px
    max_iterations: int = 1000  # the iterations option (a 512 px scale's budget)
    max_styles: int = 4
    max_style_scale: float = 2.0
    max_queue: int = 16  # waiting jobs

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def _whole(key: str, value: Any) -> int:
    v = _number(key, value)
    if not v.is_integer():
        raise ConfigError(f"{key} must be a whole number, got {value!r}")
    return int(v)


def _seed(key: str, value: Any) -> int | None:
    return None if value is None else _whole(key, value)


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}")
    return value


def _init(key: str, value: Any) -> str:
    # Only the named choices: a path would let a request read files on the server.
    return Init.parse(_text(key, value), key).value


def _numbers(key: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list of numbers, got {value!r}")
    return tuple(_number(key, v) for v in value)


# key -> checker; the keys are StyleConfig field names.
FIELDS = {
    "size": _whole,
    "iterations": _whole,
    "seed": _seed,
    "style_loss": _text,
    "style_weight": _number,
    "content_weight": _number,
    "tv_weight": _number,
    "style_scale": _number,
    "style_blend_weights": _numbers,
    "preserve_colors": _text,
    "color_match": _text,
    "optimizer": _text,
    "pooling": _text,
    "init": _init,
    "multiscale": _flag,
}

CHOICES = {
    "preserve_colors": PreserveColors.values(),
    "color_match": ColorMatch.values(),
    "optimizer": Optimizer.values(),
    "pooling": Pooling.values(),
    "init": Init.values(),
    "style_loss": StyleLossKind.values(),
}


def _web_message(message: str) -> str:
    """StyleConfig names options as CLI flags (``--style-weight``); the API calls them ``style_weight``."""
    return re.sub(r"--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", "_"), message)


def build_config(options: Any, n_styles: int, limits: Limits) -> StyleConfig:
    """Validate the page's/API's options into a StyleConfig; raises ConfigError naming the option."""
    try:
        return _build(options, n_styles, limits)
    except ConfigError as e:
        raise ConfigError(_web_message(str(e))) from None


def _build(options: Any, n_styles: int, limits: Limits) -> StyleConfig:
    if not isinstance(options, dict):
        raise ConfigError("options must be a JSON object such as {\"preset\": \"quick\"}")
    preset = options.get("preset")
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"preset: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values: dict[str, Any] = dict(PRESETS[preset]) if preset else {}
    for key, value in options.items():
        if key == "preset":
            continue
        if key not in FIELDS:
            raise ConfigError(f"{key}: unknown option; the web API accepts preset, {', '.join(FIELDS)}")
        values[key] = FIELDS[key](key, value)
    _upper(values, "size", limits.max_size, " px on this server")
    _upper(values, "style_scale", limits.max_style_scale)
    it = values.get("iterations")
    if it is not None and not 1 <= it <= limits.max_iterations:
        raise ConfigError(f"iterations must be between 1 and {limits.max_iterations}, got {it}")
    cfg = StyleConfig.from_dict(values)
    if n_styles > limits.max_styles:
        raise ConfigError(f"style: at most {limits.max_styles} style images, got {n_styles}")
    cfg.blend_weights(n_styles)
    cfg.scales_for(n_styles)
    return cfg


def _upper(values: dict[str, Any], key: str, high: float, unit: str = "") -> None:
    if key in values and values[key] > high:
        raise ConfigError(f"{key} must be at most {high}{unit}, got {values[key]}")


def public_config(limits: Limits) -> dict[str, Any]:
    """What the page needs to build its form: presets, choices, defaults and limits."""
    d = StyleConfig()
    return {
        "presets": {name: {**values, "note": PRESET_NOTES.get(name, "")} for name, values in PRESETS.items()},
        "default_preset": DEFAULT_PRESET,
        "choices": CHOICES,
        "defaults": {**{k: v for k, v in d.to_dict().items() if k in FIELDS}, "style_weight": d.style_strength},
        "limits": limits.to_dict(),
    }
