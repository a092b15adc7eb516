"""Property-based fuzzing of the image loader: a mutated real file loads or raises ImageError.

Every file in tests/data/formats (one small image per format and variant the loader reads,
made by tests/data/make_images.py) is mutated: bits flipped, the file truncated, ranges
overwritten, deleted or duplicated, chunk and segment length fields forged, chunks
duplicated, header dimensions set huge. Whatever comes out, ``load_image`` must return an
image in the package convention or raise ``ImageError``, within a deadline and without a
large allocation. CI runs a fixed (derandomised) set of examples per file;
``benchmarks/fuzz_loader.py`` runs thousands of the same mutations in subprocesses that
catch crashes, hangs and memory blow-ups.
"""

from __future__ import annotations

import os
import random
import resource
import struct
import zlib
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from painterly.images import ImageError, load_image

FORMATS_DIR = Path(__file__).parent / "data" / "formats"
SAMPLES = sorted(p for p in FORMATS_DIR.iterdir() if p.suffix != ".md") if FORMATS_DIR.is_dir() else []
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# Building and mutating files (also used by tests/data/make_images.py and benchmarks/fuzz_loader.py)
def png_chunk(kind: bytes, payload: bytes, *, length: int | None = None) -> bytes:
    """One PNG chunk with a correct CRC; ``length`` forges the length field."""
    size = len(payload) if length is None else length
    return struct.pack(">I", size) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_insert(png: bytes, chunk: bytes) -> bytes:
    """``chunk`` inserted right after the IHDR chunk of ``png``."""
    return png[:33] + chunk + png[33:]


class Mutation(NamedTuple):
    """One edit of a file; ``at``, ``size`` and ``value`` are reduced modulo what the file allows."""

    kind: str
    at: int
    size: int
    value: int


# "fix_crc" recomputes every PNG chunk's CRC, so that damage reaches the decoders behind the
# checksum test (a crafted file carries correct CRCs); "huge_dims" does it too.
KINDS = ("flip", "truncate", "overwrite", "delete", "duplicate", "length", "chunk_length", "dup_chunk", "huge_dims",
         "fix_crc")
# Length values that find off-by-one and overflow bugs more often than random ones.
_EDGES = (0, 1, 2, 7, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0xFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFF)


class Field(NamedTuple):
    at: int
    width: int  # bytes
    big_endian: bool


def mutate(data: bytes, mutations: list[Mutation]) -> bytes:
    """``data`` with each of ``mutations`` applied in turn."""
    for m in mutations:
        if data:
            data = _apply(bytearray(data), m)
    return bytes(data)


def _apply(b: bytearray, m: Mutation) -> bytes:
    n, at = len(b), m.at % len(b)
    if m.kind == "flip":
        b[at] ^= 1 << (m.value % 8)
    elif m.kind == "truncate":
        del b[at:]
    elif m.kind == "overwrite":
        fill = random.Random(m.value).randbytes(m.size) if m.value % 3 == 2 else bytes([255 * (m.value % 3)]) * m.size
        b[at:at + m.size] = fill[: n - at]
    elif m.kind == "delete":
        del b[at:at + max(1, m.size)]
    elif m.kind == "duplicate":
        b[m.value % n:m.value % n] = b[at:at + max(1, m.size)]
    elif m.kind == "length":
        _put(b, Field(at, 4 if m.size % 2 else 2, m.size % 4 < 2), _edge(m.value, n))
    elif m.kind in ("chunk_length", "dup_chunk"):
        segs = segments(bytes(b))
        if segs:
            start, end, field = segs[m.at % len(segs)]
            if m.kind == "chunk_length":
                _put(b, field, _edge(m.value, n))
            else:
                b[end:end] = b[start:end]
    elif m.kind == "huge_dims":
        fields = dimension_fields(bytes(b))
        for f in fields if m.size % 2 else fields[m.at % max(1, len(fields)):][:1]:
            top = (1 << (8 * f.width)) - 1
            _put(b, f, top if m.value % 2 else min(top, 14_000 + m.value % 50_000))
        _fix_png_crcs(b)
    elif m.kind == "fix_crc":
        _fix_png_crcs(b)
    return bytes(b)


