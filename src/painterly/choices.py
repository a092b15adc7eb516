"""The choices among options' values, as enums: the CLI's ``choices``, the server's validation and the
error messages share one list each (painterly.config holds the options themselves)."""

from __future__ import annotations

import enum
import re
from typing import Any

from .errors import ConfigError


class _Choice(str, enum.Enum):
    @classmethod
    def parse(cls, value: Any, option: str) -> Any:
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ConfigError(f": unknown value {str(value)[:40]!r}; choose one of {', '.join(cls.values())}",
                              option) from None

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]


class Method(_Choice):
    """How a painting is made (docs/quality.md).

    ``nnst``: Neural Neighbor Style Transfer (Kolkin et al. 2022, painterly.neighbors): the photo's
    features replaced by their nearest neighbours among the painting's, optimised coarse to fine
    from a 64 px copy of the photo. ``gatys``: Gatys et al. 2016, the painting's feature statistics
    (``style_loss``) matched with the photo's relu4_2 kept (painterly.objective).
    """

    NNST = "nnst"
    GATYS = "gatys"


class Optimizer(_Choice):
    LBFGS = "lbfgs"
    ADAM = "adam"


class Pooling(_Choice):
    MAX = "max"
    AVG = "avg"


class Init(_Choice):
    CONTENT = "content"
    PALETTE = "palette"  # the content recoloured to the style images' colour mean and covariance
    RANDOM = "random"


class PreserveColors(_Choice):
    NONE = "none"
    LUMINANCE = "luminance"
    MATCH = "match"
    LUMA_SWAP = "luma-swap"


class ColorMatch(_Choice):
    CHOL = "chol"
    PCA = "pca"
    SYM = "sym"
    OT = "ot"


class StyleLossKind(_Choice):
    """What a style layer matches (painterly.losses.style_target)."""

    GRAM = "gram"
    CLASSIC = "classic"
    MEANCOV = "meancov"
    SWD = "swd"


class Device(_Choice):
    """The kinds of ``--device``; ``cuda`` also takes a GPU's index, ``cuda:N`` (:func:`parse_device`)."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


_CUDA_INDEX = re.compile(r"cuda:(\d{1,4})")


def parse_device(value: Any, option: str = "device") -> str:
    """``value`` as a ``--device`` value (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``), lower case;
    :class:`ConfigError` otherwise. Whether this machine has that device is checked when a painter
    starts (:func:`painterly.devices.resolve_device`)."""
    text = (value.value if isinstance(value, Device) else str(value)).strip().lower()
    if text in Device.values():
        return text
    m = _CUDA_INDEX.fullmatch(text)
    if m:
        return f"cuda:{int(m.group(1))}"
    raise ConfigError(f": unknown device {str(value)[:40]!r}; choose one of "
                      f"{', '.join(Device.values())} or cuda:N (N = 0, 1, ... a GPU's index)", option)


class Precision(_Choice):
    """float32 everywhere, or bfloat16 autocast for the network (Grams and losses stay float32).

    ``auto`` is still accepted and means float32: bfloat16 is not faster on CPUs without AMX, and
    its effect on the pictures has not been measured on a GPU, so it stays a choice to make.
    """

    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"

    @classmethod
    def parse(cls, value: Any, option: str) -> Any:
        return cls.FLOAT32 if str(value).lower() == "auto" else super().parse(value, option)

    @classmethod
    def values(cls) -> list[str]:
        return [*super().values(), "auto"]
