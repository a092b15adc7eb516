"""What an image file says about itself before any pixel is decoded, and the decoders' plumbing.

:func:`painterly.images.load_image` reads everything here first, so that a file claiming
200 megapixels, or a PNG whose chunk lengths run past its end, is refused before a decoder
allocates for it; and it decodes inside :func:`quiet_decoding`, so that what the decoders
complain about goes to the log, not the terminal. Nothing here knows file names or raises
``ImageError``: a problem is a ``ValueError`` with the reason, which the loader words for the user.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import logging
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

# The formats the loader reads, in the order Pillow tries them (AVIF before HEIF: an AVIF
# file may carry the generic 'mif1' brand that pillow-heif would claim and then fail on).
READ_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF", "AVIF", "HEIF")
FORMAT_NAMES = "PNG, JPEG, WebP, TIFF, BMP, GIF, AVIF or HEIC"
HEIF_HINT = "pip install 'painterly[heif]'"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks a 16-bit PNG keeps on its way to OpenCV; ancillary ones (text, ICC, EXIF, APNG
# frames) are read by Pillow where needed and never reach OpenCV's chunk parser.
_PNG_DECODED_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}
_MAGIC = ((PNG_SIGNATURE, "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
          (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}


@functools.cache
def heif_available() -> bool:
    """Register pillow-heif's opener with Pillow (once); False when it is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def open_header(data: bytes) -> Image.Image:
    """Pillow's lazy open of ``data``: format, size, mode and metadata; no pixels decoded yet."""
    heif_available()
    silence_libtiff()
    Image.init()
    formats = [f for f in READ_FORMATS if f in Image.OPEN]
    return Image.open(io.BytesIO(data), formats=formats)


def looks_like_heif(data: bytes) -> bool:
    """True for an ISO base media file whose brand is HEIF's (what phones save as .heic)."""
    return data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def format_by_magic(data: bytes) -> str | None:
    """The format a file's first bytes announce, whether or not the rest can be read."""
    if data[4:8] == b"ftyp":
        return "HEIF" if looks_like_heif(data) else "AVIF" if data[8:12] in (b"avif", b"avis") else None
    if data[:4] == b"RIFF":
        return "WebP" if data[8:12] == b"WEBP" else None
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def is_deep_colour(pil: Image.Image, data: bytes) -> bool:
    """True for 16-bit colour PNG/TIFF, which Pillow would silently decode as 8-bit."""
    if pil.format == "PNG":
        return data[24] == 16 and data[25] in (2, 6)  # IHDR: bit depth 16, colour type RGB(A)
    if pil.format == "TIFF":
        bps = pil.tag_v2.get(258)  # type: ignore[attr-defined]
        depths = bps if isinstance(bps, tuple) else (bps,)
        return bool(bps) and max(depths) == 16 and len(pil.getbands()) >= 3
    return False


