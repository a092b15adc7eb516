"""Print sizes: ``--print 24x36in`` (or ``30x40cm``) at ``--dpi`` as the output's long edge in pixels.

The photo is never cropped or stretched, and its orientation wins: the print's long side goes along
the photo's long side (``24x36in`` and ``36x24in`` are the same print; a landscape photo is painted
36 in wide and 24 in tall). The output is the largest picture of the photo's shape that fits inside
that box at ``dpi`` pixels per inch: a 3:2 photo fills a 24x36in print exactly (10800x7200 px at
300 dpi); a 4:3 photo on the same print is limited by the short side (7200 px), 9600x7200 px.
Each side of the box is rounded to the nearest pixel, and the photo's long edge is rounded down
so that its short side never exceeds the box's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .checks import positive
from .config import MAX_SIZE
from .errors import ConfigError
from .vgg import MIN_SIZE

DEFAULT_DPI = 300.0
MAX_DPI = 10_000.0  # past any printer's resolution
UNITS = {"in": 1.0, "cm": 1 / 2.54, "mm": 1 / 25.4}  # inches per unit
_PRINT = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*[x×]\s*(\d+(?:\.\d*)?|\.\d+)\s*(in|cm|mm)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class PrintSize:
    """A print's two sides in inches (either order: the photo's orientation decides which is its width)."""

    a: float
    b: float

    @classmethod
    def parse(cls, text: str) -> PrintSize:
        """``24x36in``, ``30x40cm``, ``210x297mm`` (decimals allowed); :class:`ConfigError` naming ``--print``."""
        m = _PRINT.fullmatch(str(text))
        if not m:
            raise ConfigError(f"expects WIDTHxHEIGHT with a unit, such as 24x36in or 30x40cm, got {str(text)[:40]!r}",
                              "print")
        inches = UNITS[m.group(3).lower()]
        a, b = float(m.group(1)) * inches, float(m.group(2)) * inches
        if not (a > 0 and b > 0):
            raise ConfigError(f"needs two sides greater than 0, got {m.group(0).strip()!r}", "print")
        return cls(a, b)

    def box(self, dpi: float) -> tuple[int, int]:
        """(long, short) sides of the print in pixels at ``dpi``, each rounded to the nearest pixel."""
        return round(max(self.a, self.b) * dpi), round(min(self.a, self.b) * dpi)

    def long_edge(self, photo_hw: tuple[int, int], dpi: float) -> int:
        """The output's long edge in pixels (``--size``) for a photo of ``photo_hw`` (H, W): see the module
        docstring. Raises :class:`ConfigError` naming ``--print`` and ``--dpi`` when that is past
        painterly's largest size or below VGG19's smallest."""
        check_dpi(dpi)
        long, short = self.box(dpi)
        aspect = max(photo_hw) / max(min(photo_hw), 1)  # >= 1
        size = min(long, math.floor(short * aspect + 1e-9))
        if size > MAX_SIZE:
            raise ConfigError(f"--print {self.a:g}x{self.b:g}in at --dpi {dpi:g} is {size} px on the long edge, past "
                              f"the largest size ({MAX_SIZE} px); lower --dpi to {math.floor(dpi * MAX_SIZE / size)} "
                              "or less")
        if min(round(size / aspect), size) < MIN_SIZE:
            raise ConfigError(f"--print {self.a:g}x{self.b:g}in at --dpi {dpi:g} is under {MIN_SIZE} px on the short "
                              "side; use a larger print or --dpi")
        return size


def check_dpi(dpi: float) -> None:
    """``--dpi``: a number greater than 0 and at most :data:`MAX_DPI`."""
    positive("dpi", dpi, MAX_DPI)
