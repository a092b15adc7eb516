"""painterly: neural style transfer (Gatys et al.) with the original VGG19."""

from .config import ConfigError, StyleConfig
from .images import ImageError, load_image, save_image
from .optimize import Interrupted
from .pipeline import Painter, Result, Step, stylize
from .quality import Report, evaluate
from .weights import WeightsError

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``painterly.batch`` (the function) is imported when first used: ``import painterly`` loads
    only the core, not the batch shell and its process pools."""
    if name == "batch":
        from .batches import batch

        return batch
    raise AttributeError(f"module 'painterly' has no attribute {name!r}")

__all__ = [
    "ConfigError",
    "ImageError",
    "Interrupted",
    "Painter",
    "Report",
    "Result",
    "Step",
    "StyleConfig",
    "WeightsError",
    "__version__",
    "batch",
    "evaluate",
    "load_image",
    "save_image",
    "stylize",
]
