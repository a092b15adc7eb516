"""Reading and writing images.

One convention at every public boundary: float32 RGB in [0, 1], shape (B, 3, H, W).
Alpha travels separately as (B, 1, H, W). Everything a photo from the wild may carry is
handled here: EXIF orientation, ICC profiles (converted to sRGB), alpha, grayscale,
palette and CMYK modes, 16-bit PNG/TIFF, HEIC/HEIF (with the ``heif`` extra) and AVIF,
decompression bombs, damaged and truncated files. What a file's header says is checked
in :mod:`painterly.imageformats` before any decoder sees the file.
"""

from __future__ import annotations

import io
import logging
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms, PngImagePlugin

from . import imageformats, rowwriter, spill
from .errors import ImageError
from .files import atomic_write, check_writable, write_bytes_atomic  # noqa: F401  (write_bytes_atomic: public here too)
from .inputs import read_input
from .resample import Resampler

ImageSource = Union[str, os.PathLike, Image.Image, torch.Tensor]

# Refuse images over this many pixels, read from the file's header before any decoding, on
# every path (Pillow's own bomb error fires at the same count, twice its MAX_IMAGE_PIXELS;
# 179 million pixels is already 13000x13000, 2 GB as a float tensor).
MAX_PIXELS = 2 * 89_478_485

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                  ".tif": "TIFF", ".tiff": "TIFF"}
SIXTEEN_BIT_FORMATS = {"PNG", "TIFF"}
LOSSY_FORMATS = {"JPEG", "WEBP"}
DEFAULT_QUALITY = 95  # JPEG/WebP quality (1-100) when --quality is not given