def _fix_png_crcs(b: bytearray) -> None:
    for start, end, _ in segments(bytes(b)) if b.startswith(PNG_SIGNATURE) else []:
        if end - start >= 12 and end == start + 12 + int.from_bytes(b[start:start + 4], "big"):
            b[end - 4:end] = struct.pack(">I", zlib.crc32(b[start + 4:end - 4]))


def _edge(value: int, n: int) -> int:
    return (_EDGES + (n, n + 1))[(value // 2) % (len(_EDGES) + 2)] if value % 2 else value % 2**32


def _put(b: bytearray, f: Field, value: int) -> None:
    if f.at + f.width <= len(b):
        b[f.at:f.at + f.width] = (value % (1 << 8 * f.width)).to_bytes(f.width, "big" if f.big_endian else "little")


def segments(data: bytes) -> list[tuple[int, int, Field]]:
    """(start, end, length field) of each chunk: PNG chunks, JPEG segments, RIFF chunks, ISO-BMFF boxes."""
    out: list[tuple[int, int, Field]] = []
    if data.startswith(PNG_SIGNATURE):
        pos = 8
        while pos + 8 <= len(data):
            end = pos + 12 + struct.unpack_from(">I", data, pos)[0]
            out.append((pos, min(end, len(data)), Field(pos, 4, True)))
            pos = end
    elif data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xD9:
            end = pos + 2 + struct.unpack_from(">H", data, pos + 2)[0]
            out.append((pos, min(end, len(data)), Field(pos + 2, 2, True)))
            pos = len(data) if data[pos + 1] == 0xDA else end  # entropy-coded data follows SOS
    elif data[:4] == b"RIFF":
        pos = 12
        while pos + 8 <= len(data):
            size = struct.unpack_from("<I", data, pos + 4)[0]
            out.append((pos, min(pos + 8 + size, len(data)), Field(pos + 4, 4, False)))
            pos += 8 + size + (size & 1)
    elif data[4:8] == b"ftyp":
        _boxes(data, 0, len(data), out)
    return out


def _boxes(data: bytes, pos: int, stop: int, out: list[tuple[int, int, Field]]) -> None:
    while pos + 8 <= stop:
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size < 8:
            return
        out.append((pos, min(pos + size, len(data)), Field(pos, 4, True)))
        if kind in (b"meta", b"iprp", b"ipco"):
            _boxes(data, pos + 8 + 4 * (kind == b"meta"), min(pos + size, stop), out)
        pos += size


def dimension_fields(data: bytes) -> list[Field]:
    """Where the header stores width and height (PNG, GIF, BMP, JPEG, WebP, TIFF, HEIF/AVIF)."""
    if data.startswith(PNG_SIGNATURE):
        return [Field(16, 4, True), Field(20, 4, True)]
    if data[:3] == b"GIF":
        return [Field(6, 2, False), Field(8, 2, False)]
    if data[:2] == b"BM":
        return [Field(18, 4, False), Field(22, 4, False)]
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_dimension_fields(data)
    if data[4:8] == b"ftyp":  # 'ispe' property: version/flags, then width and height
        return [Field(i + o, 4, True) for i in _find_all(data, b"ispe") for o in (8, 12)]
    fields = []
    for start, _, _ in segments(data):
        kind = data[start:start + 4] if data[:4] == b"RIFF" else data[start + 1:start + 2]
        if kind == b"VP8X":
            fields += [Field(start + 12, 3, False), Field(start + 15, 3, False)]
        elif kind == b"VP8 ":
            fields += [Field(start + 14, 2, False), Field(start + 16, 2, False)]
        elif len(kind) == 1 and kind[0] in (0xC0, 0xC1, 0xC2, 0xC3):
            fields += [Field(start + 5, 2, True), Field(start + 7, 2, True)]
    return fields


def _tiff_dimension_fields(data: bytes) -> list[Field]:
    big = data[:2] == b"MM"
    e = ">" if big else "<"
    ifd = struct.unpack_from(e + "I", data, 4)[0]
    if ifd + 2 > len(data):
        return []
    fields = []
    for i in range(min(struct.unpack_from(e + "H", data, ifd)[0], (len(data) - ifd - 2) // 12)):
        tag, kind = struct.unpack_from(e + "HH", data, ifd + 2 + 12 * i)
        if tag in (256, 257):
            fields.append(Field(ifd + 2 + 12 * i + 8, 2 if kind == 3 else 4, big))
    return fields


def _find_all(data: bytes, needle: bytes) -> list[int]:
    found, i = [], data.find(needle)
    while i >= 0:
        found.append(i)
        i = data.find(needle, i + 1)
    return found


def check_loaded(path: Path) -> str:
    """Load ``path``: 'ok' or 'ImageError'; any other exception propagates. A result must be sane."""
    try:
        img = load_image(path)
    except ImageError:
        return "ImageError"
    assert img.rgb.dim() == 4 and img.rgb.shape[:2] == (1, 3) and img.rgb.dtype == torch.float32
    assert bool(torch.isfinite(img.rgb).all()) and 0 <= img.rgb.min() and img.rgb.max() <= 1
    assert img.alpha is None or img.alpha.shape[-2:] == img.rgb.shape[-2:]
    return "ok"


# Memory ---------------------------------------------------------------------------------
def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """The peak resident memory since the last :func:`reset_peak_rss` (VmHWM)."""
    return _status_mb("VmHWM")


def rss_mb() -> float:
    return _status_mb("VmRSS")


def cap_address_space(extra_mb: int) -> None:
    """Load every sample once (so every decoder is imported), then cap this process's address
    space at ``extra_mb`` above what it maps now: an allocation beyond fails instead of swapping."""
    for sample in SAMPLES:
        check_loaded(sample)
    limit = int((_status_mb("VmSize") + extra_mb) * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))


# Tests ------------------------------------------------------------------------------------
MUTATIONS = st.lists(st.builds(Mutation, st.sampled_from(KINDS), st.integers(0, 2**16), st.integers(0, 64),
                               st.integers(0, 2**32 - 1)), min_size=1, max_size=3)
FUZZ = settings(max_examples=int(os.environ.get("PAINTERLY_FUZZ_EXAMPLES", 60)), deadline=timedelta(seconds=5),
                derandomize=True, database=None)


def test_every_format_present():
    names = {p.name for p in SAMPLES}
    for must in ("png16.png", "png16a.png", "palette.png", "gray.png", "jpeg.jpg", "progressive.jpg",
                 "webp.webp", "tiff8.tif", "tiff16.tif", "bmp.bmp", "gif.gif", "avif.avif", "heic.heic"):
        assert must in names, f"tests/data/formats/{must} is missing; run tests/data/make_images.py"


@pytest.mark.slow
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_mutated_file_loads_or_raises_image_error(sample, tmp_path_factory, capfd):
    original = sample.read_bytes()
    target = tmp_path_factory.mktemp("fuzz") / f"mutated{sample.suffix}"
    measured = reset_peak_rss()
    before = peak_rss_mb() if measured else 0.0

    @FUZZ
    @given(MUTATIONS)
    def check(mutations):
        target.write_bytes(mutate(original, mutations))
        check_loaded(target)

    check()
    assert capfd.readouterr() == ("", "")  # no decoder printed anything
    if measured:  # the peak over all examples: no mutated header may make a decoder allocate much
        assert peak_rss_mb() - before < 300
