"""painterly: neural style transfer (Gatys et al.) with the original VGG19.

The public API is imported when first used (``painterly.Painter``, ``painterly.stylize``, ...), so
that ``import painterly`` is quick and loads neither torch nor any command: the command line can
then answer Ctrl-C from its first line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .config import StyleConfig
from .errors import ConfigError, ImageError, WeightsError

__version__ = "0.1.0"

# name -> the module it lives in
_API = {
    "Interrupted": "optimize", "Painter": "pipeline", "Result": "events", "Step": "events", "stylize": "pipeline",
    "load_image": "images", "save_image": "images", "Report": "quality", "evaluate": "quality", "batch": "batches",
}

if TYPE_CHECKING:
    from .batches import batch
    from .events import Result, Step
    from .images import load_image, save_image
    from .optimize import Interrupted
    from .pipeline import Painter, stylize
    from .quality import Report, evaluate


def __getattr__(name: str) -> object:
    if name in _API:
        value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'painterly' has no attribute {name!r}")


__all__ = ["ConfigError", "ImageError", "Interrupted", "Painter", "Report", "Result", "Step", "StyleConfig",
           "WeightsError", "__version__", "batch", "evaluate", "load_image", "save_image", "stylize"]
