"""What the web API accepts: presets, limits, and options -> :class:`StyleConfig`.

The page and the API send options as one JSON object whose keys are ``StyleConfig`` field
names (``{"preset": "quick", "size": 256, "style_weight": 300}``), read like every other
source of options by :func:`painterly.options.config_from_options` (presets, types) and
``StyleConfig`` (ranges). This module adds what only a server needs: an allow-list of keys
(no file paths from the network: ``weights``, ``init=PATH`` and preset files are refused) and
upper bounds that keep one request from occupying the machine for a day.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Any

from ..choices import ColorMatch, Init, Method, Optimizer, Pooling, PreserveColors, StyleLossKind
from ..config import StyleConfig
from ..errors import ConfigError
from ..options import PRESET_NOTES, PRESETS, config_from_options, field_value, shown
from ..vgg import MIN_SIZE

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
FIELDS = ("size", "iterations", "seed", "method", "style_loss", "style_weight", "content_weight", "tv_weight",
          "style_scale", "style_blend_weights", "preserve_colors", "color_match", "optimizer", "pooling", "init",
          "multiscale")

CHOICES = {
    "method": Method.values(),
    "preserve_colors": PreserveColors.values(),
    "color_match": ColorMatch.values(),
    "optimizer": Optimizer.values(),
    "pooling": Pooling.values(),
    "init": Init.values(),
    "style_loss": StyleLossKind.values(),
}


def build_config(options: Any, n_styles: int, limits: Limits) -> StyleConfig:
    """Validate the page's/API's options into a StyleConfig; raises ConfigError naming the option."""
    try:
        return _build(options, n_styles, limits)
    except ConfigError as e:
        if e.option is None:
            raise
        raise ConfigError(e.named(e.option)) from None  # the API's name of the option: its field name


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
        "defaults": {**{k: v for k, v in d.to_dict().items() if k in FIELDS}, "style_weight": d.style_weight_in_use},
        "limits": limits.to_dict(),
    }


_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}


def options_schema(limits: Limits) -> dict[str, Any]:
    """The JSON Schema of the options object, for the OpenAPI document: each field's type from
    ``StyleConfig``'s type hints, the choices from :data:`CHOICES`, the bounds from ``limits``.
    ``build_config`` stays the judge: the schema cannot say that ``style_blend_weights`` has one
    weight per style image, or that ``content_weight`` and ``style_weight`` are not both 0."""
    hints = typing.get_type_hints(StyleConfig)
    props: dict[str, Any] = {"preset": {"type": "string", "enum": list(PRESETS), "description": "a named preset; "
                                        "the other options override its values"}}
    for name in FIELDS:
        hint, nullable = hints[name], False
        if type(None) in typing.get_args(hint):
            hint, nullable = next(k for k in typing.get_args(hint) if k is not type(None)), True
        if name in CHOICES:
            schema: dict[str, Any] = {"type": "string", "enum": CHOICES[name]}
        elif typing.get_origin(hint) is tuple:  # the blend weights: none, or not all 0
            item = _JSON_TYPES[typing.get_args(hint)[0]]
            schema = {"type": "array", "items": {"type": item, "minimum": 0}, "maxItems": limits.max_styles,
                      "anyOf": [{"maxItems": 0}, {"contains": {"exclusiveMinimum": 0}}],
                      "description": "one weight per style image, or none for equal weights"}
        else:
            schema = {"type": _JSON_TYPES[hint]}
        schema.update(_BOUNDS.get(name, {}))
        if nullable:
            schema["type"] = [schema["type"], "null"]
        props[name] = schema
    props["size"].update(minimum=MIN_SIZE, maximum=limits.max_size)
    props["iterations"].update(minimum=1, maximum=limits.max_iterations)
    props["style_scale"]["maximum"] = limits.max_style_scale
    not_both_zero = {"anyOf": [{"properties": {k: {"exclusiveMinimum": 0}}} for k in ("content_weight", "style_weight")]}
    return {"type": "object", "title": "JobOptions", "properties": props, "additionalProperties": False,
            "allOf": [not_both_zero, *_presets_within(limits)],
            "description": "StyleConfig field names and a preset; every option left out takes the preset's "
                           "value, else StyleConfig's default (GET /api/config lists both). content_weight and "
                           "style_weight are not both 0; a preset over this server's limits needs its own size "
                           "or iterations"}


def _presets_within(limits: Limits) -> list[dict[str, Any]]:
    """'Options whose preset (or, without one, StyleConfig's defaults) has a size or iterations this server
    refuses give their own', in JSON Schema (anyOf, not if/then: API fuzzers handle it better)."""
    rules = []
    for name, values in [(None, defaults_over(limits)), *((n, _over(v, limits)) for n, v in PRESETS.items())]:
        if values:
            other = {"properties": {"preset": {"enum": [n for n in PRESETS if n != name]}}, "required": ["preset"]}
            rules.append({"anyOf": [other, {"required": values}]})
    return rules


def _over(values: dict[str, Any], limits: Limits) -> list[str]:
    return [k for k, high in (("size", limits.max_size), ("iterations", limits.max_iterations)) if values[k] > high]


def defaults_over(limits: Limits) -> list[str]:
    """The options whose StyleConfig default this server refuses (so a request must give them)."""
    d = StyleConfig()
    return _over({"size": d.size, "iterations": d.iterations}, limits)


_BOUNDS: dict[str, dict[str, Any]] = {
    "seed": {"minimum": 0, "maximum": 2**63 - 1},
    "style_weight": {"minimum": 0},
    "content_weight": {"minimum": 0},
    "tv_weight": {"minimum": 0},
    "style_scale": {"exclusiveMinimum": 0},
}


def again_size(raw: bytes, limits: Limits) -> int | None:
    """``POST .../again``'s optional JSON body ``{"size": N}``, within the server's sizes; None: the job's own."""
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict) or set(body) - {"size"}:
        raise ConfigError('again: the body must be empty or a JSON object such as {"size": 1024}')
    if body.get("size") is None:
        return None
    try:
        size = field_value("size", body["size"])  # as the options road reads a size (16.0 is 16)
    except ConfigError as e:
        raise ConfigError(e.named("size")) from None
    if not MIN_SIZE <= size <= limits.max_size:
        raise ConfigError(f"size must be from {MIN_SIZE} to {limits.max_size}, got {size}")
    return int(size)
