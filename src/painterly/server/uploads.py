"""Uploaded images: sniff the content (never the name), enforce limits, decode, shrink.

Order of checks, cheapest first: byte size, then the format and pixel count from the
file's header (Pillow reads only the header in ``Image.open``), then the full decode
through :func:`painterly.images.load_image` (EXIF orientation, ICC -> sRGB, alpha,
16-bit), then a shrink to the largest size the job will use, so a queued job holds a
few hundred kilobytes of tensors rather than a 40-megapixel float image.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..images import ImageError, Loaded, fit_long_edge, load_image, resize

# Formats accepted from the network. Pillow can open more (EPS would run Ghostscript,
# PDF/PSD are not pictures people paint): only these plugins are tried.
# (JPEG covers MPO, the multi-picture JPEG some phones write.)
Image.init()
FORMATS = tuple(f for f in ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF", "AVIF") if f in Image.OPEN)
FORMAT_NAMES = "PNG, JPEG, WebP, TIFF, BMP, GIF or AVIF"


class UploadError(Exception):
    """An upload the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    """A decoded upload: the image, shrunk to ``long_edge`` at most, and where it came from."""

    image: Loaded
    name: str
    sha256: str
    width: int
    height: int

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "sha256": self.sha256, "width": self.width, "height": self.height}


def display_name(filename: str | None, fallback: str) -> str:
    """The upload's base name, printable and short; never used as a path."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()[:80]
    return name or fallback


def decode_upload(data: bytes, *, field: str, filename: str | None, long_edge: int,
                  max_bytes: int, max_pixels: int) -> Upload:
    """Check and decode one uploaded image; raises :class:`UploadError` with a one-line message."""
    name = display_name(filename, field)
    label = f"{field} {name!r}"
    if not data:
        raise UploadError(422, f"{label}: the file is empty")
    if len(data) > max_bytes:
        raise UploadError(413, f"{label}: {len(data) / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB "
                               "limit per image; send a smaller file")
    width, height = _sniff(data, label, max_pixels)
    with tempfile.TemporaryDirectory(prefix="painterly-upload-") as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        try:
            loaded = load_image(path, what=field)
        except ImageError as e:
            raise UploadError(415, str(e).replace(f"{field} {path}", label)) from None
    return Upload(_shrink(loaded, long_edge), name, hashlib.sha256(data).hexdigest(), width, height)


def _sniff(data: bytes, label: str, max_pixels: int) -> tuple[int, int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as im:
                width, height = im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(413, f"{label}: too many pixels to decode safely; downscale it first") from None
    except Image.UnidentifiedImageError:
        raise UploadError(415, f"{label}: not an image (its content is not {FORMAT_NAMES}); "
                               "choose a picture file") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise UploadError(415, f"{label}: damaged image ({e}); re-export it") from None
    if width * height > max_pixels:
        raise UploadError(413, f"{label}: {width}x{height} is {width * height / 1e6:.1f} megapixels, over the "
                               f"{max_pixels / 1e6:g} megapixel limit; downscale it first")
    return width, height


def _shrink(img: Loaded, long_edge: int) -> Loaded:
    hw = tuple(img.rgb.shape[-2:])
    if max(hw) <= long_edge:
        return img
    new = fit_long_edge(hw, long_edge)  # type: ignore[arg-type]
    alpha = resize(img.alpha, new) if img.alpha is not None else None
    return Loaded(resize(img.rgb, new), alpha, img.bit_depth)
