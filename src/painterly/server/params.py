"""What the web API accepts: presets, limits, and options -> :class:`StyleConfig`.

The page and the API send options as one JSON object whose keys are ``StyleConfig`` field
names (``{"preset": "quick", "size": 256, "style_weight": 300}``), read like every other
source of options by :func:`painterly.options.config_from_options` (presets, types) and
``StyleConfig`` (ranges). This module adds what only a server needs: an allow-list of keys
(no file paths from the network: ``weights``, ``init=PATH`` and preset files are refused) and
upper bounds that keep one request from occupying the machine for a day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..config import ColorMatch, ConfigError, Init, Optimizer, Pooling, PreserveColors, StyleConfig, StyleLossKind
from ..options import PRESET_NOTES, PRESETS, config_from_options, shown

DEFAULT_PRESET = "balanced"


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


# The options the web API accepts (StyleConfig field names): no file paths from the network,
# so neither ``weights`` nor ``init=PATH``; ``init`` takes the named starts only.
FIELDS = ("size", "iterations", "seed", "style_loss", "style_weight", "content_weight", "tv_weight", "style_scale",
          "style_blend_weights", "preserve_colors", "color_match", "optimizer", "pooling", "init", "multiscale")

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
    if preset is not None and (not isinstance(preset, str) or preset not in PRESETS):  # names only: no files
        raise ConfigError(f"preset: unknown preset {shown(preset)}; choose one of {', '.join(PRESETS)}")
    for key in options:
        if key != "preset" and key not in FIELDS:
            raise ConfigError(f"{str(key)[:40]}: unknown option; the web API accepts preset, {', '.join(FIELDS)}")
    if isinstance(options.get("init"), str) and options["init"] not in CHOICES["init"]:
        raise ConfigError(f"init: unknown value {shown(options['init'])}; choose one of {', '.join(CHOICES['init'])}")
    cfg = config_from_options(options)
    _upper("size", cfg.size, limits.max_size, " px on this server")
    _upper("style_scale", cfg.style_scale, limits.max_style_scale)
    if not 1 <= cfg.iterations <= limits.max_iterations:
        raise ConfigError(f"iterations must be between 1 and {limits.max_iterations}, got {cfg.iterations}")
    if n_styles > limits.max_styles:
        raise ConfigError(f"style: at most {limits.max_styles} style images, got {n_styles}")
    cfg.blend_weights(n_styles)
    cfg.scales_for(n_styles)
    return cfg


def _upper(key: str, value: float, high: float, unit: str = "") -> None:
    if value > high:
        raise ConfigError(f"{key} must be at most {high}{unit}, got {value}")


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
