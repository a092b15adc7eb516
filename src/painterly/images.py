"""Reading and writing images.

One convention at every public boundary: float32 RGB in [0, 1], shape (B, 3, H, W).
Alpha travels separately as (B, 1, H, W). Everything a photo from the wild may carry is
handled here: EXIF orientation, ICC profiles (converted to sRGB), alpha, grayscale,
palette and CMYK modes, 16-bit PNG/TIFF, decompression bombs, truncated files.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms, ImageOps, PngImagePlugin

ImageSource = Union[str, os.PathLike, Image.Image, torch.Tensor]

# Refuse images over this many pixels before decoding them (Pillow's own bomb threshold is
# twice its MAX_IMAGE_PIXELS; 178 million pixels is already 13000x13000).
MAX_PIXELS = 2 * 89_478_485

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                  ".tif": "TIFF", ".tiff": "TIFF"}
SIXTEEN_BIT_FORMATS = {"PNG", "TIFF"}


class ImageError(Exception):
    """An image cannot be read or written. The message names the file and what to do."""


@dataclass(frozen=True)
class Loaded:
    """A decoded image: ``rgb`` is (1, 3, H, W) in [0, 1]; ``alpha`` is (1, 1, H, W) or None."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None = None
    bit_depth: int = 8


# Reading ------------------------------------------------------------------------------
def load_image(source: ImageSource, *, what: str = "image") -> Loaded:
    """Decode ``source`` (path, PIL image or tensor) into the package convention."""
    if isinstance(source, torch.Tensor):
        return Loaded(_check_tensor(source, what))
    if isinstance(source, Image.Image):
        return _from_pil(source)
    path = Path(source)
    if not path.exists():
        raise ImageError(f"{what} {path}: no such file; check the path")
    if path.is_dir():
        raise ImageError(f"{what} {path}: is a folder, not an image file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageError(f"{what} {path}: cannot be read ({e.strerror}); check its permissions") from None
    if _is_16bit_rgb(data):
        return _load_16bit(data, path, what)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pil = Image.open(io.BytesIO(data))
            w, h = pil.size
            if w * h > MAX_PIXELS:
                raise Image.DecompressionBombError()
            pil.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{what} {path}: too large to decode safely (over {MAX_PIXELS // 1_000_000} megapixels); "
            "downscale it first"
        ) from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{what} {path}: not an image file Pillow can read (PNG, JPEG, WebP, TIFF, ...)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{what} {path}: damaged or truncated image ({e}); re-export it") from None
    return _from_pil(pil)


def _check_tensor(x: torch.Tensor, what: str) -> torch.Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] != 3:
        raise ImageError(f"{what}: expected a tensor of shape (3, H, W) or (1, 3, H, W), got {tuple(x.shape)}")
    return x.detach().float().clamp(0, 1)


def _from_pil(pil: Image.Image) -> Loaded:
    pil = ImageOps.exif_transpose(pil)
    pil = _to_srgb(pil)
    bit_depth = 8
    alpha = None
    if pil.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit (or 32-bit) grayscale
        arr = np.asarray(pil, dtype=np.float32)
        peak = 65535.0 if arr.max() > 255 or pil.mode.startswith("I;16") else 255.0
        bit_depth = 16 if peak > 255 else 8
        g = torch.from_numpy(arr / peak).clamp(0, 1)
        return Loaded(g.expand(3, -1, -1).unsqueeze(0).contiguous(), None, bit_depth)
    if pil.mode == "P":
        pil = pil.convert("RGBA" if "transparency" in pil.info else "RGB")
    if pil.mode in ("LA", "RGBA", "PA", "La", "RGBa"):
        pil = pil.convert("RGBA")
        alpha = _pil_to_tensor(pil.getchannel("A"))
    rgb = _pil_to_tensor(pil.convert("RGB"))
    return Loaded(rgb, alpha, bit_depth)


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


def _is_16bit_rgb(data: bytes) -> bool:
    """True for 16-bit colour PNG/TIFF, which Pillow would silently decode as 8-bit."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 26:
        return data[24] == 16 and data[25] in (2, 6)  # bit depth 16, colour type RGB(A)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        try:
            with Image.open(io.BytesIO(data)) as im:
                bps = im.tag_v2.get(258)  # type: ignore[attr-defined]
                return bool(bps) and max(bps if isinstance(bps, tuple) else (bps,)) == 16 and len(im.getbands()) >= 3
        except Exception:
            return False
    return False


def _load_16bit(data: bytes, path: Path, what: str) -> Loaded:
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageError(f"{what} {path}: damaged 16-bit image; re-export it")
    x = torch.from_numpy(arr.astype(np.float32) / 65535.0)
    alpha = None
    if x.shape[2] == 4:
        alpha = x[:, :, 3:].permute(2, 0, 1).unsqueeze(0).contiguous()
    rgb = x[:, :, [2, 1, 0]].permute(2, 0, 1).unsqueeze(0).contiguous()  # OpenCV is BGR
    return Loaded(rgb, alpha, 16)


# Conversions and resizing ---------------------------------------------------------------
def to_pil(x: torch.Tensor, alpha: torch.Tensor | None = None) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) in [0, 1] -> 8-bit PIL RGB (RGBA when ``alpha`` is given)."""
    x = x.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    if alpha is not None:
        a = alpha.detach().float().cpu().reshape(1, *alpha.shape[-2:])
        x = torch.cat([x, resize(a[None], x.shape[-2:])[0]])
    arr = x.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(arr, "RGBA" if alpha is not None else "RGB")


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
    """Resize (B, C, H, W) to ``hw``: antialiased bicubic down, bicubic up, clamped to [0, 1]."""
    hw = (int(hw[0]), int(hw[1]))
    if tuple(x.shape[-2:]) == hw:
        return x
    down = hw[0] * hw[1] < x.shape[-2] * x.shape[-1]
    y = F.interpolate(x, size=hw, mode="bicubic", align_corners=False, antialias=down)
    return y.clamp(0, 1)


# Writing ------------------------------------------------------------------------------
def check_output_path(path: str | os.PathLike, *, option: str = "--output") -> Path:
    """Fail early (before any heavy work) if ``path`` cannot be written as an image."""
    return check_writable(path, option=option, formats=OUTPUT_FORMATS, kind="image", example="out.png",
                          error=ImageError)


def check_writable(path: str | os.PathLike, *, option: str, formats: Iterable[str], kind: str, example: str,
                   error: type[Exception]) -> Path:
    """``path`` has a known extension, its folder exists and is writable, and it is not a folder."""
    p = Path(path)
    if p.suffix.lower() not in formats:
        raise error(f"{option} {p}: unknown {kind} type {p.suffix!r}; use one of {', '.join(sorted(formats))}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise error(f"{option} {p}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise error(f"{option} {p}: folder {parent} is not writable; choose another location")
    if p.is_dir():
        raise error(f"{option} {p}: is a folder; give a file name such as {example}")
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
    quality: int = 95,
) -> Path:
    """Write ``x`` ((1, 3, H, W) in [0, 1]) atomically: a temp file, then a rename.

    The format follows the extension. ``metadata`` goes into PNG text chunks (other
    formats carry it in the caller's sidecar JSON). ``bit_depth=16`` writes 16-bit PNG/TIFF.
    """
    p = check_output_path(path)
    fmt = OUTPUT_FORMATS[p.suffix.lower()]
    if bit_depth not in (8, 16):
        raise ImageError(f"--bit-depth must be 8 or 16, got {bit_depth}")
    if bit_depth == 16 and fmt not in SIXTEEN_BIT_FORMATS:
        raise ImageError(f"--bit-depth 16: {fmt} cannot hold 16 bits; write .png or .tif")
    if bit_depth == 16:
        payload = _encode_16bit(x, alpha, p.suffix.lower())
    else:
        payload = _encode_8bit(x, alpha, fmt, metadata, quality)
    _atomic_write(p, payload)
    return p


def _encode_8bit(x: torch.Tensor, alpha: torch.Tensor | None, fmt: str,
                 metadata: dict[str, str] | None, quality: int) -> bytes:
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
    buf = io.BytesIO()
    pil.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _encode_16bit(x: torch.Tensor, alpha: torch.Tensor | None, suffix: str) -> bytes:
    import cv2

    img = x.detach().float().cpu()[0].clamp(0, 1)
    chans = [img[2], img[1], img[0]]  # OpenCV writes BGR
    if alpha is not None:
        chans.append(resize(alpha.detach().float().cpu(), img.shape[-2:])[0, 0])
    arr = (torch.stack(chans, -1).numpy() * 65535.0 + 0.5).astype(np.uint16)
    ok, enc = cv2.imencode(".png" if suffix == ".png" else ".tiff", arr)
    if not ok:
        raise ImageError(f"could not encode a 16-bit {suffix} image")
    return enc.tobytes()


def _atomic_write(p: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_bytes_atomic(path: str | os.PathLike, payload: bytes) -> None:
    """Atomically write ``payload`` (used for sidecars and other non-image outputs)."""
    _atomic_write(Path(path), payload)
