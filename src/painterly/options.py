"""One road from user options to a :class:`StyleConfig`: flags, presets, the web API's JSON,
batch manifests and the teaching commands all come through :func:`config_from_options`.

Options are a mapping whose keys are ``StyleConfig`` field names, plus ``preset``: a named
preset (:data:`PRESETS`: ``quick``, ``balanced``, ``fine``), a TOML file of options or a JSON one
(a result's record, ``out.png.json``, included). A
preset fills in values first; the keys given override it. Values may be typed (JSON, TOML,
argparse) or text (a CSV manifest): each is checked and converted by its field's type here,
then ``StyleConfig`` checks the ranges. Every error names where the options came from
(``photos.csv:3: --style-weight must be a finite number, got inf``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import reprlib
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import StyleConfig
from .errors import ConfigError
from .inputs import read_input

# Named starting points, usable everywhere a preset is (--preset quick, the web page, a manifest's
# ``preset`` column): sizes, each painted coarse to fine with the method's schedule
# (scales.scale_schedule); their times are in docs/performance.md.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"size": 256, "iterations": 20, "multiscale": True},
    "balanced": {"size": 384, "iterations": 20, "multiscale": True},
    "fine": {"size": 768, "iterations": 20, "multiscale": True},
}
PRESET_NOTES = {
    "quick": "256 px: under a minute on a laptop CPU",
    "balanced": "384 px: about a minute and a quarter on a laptop CPU",
    "fine": "768 px: best with a GPU (several minutes on a CPU)",
}

PRESET_BYTES = 2**20  # a file of options (TOML, or a result's JSON record) is a few KB

FIELDS = {f.name for f in dataclasses.fields(StyleConfig)}
_HINTS = typing.get_type_hints(StyleConfig)
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 2, 40, 40, 6, 4


def shown(value: Any) -> str:
    """``value`` for an error message: repr, cut short (a request may send 64 KB or deep nesting)."""
    return _REPR.repr(value)


def config_from_options(options: Mapping[str, Any], *, source: str = "", base: StyleConfig | None = None,
                        text: bool = False) -> StyleConfig:
    """A validated :class:`StyleConfig` from ``options`` (see the module docstring) over ``base``'s values.

    ``text``: values may be text to parse (a CSV manifest); otherwise a number must be a number.
    ``source`` prefixes every error (a file and line, ``--preset x.toml``); raises :class:`ConfigError`.
    """
    try:
        values = base.to_dict() if base is not None else {}
        if options.get("preset") is not None:
            values.update(preset_values(options["preset"]))
        values.update({key: field_value(key, value, text=text) for key, value in options.items() if key != "preset"})
        return StyleConfig.from_dict(values)
    except ConfigError as e:
        if not source:
            raise
        raise ConfigError(f"{source}: {e}") from None


def preset_values(preset: Any) -> dict[str, Any]:
    """The options of a named preset, or of a file of options: TOML, or JSON (an object of options, or a
    result's record, ``out.png.json``, whose ``config`` is taken: its seed too). A JSON null is the
    option's None (``seed``, ``style_weight`` ...); checked and converted."""
    if not isinstance(preset, str):
        raise ConfigError(f"preset must be a name ({', '.join(PRESETS)}) or a TOML or JSON file, got {shown(preset)}")
    if preset in PRESETS:
        return dict(PRESETS[preset])
    p = Path(preset)
    kind = p.suffix.lower()
    if kind not in (".toml", ".json"):
        raise ConfigError(f"--preset {preset[:80]}: unknown preset; use {', '.join(PRESETS)}, a .toml file of options "
                          "or a result's .json record")
    raw = read_input(p, "--preset", limit=PRESET_BYTES, error=ConfigError)  # its ConfigError is no parse error
    try:
        text = raw.decode()
        data = tomllib.loads(text) if kind == ".toml" else _json_options(text)
    except (tomllib.TOMLDecodeError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError(f"--preset {p}: not valid {kind[1:].upper()} ({e})") from None
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise ConfigError(f"--preset {p}: unknown option(s) {', '.join(unknown)}")
    try:
        return {key: field_value(key, value) for key, value in data.items()}
    except ConfigError as e:
        raise ConfigError(f"--preset {p}: {e}") from None


def _json_options(text: str) -> dict[str, Any]:
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("config"), dict) and "inputs" in data:
        data = data["config"]  # a result's record (painterly.meta.provenance)
    if not isinstance(data, dict):
        raise ValueError("expected an object of options, such as {\"size\": 256}")
    return data


def field_value(key: str, value: Any, *, text: bool = False) -> Any:
    """``value`` checked and converted to the type of ``StyleConfig``'s field ``key``: JSON/TOML/argparse
    values as they are (a list for a tuple); with ``text``, text (a CSV cell) parsed. Ranges are left
    to ``StyleConfig``."""
    if key not in _HINTS:
        raise ConfigError(f"unknown option {str(key)[:40]!r}; options are StyleConfig's fields, e.g. size, style_weight")
    hint = _HINTS[key]
    kinds = typing.get_args(hint)
    if type(None) in kinds:  # Optional
        if value is None or (text and isinstance(value, str) and value.strip().lower() in ("none", "null")):
            return None
        hint = next(k for k in kinds if k is not type(None))
    if typing.get_origin(hint) is tuple:
        items = [v for v in value.split(",") if v.strip()] if text and isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"must be a list, got {shown(value)}", key)
        return tuple(_scalar(key, typing.get_args(hint)[0], v, text) for v in items)
    return _scalar(key, hint, value, text)


def _scalar(key: str, kind: Any, value: Any, text: bool) -> Any:
    if text and isinstance(value, str):
        value = value.strip()
    if kind is bool:
        return _boolean(key, value, text)
    if kind in (int, float):
        return _number(key, kind, value, text)
    if not isinstance(value, str):  # names: strings and enum values (StyleConfig checks the choice)
        raise ConfigError(f"must be a name (a string), got {shown(value)}", key)
    return value


def _boolean(key: str, value: Any, text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if text and isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return value.lower() in ("1", "true", "yes", "on")
    raise ConfigError(f"must be true or false, got {shown(value)}", key)


def _number(key: str, kind: type, value: Any, text: bool) -> int | float:
    if text and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"must be a number, got {shown(value)}", key) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"must be a number, got {shown(value)}", key)
    if not math.isfinite(value):
        raise ConfigError(f"must be a finite number, got {shown(value)}", key)
    if kind is int:
        if not float(value).is_integer():
            raise ConfigError(f"must be a whole number, got {shown(value)}", key)
        return int(value)
    return float(value)