def png_for_decoder(data: bytes) -> tuple[bytes, bytes | None]:
    """A 16-bit colour PNG checked throughout and rebuilt from its pixel chunks; and its EXIF payload.

    Each chunk's length must stay within the file, each kept chunk's CRC must match, and the
    compressed pixels must inflate to exactly the rows IHDR promises (see :func:`check_png_pixels`):
    OpenCV's reader allocates a chunk's stated length before reading it, and libpng prints
    its complaints about damaged pixels on stderr. Raises ``ValueError`` naming the first problem.
    """
    view = memoryview(data)
    kept: list[bytes | memoryview] = [PNG_SIGNATURE]
    idat: list[memoryview] = []
    exif, pos = None, len(PNG_SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise ValueError("the file ends before its IEND chunk")
        length, kind = struct.unpack_from(">I4s", data, pos)
        name = kind.decode("latin-1")
        end = pos + 12 + length
        if end > len(data):
            raise ValueError(f"chunk {name!r} claims {length} bytes, past the end of the file")
        if (pos == len(PNG_SIGNATURE)) != (kind == b"IHDR"):
            raise ValueError("the IHDR chunk is not first")
        if kind in _PNG_DECODED_CHUNKS:
            if zlib.crc32(view[pos + 4:end - 4]) != int.from_bytes(view[end - 4:end], "big"):
                raise ValueError(f"chunk {name!r} fails its checksum")
            kept.append(view[pos:end])
        if kind == b"IDAT":
            idat.append(view[pos + 8:end - 4])
        elif kind == b"eXIf":
            exif = bytes(view[pos + 8:end - 4])
        elif kind == b"IEND":
            check_png_pixels(bytes(view[16:29]), idat)
            return b"".join(kept), exif
        pos = end


# Adam7 passes: (first column, first row, column step, row step)
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_PIECE = 1 << 22


def check_png_pixels(ihdr: bytes, idat: list[memoryview]) -> None:
    """The IDAT stream of a 16-bit RGB(A) PNG inflates to exactly its rows, each with a valid filter byte.

    Inflates in pieces of a few MB (nothing the size of the image is held); raises
    ``ValueError`` on a damaged stream, missing or extra data, or an unknown row filter.
    """
    width, height, _, colour, _, _, interlace = struct.unpack(">IIBBBBB", ihdr)
    pixel = 8 if colour == 6 else 6  # bytes of one 16-bit RGB(A) pixel
    passes = [(height, width)] if not interlace else [  # (rows, pixels per row) of each pass
        (-(-(height - y0) // dy), -(-(width - x0) // dx)) for x0, y0, dx, dy in _ADAM7 if width > x0 and height > y0]
    bases, total = [], 0
    for rows, pixels in passes:  # each pass's rows (a filter byte, then pixels) follow the previous pass's
        bases.append((total, rows, 1 + pixels * pixel))
        total += rows * (1 + pixels * pixel)
    inflate, done = zlib.decompressobj(), 0
    try:
        for piece in idat:
            data: bytes | memoryview = piece
            while data and not inflate.eof:
                out = inflate.decompress(data, _INFLATE_PIECE)
                if done + len(out) > total:
                    raise ValueError("the compressed pixels hold more rows than the header says")
                _check_filters(np.frombuffer(out, np.uint8), done, bases)
                done += len(out)
                data = inflate.unconsumed_tail
            if inflate.eof and (data or inflate.unused_data):
                raise ValueError("data follows the end of the compressed pixels")
    except zlib.error as e:
        raise ValueError(f"the compressed pixels are damaged ({e})") from None
    if not inflate.eof or done != total:
        raise ValueError("the compressed pixels end before the last row")


def _check_filters(out: np.ndarray, offset: int, passes: list[tuple[int, int, int]]) -> None:
    """Every row start within ``out`` (which begins ``offset`` bytes into the pixels) is filter 0-4."""
    for base, rows, size in passes:
        first = max(0, -(-(offset - base) // size))  # first row of this pass starting at or after offset
        start = base + first * size - offset
        stop = min(len(out), base + rows * size - offset)
        if start < stop and out[start:stop:size].max() > 4:
            raise ValueError("a row of pixels has an unknown filter type")


# Keeping decoders off the terminal ----------------------------------------------------
@functools.cache
def silence_libtiff() -> int:
    """Stop the libtiff that Pillow uses from printing on stderr; the number of libraries silenced.

    libtiff writes its warnings and errors ("LZWDecode: Not enough data at scanline ...")
    straight to stderr unless handlers are set, and Pillow sets none; with null handlers the
    failures still reach Pillow, which raises. Found through /proc/self/maps (Linux); elsewhere
    nothing changes. OpenCV's own libtiff already routes its messages through its logging.
    """
    from PIL import _imaging  # noqa: F401  (loads Pillow's libtiff)

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return 0
    mapped = (line.split(maxsplit=5) for line in maps.splitlines())
    libraries = {f[5] for f in mapped if len(f) == 6 and Path(f[5]).name.startswith("libtiff")}
    for path in libraries:
        libtiff = ctypes.CDLL(path)
        for setter in (libtiff.TIFFSetErrorHandler, libtiff.TIFFSetWarningHandler):
            setter.restype = ctypes.c_void_p
            setter.argtypes = [ctypes.c_void_p]
            setter(None)
    return len(libraries)


_DECODING = threading.Lock()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def quiet_decoding(label: str, log: logging.Logger) -> Iterator[None]:
    """Send what decoding complains about (Python warnings such as corrupt EXIF, Pillow's own log
    records such as "More samples per pixel than can be decoded") to ``log`` at debug level,
    never to the terminal.

    Both are process-wide switches (``warnings.catch_warnings``, the "PIL" logger), so decodes
    take turns: two threads interleaving them could leave every later warning of the process
    recorded into a dead list.
    """
    pil_log, collect = logging.getLogger("PIL"), _Collect()
    caught: list[warnings.WarningMessage] = []
    try:
        with _DECODING, warnings.catch_warnings(record=True) as recorded:
            caught = recorded if recorded is not None else caught  # None only without record=True
            warnings.simplefilter("always")
            pil_log.addHandler(collect)
            propagate, pil_log.propagate = pil_log.propagate, False
            try:
                yield
            finally:
                pil_log.propagate = propagate
                pil_log.removeHandler(collect)
    finally:  # also when decoding failed: the complaints tell why
        for message in [str(w.message) for w in caught] + collect.messages:
            log.debug("%s: %s", label, message)


def opencv_decode(data: bytes) -> np.ndarray | None:
    """``cv2.imdecode`` with OpenCV's own warnings silenced; None when it cannot decode ``data``."""
    import cv2

    previous = cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    finally:
        cv2.utils.logging.setLogLevel(previous)