# What a decoder raises on a damaged file: Pillow's plugins use all of these, its AVIF plugin
# RuntimeError, pillow-heif ValueError/RuntimeError, the PNG checks ValueError.
DECODER_ERRORS: tuple[type[Exception], ...] = (OSError, SyntaxError, ValueError, RuntimeError, EOFError,
                                               struct.error)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    """A decoded image: ``rgb`` is (1, 3, H, W) in [0, 1]; ``alpha`` is (1, 1, H, W) or None."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None = None
    bit_depth: int = 8


# Reading ------------------------------------------------------------------------------
def load_image(source: ImageSource, *, what: str = "image") -> Loaded:
    """Decode ``source`` (path, PIL image or tensor) into the package convention.

    A file's size is read from its header and refused over ``MAX_PIXELS`` before any pixel
    is decoded. Whatever the decoders warn about goes to the ``painterly.images`` logger at
    debug level, never to the terminal.
    """
    if isinstance(source, torch.Tensor):
        return Loaded(_check_tensor(source, what))
    if isinstance(source, Image.Image):
        with imageformats.quiet_decoding(what, log):
            return _from_pil(source)
    path = Path(source)
    label = f"{what} {path}"
    data = read_input(path, what, error=ImageError)
    with imageformats.quiet_decoding(label, log):
        return _decode(data, label)


def _decode(data: bytes, label: str) -> Loaded:
    try:
        pil = imageformats.open_header(data)
        _check_pixels(pil.size, label)
        if imageformats.is_deep_colour(pil, data):
            return _load_16bit(data, pil, label)
        pil.load()
        return _from_pil(pil)
    except Image.DecompressionBombError:
        raise ImageError(_too_large(label)) from None
    except Image.UnidentifiedImageError:
        raise ImageError(_unidentified(data, label)) from None
    except DECODER_ERRORS as e:
        raise ImageError(f"{label}: damaged or truncated image ({e}); re-export it") from None


def _unidentified(data: bytes, label: str) -> str:
    """Why no reader took ``data``: a HEIC without pillow-heif, a damaged header, or not an image."""
    kind = imageformats.format_by_magic(data)
    if kind == "HEIF" and not imageformats.heif_available():
        return f"{label}: a HEIC/HEIF image, which needs pillow-heif; {imageformats.HEIF_HINT}"
    if kind:
        return f"{label}: damaged or truncated image (a {kind} file whose header cannot be read); re-export it"
    return (f"{label}: not an image file painterly can read (its content is not {imageformats.FORMAT_NAMES}); "
            "choose a picture file")


def _check_pixels(size: tuple[int, int], label: str) -> None:
    if size[0] * size[1] > MAX_PIXELS:
        raise ImageError(_too_large(label, size))


def _too_large(label: str, size: tuple[int, int] | None = None) -> str:
    dims = f"{size[0]}x{size[1]} pixels, " if size else ""
    return (f"{label}: too large to decode safely ({dims}over the {MAX_PIXELS / 1e6:.3g}-megapixel limit); "
            "downscale it first")


def _check_tensor(x: torch.Tensor, what: str) -> torch.Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] != 3:
        raise ImageError(f"{what}: expected a tensor of shape (3, H, W) or (1, 3, H, W), got {tuple(x.shape)}")
    return x.detach().float().clamp(0, 1)


def _from_pil(pil: Image.Image) -> Loaded:
    orientation = _orientation(pil.getexif)
    pil = _to_srgb(pil)
    if pil.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit (or 32-bit) grayscale
        arr = np.asarray(pil, dtype=np.float32)
        peak = 65535.0 if arr.max() > 255 or pil.mode.startswith("I;16") else 255.0
        g = torch.from_numpy(arr / peak).clamp(0, 1)
        gray = Loaded(g.expand(3, -1, -1).unsqueeze(0).contiguous(), None, 16 if peak > 255 else 8)
        return _oriented(gray, orientation)
    alpha = None
    if pil.mode == "P":
        pil = pil.convert("RGBA" if "transparency" in pil.info else "RGB")
    if pil.mode in ("LA", "RGBA", "PA", "La", "RGBa"):
        pil = pil.convert("RGBA")
        alpha = _pil_to_tensor(pil.getchannel("A"))
    return _oriented(Loaded(_pil_to_tensor(pil.convert("RGB")), alpha), orientation)


# EXIF orientation -> (transpose H and W first?, then flip these dims of (B, C, H, W)).
_ORIENTATIONS = {2: (False, (-1,)), 3: (False, (-2, -1)), 4: (False, (-2,)), 5: (True, ()),
                 6: (True, (-1,)), 7: (True, (-2, -1)), 8: (True, (-2,))}


def _orientation(read_exif: Callable[[], Image.Exif]) -> int:
    """The EXIF orientation (1 to 8); a damaged EXIF block reads as 1 rather than refusing the image."""
    try:
        value = read_exif().get(0x0112, 1)
    except DECODER_ERRORS:
        return 1
    return value if isinstance(value, int) and value in _ORIENTATIONS else 1


def _oriented(img: Loaded, orientation: int) -> Loaded:
    """``img`` turned the way EXIF says it is displayed (as ``ImageOps.exif_transpose`` would)."""
    if orientation not in _ORIENTATIONS:
        return img
    transpose, flips = _ORIENTATIONS[orientation]

    def turn(x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(-2, -1) if transpose else x
        return (x.flip(flips) if flips else x).contiguous()

    return Loaded(turn(img.rgb), None if img.alpha is None else turn(img.alpha), img.bit_depth)


def _to_srgb(pil: Image.Image) -> Image.Image:
    icc = pil.info.get("icc_profile")
    if not icc or pil.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return pil.convert("RGB") if pil.mode == "CMYK" else pil
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile("sRGB")
        alpha = pil.getchannel("A") if pil.mode in ("RGBA", "LA") else None
        base = pil.convert("RGB") if pil.mode in ("RGBA",) else pil.convert("L") if pil.mode == "LA" else pil
        out_mode = "L" if base.mode == "L" else "RGB"
        if out_mode == "L":  # a gray profile: keep gray, let the RGB expansion follow
            return pil
        out = ImageCms.profileToProfile(base, src, dst, outputMode=out_mode)
        assert out is not None
        if alpha is not None:
            out.putalpha(alpha)
        return out
    except (ImageCms.PyCMSError, OSError, ValueError):
        # A broken profile is not worth refusing the image for: use the pixels as sRGB.
        return pil.convert("RGB") if pil.mode == "CMYK" else pil


def _pil_to_tensor(pil: Image.Image) -> torch.Tensor:
    arr = np.asarray(pil, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).float().div_(255).contiguous()


def _load_16bit(data: bytes, pil: Image.Image, label: str) -> Loaded:
    """16-bit colour PNG/TIFF through OpenCV (Pillow keeps only 8 bits); EXIF orientation applied.

    A PNG reaches OpenCV only after its chunk structure is checked (see
    :func:`imageformats.png_for_decoder`); the size was checked by the caller. ICC profiles
    of 16-bit files are not converted (Pillow's colour management works on 8-bit RGB).
    """
    if pil.format == "PNG":
        data, exif = imageformats.png_for_decoder(data)
        orientation = _orientation(lambda: _exif_from(exif))
    else:
        orientation = _orientation(pil.getexif)
    arr = imageformats.opencv_decode(data)
    if arr is None or arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint16:
        raise ImageError(f"{label}: damaged or truncated image (its 16-bit pixels cannot be decoded); re-export it")
    x = torch.from_numpy(arr.astype(np.float32)).div_(65535.0).permute(2, 0, 1).unsqueeze(0)
    alpha = x[:, 3:].contiguous() if x.shape[1] == 4 else None
    rgb = x[:, [2, 1, 0]].contiguous()  # OpenCV is BGR
    return _oriented(Loaded(rgb, alpha, 16), orientation)


def _exif_from(payload: bytes | None) -> Image.Exif:
    exif = Image.Exif()
    if payload:
        exif.load(payload)
    return exif


# Conversions and resizing ---------------------------------------------------------------
def to_pil(x: torch.Tensor, alpha: torch.Tensor | None = None) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) in [0, 1] -> 8-bit PIL RGB (RGBA when ``alpha`` is given), quantised a band at a
    time (painterly.rowwriter, which writes a print-size picture's rows alike)."""
    mode = "RGBA" if alpha is not None else "RGB"
    a = _alpha_at(alpha, x.shape[-2:])
    arr, top = np.empty((*x.shape[-2:], len(mode)), np.uint8), 0
    for rows in rowwriter.quantised_bands(x.detach().float().cpu().reshape(1, 3, *x.shape[-2:]), a, 8):
        arr[top:top + len(rows)], top = rows, top + len(rows)
    return Image.fromarray(arr, mode)


def _alpha_at(alpha: torch.Tensor | None, hw: tuple[int, int] | torch.Size) -> torch.Tensor | None:
    """``alpha`` (any shape ending (H, W)) as (1, 1, h, w) at the picture's size ``hw``, on the CPU; None stays None."""
    return None if alpha is None else resize(alpha.detach().float().cpu().reshape(1, 1, *alpha.shape[-2:]), hw)


def fit_long_edge(hw: tuple[int, int], size: int) -> tuple[int, int]:
    """(H, W) scaled so that the long edge is ``size`` (aspect kept, each side >= 1)."""
    h, w = hw
    s = size / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def fit_pixels(hw: tuple[int, int], pixels: float) -> tuple[int, int]:
    """(H, W) scaled to about ``pixels`` positions, aspect kept."""
    h, w = hw
    s = (pixels / (h * w)) ** 0.5
    return max(1, round(h * s)), max(1, round(w * s))


def resize(x: torch.Tensor, hw: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Resize (B, C, H, W) to ``hw``: antialiased bicubic down, bicubic up, clamped to [0, 1]. A large picture
    (painterly.spill) is resized band by band into a mapped file (painterly.resample), alike."""
    hw = (int(hw[0]), int(hw[1]))
    if tuple(x.shape[-2:]) == hw:
        return x
    down = hw[0] * hw[1] < x.shape[-2] * x.shape[-1]
    if spill.spilled(x) or spill.large(hw, x.device):  # band by band, in bounded memory
        return Resampler.of((x.shape[-2], x.shape[-1]), hw, down)(x)
    y = F.interpolate(x, size=hw, mode="bicubic", align_corners=False, antialias=down)
    return y.clamp(0, 1)


# Writing ------------------------------------------------------------------------------
def check_output_path(path: str | os.PathLike, *, option: str = "--output", bit_depth: int = 8,
                      quality: int | None = None) -> Path:
    """Fail early (before any heavy work) if ``path`` cannot be written as an image of ``bit_depth`` bits
    (and, for JPEG and WebP, of ``quality``, 1-100; None: :data:`DEFAULT_QUALITY`)."""
    p = check_writable(path, option=option, formats=OUTPUT_FORMATS, kind="image", example="out.png", error=ImageError)
    if bit_depth not in (8, 16):
        raise ImageError(f"--bit-depth must be 8 or 16, got {bit_depth}")
    if bit_depth == 16 and OUTPUT_FORMATS[p.suffix.lower()] not in SIXTEEN_BIT_FORMATS:
        raise ImageError(f"--bit-depth 16: {p.suffix} cannot hold 16 bits; write .png or .tif")
    if quality is not None:
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise ImageError(f"--quality must be a whole number from 1 to 100, got {quality!r}")
        if OUTPUT_FORMATS[p.suffix.lower()] not in LOSSY_FORMATS:
            raise ImageError(f"--quality {quality}: {p.name} is written without loss; --quality applies to .jpg and .webp")
    return p


def refuse_overwriting_inputs(outputs: Mapping[str, str | os.PathLike | None],
                              inputs: Iterable[object], *, error: type[Exception] = ImageError) -> None:
    """Refuse an output path that names one of the ``inputs`` (same file by resolved path or inode).

    ``outputs`` maps an option (``--output``, ``--sheet``) to its path; ``inputs`` may hold
    anything a loader accepts, and only paths are compared. Writing the result over the photo
    or the painting would destroy the user's original, so it is an error before any work.
    """
    sources = [Path(i) for i in inputs if isinstance(i, (str, os.PathLike))]
    for option, out in outputs.items():
        if out is None:
            continue
        o = Path(out)
        for src in sources:
            if o.resolve() == src.resolve() or (o.exists() and src.exists() and o.samefile(src)):
                raise error(f"{option} {o}: is the input file {src}; write the result to another file "
                            "so that the original is kept")


def save_image(
    x: torch.Tensor,
    path: str | os.PathLike,
    *,
    alpha: torch.Tensor | None = None,
    metadata: dict[str, str] | None = None,
    bit_depth: int = 8,
    quality: int | None = None,
    dpi: float | None = None,
) -> Path:
    """Write ``x`` ((1, 3, H, W) in [0, 1]) atomically: a temp file, then a rename.

    The format follows the extension. ``metadata`` goes into PNG text chunks (other
    formats carry it in the caller's sidecar JSON). ``bit_depth=16`` writes 16-bit PNG/TIFF.
    ``quality``: JPEG/WebP quality, 1-100 (None: :data:`DEFAULT_QUALITY`); other formats are lossless.
    ``dpi``: the print resolution, written where the format holds one (PNG's pHYs chunk, in whole
    pixels per metre; TIFF's resolution tags, whole dots per inch when 16-bit; JPEG's JFIF density);
    WebP has no place for it. None: none written. A print-size picture (painterly.spill) is written as PNG or TIFF
    a band of rows at a time (painterly.rowwriter); as JPEG or WebP, from its 8-bit pixels whole (3 bytes a pixel).
    """
    p = check_output_path(path, bit_depth=bit_depth, quality=quality)
    fmt = OUTPUT_FORMATS[p.suffix.lower()]
    if spill.spilled(x) and fmt in SIXTEEN_BIT_FORMATS:  # a print-size picture: a band of rows at a time
        a = _alpha_at(alpha, x.shape[-2:])
        atomic_write(p, lambda f: rowwriter.write_png(f, x, a, bit_depth=bit_depth, dpi=dpi, text=metadata)
                     if fmt == "PNG" else rowwriter.write_tiff(f, x, a, bit_depth=bit_depth, dpi=dpi))
        return p
    if bit_depth == 16:
        payload = _encode_16bit(x, alpha, p.suffix.lower(), dpi)
    else:
        payload = _encode_8bit(x, alpha, fmt, metadata, DEFAULT_QUALITY if quality is None else quality, dpi)
    atomic_write(p, payload)
    return p


def _encode_8bit(x: torch.Tensor, alpha: torch.Tensor | None, fmt: str,
                 metadata: dict[str, str] | None, quality: int, dpi: float | None = None) -> bytes:
    if fmt == "JPEG":
        alpha = None  # JPEG has no alpha channel
    pil = to_pil(x, alpha)
    kwargs: dict[str, Any] = {}
    if fmt == "PNG" and metadata:
        info = PngImagePlugin.PngInfo()
        for k, v in metadata.items():
            info.add_itxt(k, v)
        kwargs["pnginfo"] = info
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
    if dpi is not None and fmt in ("PNG", "JPEG", "TIFF"):
        kwargs["dpi"] = (dpi, dpi)
    buf = io.BytesIO()
    pil.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _encode_16bit(x: torch.Tensor, alpha: torch.Tensor | None, suffix: str, dpi: float | None = None) -> bytes:
    import cv2

    img = x.detach().float().cpu()[0].clamp(0, 1)
    chans = [img[2], img[1], img[0]]  # OpenCV writes BGR
    if (a := _alpha_at(alpha, img.shape[-2:])) is not None:
        chans.append(a[0, 0])
    arr = rowwriter.quantise(torch.stack(chans, -1), 16).astype(np.uint16)
    resolution = [] if dpi is None or suffix == ".png" else [
        cv2.IMWRITE_TIFF_RESUNIT, 2, cv2.IMWRITE_TIFF_XDPI, round(dpi), cv2.IMWRITE_TIFF_YDPI, round(dpi)]  # 2: inches
    ok, enc = cv2.imencode(".png" if suffix == ".png" else ".tiff", arr, resolution)
    if not ok:
        raise ImageError(f"could not encode a 16-bit {suffix} image")
    return enc.tobytes() if dpi is None or suffix != ".png" else with_png_dpi(enc.tobytes(), dpi)


def with_png_dpi(png: bytes, dpi: float) -> bytes:
    """``png`` with a pHYs chunk of ``dpi`` (in whole pixels per metre, as PNG keeps it) right after IHDR
    (OpenCV's PNG writer has no option for it)."""
    end = 8 + 8 + 13 + 4  # signature, IHDR's length and type, its 13 bytes, its CRC
    return png[:end] + rowwriter.dpi_chunk(dpi) + png[end:]
