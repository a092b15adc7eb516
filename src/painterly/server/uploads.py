"""Uploaded images: sniff the content (never the name), enforce limits, decode small.

Order of checks, cheapest first: byte size, then the format and pixel count from the
file's header (Pillow reads only the header in ``Image.open``), then the decode. A small
file can hold a huge picture (a flat 40-megapixel PNG is about 100 KB), so the decode never
holds one as floats at full resolution: a JPEG decodes at 1/2, 1/4 or 1/8 scale (Pillow's
``draft``), every picture is resized by Pillow at its own bit depth to the largest size the
job will use, and only that is handed to :func:`painterly.images.load_image` (EXIF
orientation, ICC -> sRGB, alpha). At most :data:`DECODE_SLOTS` decodes run at once, so
concurrent requests cost at most that many full-resolution 8-bit pictures (160 MB each at
40 megapixels: Pillow keeps RGB in 4 bytes), not 600 MB of floats per image.

A queued job thus holds a few hundred kilobytes of tensors. 16-bit colour PNG/TIFF decode
at 8 bits here (the command line keeps their 16 bits); 16-bit gray keeps 16.
"""

from __future__ import annotations

import hashlib
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import ExifTags, Image

from .. import imageformats
from ..images import DECODER_ERRORS, ImageError, Loaded, fit_long_edge, load_image

# The names users know for the formats painterly.images reads (imageformats.READ_FORMATS).
# Pillow can open more (EPS would run Ghostscript, PDF/PSD are not pictures people paint):
# only those plugins are tried. JPEG covers MPO (the multi-picture JPEG some phones write).
FORMAT_LABELS = {"WEBP": "WebP", "HEIF": "HEIC"}
DECODE_SLOTS = 2  # decodes at once, each holding one full-resolution 8-bit picture
RESAMPLE_GAP = 3.0  # Pillow's reducing_gap: box-reduce to 3x the target, then bicubic (as good as a full filter)

# The decodes run on these threads only: that bounds how many run at once, and which threads'
# allocator arenas keep what a decode leaves (not each of the web server's 40 threads').
_decoder = ThreadPoolExecutor(DECODE_SLOTS, thread_name_prefix="painterly-decode")
# Pillow allocates a picture in blocks of 16 MB. Once glibc has freed one such mapped block it
# serves the next from its heaps and keeps them (its mmap threshold rises to the freed size), so
# two decodes at a time still left 600 MB resident; blocks over its 32 MB ceiling are always
# mapped and unmapped. (Pillow's PILLOW_BLOCK_SIZE variable sets the same.)
BLOCK_SIZE = 64 * 2**20
if Image.core.get_block_size() < BLOCK_SIZE:
    Image.core.set_block_size(BLOCK_SIZE)


def formats() -> tuple[str, ...]:
    """The Pillow formats an upload may be here: HEIF when pillow-heif is installed, AVIF when Pillow has it."""
    imageformats.heif_available()  # registers pillow-heif's opener with Pillow, once
    Image.init()
    return tuple(f for f in imageformats.READ_FORMATS if f in Image.OPEN)


def format_names() -> str:
    """'PNG, JPEG, WebP, ... or HEIC': the accepted formats, for messages."""
    names = [FORMAT_LABELS.get(f, f) for f in formats()]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


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
    im = _open(data, label, max_pixels)
    width, height = im.size
    loaded = _decoder.submit(_decode, im, long_edge, field, label).result()
    return Upload(loaded, name, hashlib.sha256(data).hexdigest(), width, height)


def _decode(im: Image.Image, long_edge: int, field: str, label: str) -> Loaded:
    try:
        small = decode_small(im, long_edge)
    except DECODER_ERRORS as e:
        raise UploadError(415, f"{label}: damaged image ({e}); re-export it") from None
    if small is not im:
        im.close()  # frees the full-resolution pixels now, before the next decode starts
    try:
        return load_image(small, what=field)
    except ImageError as e:
        raise UploadError(415, f"{label}: {e}") from None


def _open(data: bytes, label: str, max_pixels: int) -> Image.Image:
    """Read the header only: the format (from the content) and the pixel count."""
    try:
        im = imageformats.open_header(data)  # only the plugins of formats()
    except Image.DecompressionBombError:
        raise UploadError(413, f"{label}: too many pixels to decode safely; downscale it first") from None
    except Image.UnidentifiedImageError:
        if imageformats.looks_like_heif(data):  # and pillow-heif is missing
            raise UploadError(415, f"{label}: a HEIC/HEIF image, which this server cannot read (it needs "
                                   f"{imageformats.HEIF_HINT}); send it as JPEG") from None
        raise UploadError(415, f"{label}: not an image (its content is not {format_names()}); "
                               "choose a picture file") from None
    except DECODER_ERRORS as e:
        raise UploadError(415, f"{label}: damaged image ({e}); re-export it") from None
    width, height = im.size
    if width * height > max_pixels:
        raise UploadError(413, f"{label}: {width}x{height} is {width * height / 1e6:.1f} megapixels, over the "
                               f"{max_pixels / 1e6:g} megapixel limit; downscale it first")
    return im


def decode_small(im: Image.Image, long_edge: int) -> Image.Image:
    """Decode an opened image at no more than ``long_edge`` on its long side.

    The size is :func:`painterly.images.fit_long_edge` of the whole picture's, so it is
    what shrinking the full decode would give; the EXIF orientation and ICC profile stay
    attached for :func:`painterly.images.load_image`, which applies them to the small image.
    """
    w, h = im.size
    if max(w, h) <= long_edge:
        im.load()
        return im
    th, tw = fit_long_edge((h, w), long_edge)
    im.draft(None, (math.ceil(tw * RESAMPLE_GAP), math.ceil(th * RESAMPLE_GAP)))  # JPEG: 1/2, 1/4 or 1/8 scale
    im.load()
    cw, ch = im.size
    if (cw > ch) != (tw > th) and cw != ch and tw != th:  # the plugin turned it upright while loading (TIFF)
        tw, th = th, tw
    try:
        orientation = im.getexif().get(ExifTags.Base.Orientation)
    except DECODER_ERRORS:  # a damaged EXIF block: load_image reads it as upright too
        orientation = None
    out = _resizable(im).resize((tw, th), Image.Resampling.BICUBIC, reducing_gap=RESAMPLE_GAP)
    if orientation is not None:  # for load_image, whatever the plugin keeps in info
        out.getexif()[ExifTags.Base.Orientation] = orientation
    return out.convert(im.mode) if im.mode.startswith("I;16") else out  # keep 16-bit gray as such


def _resizable(im: Image.Image) -> Image.Image:
    """A mode Pillow resizes by filtering (palette and 1-bit would be resized by nearest neighbour)."""
    if im.mode == "P":
        return im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode == "PA":
        return im.convert("RGBA")
    if im.mode == "1":
        return im.convert("L")
    if im.mode.startswith("I;16"):
        return im.convert("I")
    return im
