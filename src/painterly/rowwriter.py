"""PNG and TIFF files written a band of rows at a time, for pictures too large to encode whole (painterly.spill).

Both formats hold compressed rows one after another, so a print-size picture kept in a mapped file is quantised,
filtered and compressed a band at a time into the open file, and the process never holds it whole. The pixels
are those :func:`painterly.images.save_image` writes for a small picture (8 bits: ``round(255 x)``; 16 bits:
``floor(65535 x + 0.5)``), with the same metadata: PNG's text chunks and pHYs (the DPI in pixels per metre),
TIFF's resolution in dots per inch. PNG rows use the Up filter and zlib; TIFF strips Deflate (Adobe's code 8),
which every reader of 16-bit TIFF reads. A TIFF that would pass 4 GB (classic TIFF's offsets) is refused as its
strips reach it (save_image then removes the temporary file).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import torch

from . import spill
from .errors import ImageError

LEVEL = 6  # zlib's compression level (its default)


def quantised_bands(x: torch.Tensor, alpha: torch.Tensor | None, bit_depth: int) -> Iterator[np.ndarray]:
    """(rows, W, C) arrays of ``x`` ((1, 3, H, W) in [0, 1]) and ``alpha`` (at ``x``'s size) in 8 or 16 bits (uint16
    big-endian), a band of rows at a time, trimming the mapped pictures after each."""
    for top, bottom in spill.each_band(x.shape[-2:], 4):
        band = x.detach()[0, :, top:bottom].float()
        if alpha is not None:
            band = torch.cat([band, alpha.detach()[0, :1, top:bottom].float()])
        yield quantise(band.permute(1, 2, 0), bit_depth)


def quantise(values: torch.Tensor, bit_depth: int) -> np.ndarray:
    """``values`` (float, any shape) clamped to [0, 1] in 8 bits (``round(255 x)``) or 16 (``floor(65535 x +
    0.5)``, uint16 big-endian): every writer's rounding."""
    values = values.clamp(0, 1)
    if bit_depth == 16:
        return (values.numpy() * 65535.0 + 0.5).astype(">u2")
    return values.mul(255).round().byte().numpy()


def write_png(f: BinaryIO, x: torch.Tensor, alpha: torch.Tensor | None = None, *, bit_depth: int = 8,
              dpi: float | None = None, text: dict[str, str] | None = None) -> None:
    """``x`` (and ``alpha``) as a PNG into ``f``, a band at a time."""
    h, w = x.shape[-2:]
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, 6 if alpha is not None else 2, 0, 0, 0)))
    if dpi is not None:
        f.write(dpi_chunk(dpi))
    for key, value in (text or {}).items():  # iTXt: keyword, no compression, no language, no translation
        f.write(png_chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8")))
    packer, above = zlib.compressobj(LEVEL), None
    for rows in quantised_bands(x, alpha, bit_depth):
        flat = rows.reshape(rows.shape[0], -1).view(np.uint8)
        previous = np.concatenate([above if above is not None else np.zeros_like(flat[:1]), flat[:-1]])
        filtered = np.concatenate([np.full((len(flat), 1), 2, np.uint8), flat - previous], 1)  # 2: Up
        above = flat[-1:].copy()
        if data := packer.compress(filtered.tobytes()):
            f.write(png_chunk(b"IDAT", data))
    f.write(png_chunk(b"IDAT", packer.flush()))
    f.write(png_chunk(b"IEND", b""))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """A PNG chunk: length, type, ``body``, CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def dpi_chunk(dpi: float) -> bytes:
    """PNG's pHYs chunk for ``dpi``: whole pixels per metre (unit 1), as PNG keeps it."""
    ppm = round(dpi / 0.0254)
    return png_chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1))


def write_tiff(f: BinaryIO, x: torch.Tensor, alpha: torch.Tensor | None = None, *, bit_depth: int = 8,
               dpi: float | None = None) -> None:
    """``x`` (and ``alpha``) as a little-endian TIFF into ``f``: a Deflate strip per band, then the directory."""
    h, w = x.shape[-2:]
    channels = 4 if alpha is not None else 3
    f.write(b"II*\0" + struct.pack("<I", 0))  # the directory's offset, written last
    offsets, counts, rows_per_strip = [], [], spill.bands((h, w), 4)[0][1]
    for rows in quantised_bands(x, alpha, bit_depth):
        data = zlib.compress(rows.astype("<u2").tobytes() if bit_depth == 16 else rows.tobytes(), LEVEL)
        offsets.append(f.tell())
        counts.append(len(data))
        if offsets[-1] + len(data) >= 2**32 - 2**16:
            raise ImageError(f"a {w}x{h} px TIFF is over 4 GB, more than a TIFF file holds; write a .png")
        f.write(data)
    extra: list[tuple[int, int, int, bytes]] = []  # (tag, type, count, values), values past the directory if long

    def long_values(values: list[int]) -> bytes:
        return struct.pack(f"<{len(values)}I", *values)

    resolution = (round(dpi * 10000), 10000) if dpi is not None else (72, 1)
    tags = [(256, 4, 1, long_values([w])), (257, 4, 1, long_values([h])),
            (258, 3, channels, struct.pack(f"<{channels}H", *[bit_depth] * channels)),
            (259, 3, 1, struct.pack("<H", 8)), (262, 3, 1, struct.pack("<H", 2)),
            (273, 4, len(offsets), long_values(offsets)), (277, 3, 1, struct.pack("<H", channels)),
            (278, 4, 1, long_values([rows_per_strip])), (279, 4, len(counts), long_values(counts)),
            (282, 5, 1, struct.pack("<II", *resolution)), (283, 5, 1, struct.pack("<II", *resolution)),
            (284, 3, 1, struct.pack("<H", 1)), (296, 3, 1, struct.pack("<H", 2 if dpi is not None else 1))]
    if alpha is not None:
        tags.append((338, 3, 1, struct.pack("<H", 2)))  # the fourth sample: unassociated alpha
    if f.tell() % 2:
        f.write(b"\0")
    directory = f.tell()
    after = directory + 2 + 12 * len(tags) + 4
    entries = b""
    for tag, kind, count, values in tags:
        if len(values) <= 4:
            entries += struct.pack("<HHI", tag, kind, count) + values.ljust(4, b"\0")
        else:
            entries += struct.pack("<HHII", tag, kind, count, after + sum(len(v) for *_, v in extra))
            extra.append((tag, kind, count, values))
    f.write(struct.pack("<H", len(tags)) + entries + struct.pack("<I", 0) + b"".join(v for *_, v in extra))
    f.seek(4)
    f.write(struct.pack("<I", directory))
