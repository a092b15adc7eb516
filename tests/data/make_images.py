"""Recreate tests/data/formats/: one small image per format the loader reads (run once; not a test).

    .venv/bin/python tests/data/make_images.py

Every file is ``content.png`` (from examples/building.jpg) shrunk to 32x24, so a test can
compare any of them with ``png8.png``. The 16-bit files hold the area-averaged values at
16 bits (not 8-bit values scaled up). ``orient6.*`` store the picture turned 90 degrees
anticlockwise with EXIF orientation 6 (HEIC: pillow-heif writes it as the container's
rotation, as phones do), so a correct reader shows it upright; ``adobergb.*`` carry the
Adobe RGB (1998)-compatible profile from this folder. Needs Pillow >= 11.3 (AVIF), pillow-heif
and OpenCV.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
from PIL import Image

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from test_images_fuzz import png_chunk, png_insert  # noqa: E402

SIZE = (32, 24)


def _exif(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "painterly tests"  # Make: gives the EXIF block a string to parse
    return exif.tobytes()


def _png16(rgb16: np.ndarray, alpha: bool) -> bytes:
    bgr = rgb16[..., ::-1]
    if alpha:
        a = np.linspace(0, 65535, rgb16.shape[1], dtype=np.uint16)[None, :].repeat(rgb16.shape[0], 0)
        bgr = np.dstack([bgr, a])
    png = cv2.imencode(".png", np.ascontiguousarray(bgr))[1].tobytes()
    return png_insert(png, png_chunk(b"eXIf", _exif()[6:]) + png_chunk(b"tEXt", b"Comment\x00painterly"))


def _encoded(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def files(src: Image.Image, rgb16: np.ndarray, icc: bytes) -> dict[str, bytes]:
    rgba = src.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(SIZE))
    turned = src.transpose(Image.Transpose.ROTATE_90)
    gray16 = Image.fromarray((rgb16 @ np.array([0.299, 0.587, 0.114]) + 0.5).astype(np.uint16))  # Pillow's "L" weights
    tiff16 = cv2.imencode(".tiff", np.ascontiguousarray(rgb16[..., ::-1]))[1].tobytes()
    palette = src.quantize(16)
    palette.info["transparency"] = 0
    return {
        "png8.png": _encoded(src, "PNG", exif=_exif()),
        "png16.png": _png16(rgb16, alpha=False),
        "png16a.png": _png16(rgb16, alpha=True),
        "palette.png": _encoded(palette, "PNG", transparency=0),
        "gray.png": _encoded(src.convert("L"), "PNG"),
        "gray16.png": _encoded(gray16, "PNG"),
        "jpeg.jpg": _encoded(src, "JPEG", quality=90, exif=_exif()),
        "progressive.jpg": _encoded(src, "JPEG", quality=90, progressive=True),
        "webp.webp": _encoded(src, "WEBP", quality=90, exif=_exif()),
        "webp_alpha.webp": _encoded(rgba, "WEBP", lossless=True),
        "tiff8.tif": _encoded(src, "TIFF", compression="tiff_lzw", exif=_exif()),
        "tiff16.tif": tiff16,
        "bmp.bmp": _encoded(src, "BMP"),
        "gif.gif": _encoded(src, "GIF"),
        "avif.avif": _encoded(src, "AVIF", quality=90),
        "heic.heic": _encoded(src, "HEIF", quality=90),
        "orient6.avif": _encoded(turned, "AVIF", quality=90, exif=_exif(6)),
        "orient6.heic": _encoded(turned, "HEIF", quality=90, exif=_exif(6)),
        "adobergb.avif": _encoded(src, "AVIF", quality=90, icc_profile=icc),
        "adobergb.heic": _encoded(src, "HEIF", quality=90, icc_profile=icc),
    }


def main() -> None:
    pillow_heif.register_heif_opener()
    content = Image.open(HERE / "content.png").convert("RGB")
    area = cv2.resize(np.asarray(content, np.float32) / 255, SIZE, interpolation=cv2.INTER_AREA)
    rgb16 = (area * 65535 + 0.5).astype(np.uint16)
    src = Image.fromarray((area * 255 + 0.5).astype(np.uint8))
    icc = (HERE / "compatibleWithAdobeRGB1998.icc").read_bytes()
    out = HERE / "formats"
    out.mkdir(exist_ok=True)
    for name, data in files(src, rgb16, icc).items():
        (out / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
