"""painterly: neural style transfer (Gatys et al.) with the original VGG19."""

from .config import ConfigError, StyleConfig
from .images import ImageError, load_image, save_image
from .optimize import Interrupted
from .pipeline import Painter, Result, Step, stylize
from .weights import WeightsError
from .batch import batch  # noqa: E402  (after the core: batch builds on it)

__version__ = "0.1.0"

__all__ = [
    "batch", "ConfigError", "ImageError", "Interrupted", "Painter", "Result", "Step", "StyleConfig",
    "WeightsError", "load_image", "save_image", "stylize", "__version__",
]
