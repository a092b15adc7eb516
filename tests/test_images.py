import io
import json
import logging
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from painterly import images
from painterly.images import ImageError, check_output_path, load_image, save_image


def _rgb(w=20, h=12):
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (255, 0, 0)
    arr[:, w // 2:] = (0, 0, 255)
    return Image.fromarray(arr)


def test_exif_rotation_applied(tmp_path):
    im = _rgb(20, 12)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = tmp_path / "phone.jpg"
    im.save(p, exif=exif.tobytes(), quality=98)
    x = load_image(p).rgb
    assert x.shape == (1, 3, 20, 12)  # portrait after rotation


def test_alpha_kept(tmp_path):
    im = _rgb().convert("RGBA")
    a = Image.new("L", im.size, 0)
    a.paste(255, (0, 0, 10, 12))
    im.putalpha(a)
    p = tmp_path / "a.png"
    im.save(p)
    loaded = load_image(p)
    assert loaded.alpha is not None and loaded.alpha.shape == (1, 1, 12, 20)
    out = tmp_path / "o.png"
    save_image(loaded.rgb, out, alpha=loaded.alpha)
    back = Image.open(out)
    assert back.mode == "RGBA" and back.getchannel("A").getpixel((15, 5)) == 0


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA", "I;16"])
def test_modes_become_rgb(tmp_path, mode):
    im = _rgb().convert("RGB")
    if mode == "I;16":
        im = Image.fromarray(np.asarray(im.convert("L"), np.uint16) * 257)
    else:
        im = im.convert(mode)
    p = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    im.save(p)
    x = load_image(p).rgb
    assert x.shape == (1, 3, 12, 20) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1


def test_16bit_png_keeps_precision(tmp_path):
    arr = np.zeros((8, 8, 3), np.uint16)
    arr[..., 2] = 1000  # red channel in BGR order: a value 8 bits cannot hold exactly
    p = tmp_path / "deep.png"
    cv2.imwrite(str(p), arr)
    loaded = load_image(p)
    assert loaded.bit_depth == 16
    assert abs(loaded.rgb[0, 0, 0, 0].item() - 1000 / 65535) < 1e-6


def test_16bit_tiff_write_and_read(tmp_path):
    x = torch.linspace(0, 1, 3 * 16 * 16).reshape(1, 3, 16, 16)
    p = tmp_path / "out.tif"
    save_image(x, p, bit_depth=16)
    back = load_image(p)
    assert back.bit_depth == 16
    assert (back.rgb - x).abs().max() < 2 / 65535


def test_icc_profile_converted_to_srgb(tmp_path):
    icc = (Path(__file__).parent / "data" / "compatibleWithAdobeRGB1998.icc").read_bytes()
    im = Image.new("RGB", (4, 4), (200, 60, 60))
    p = tmp_path / "adobe.png"
    im.save(p, icc_profile=icc)
    red = load_image(p).rgb[0, :, 0, 0] * 255
    # Adobe RGB's red is more saturated than sRGB's: the same numbers mean a stronger red in sRGB.
    assert red[0] > 220 and red[1] < 60 and red[2] < 60


def test_output_formats_by_extension(tmp_path):
    x = torch.rand(1, 3, 16, 16)
    for ext, fmt in ((".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP"), (".tiff", "TIFF")):
        p = save_image(x, tmp_path / f"o{ext}", metadata={"k": "v"})
        assert Image.open(p).format == fmt
    assert Image.open(tmp_path / "o.png").text["k"] == "v"


def test_errors_name_the_file(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg", what="content")
    bad = tmp_path / "notes.jpg"
    bad.write_text("hello")
    with pytest.raises(ImageError, match="notes.jpg: not an image"):
        load_image(bad)
    buf = io.BytesIO()
    _rgb(200, 200).save(buf, "PNG")
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="trunc.png: damaged or truncated"):
        load_image(trunc)
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


def test_decompression_bomb_refused(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    _rgb(100, 100).save(p)
    monkeypatch.setattr(images, "MAX_PIXELS", 5000)
    with pytest.raises(ImageError, match="too large to decode safely"):
        load_image(p)


def test_output_path_checks(tmp_path):
    with pytest.raises(ImageError, match="unknown image type"):
        check_output_path(tmp_path / "x.gifx")
    with pytest.raises(ImageError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "x.png")
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores permissions; the check itself cannot fire
            return
        with pytest.raises(ImageError, match="not writable"):
            check_output_path(ro / "x.png")
    finally:
        os.chmod(ro, 0o700)


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("encoder died")

    monkeypatch.setattr(images, "_encode_8bit", boom)
    with pytest.raises(RuntimeError):
        save_image(torch.rand(1, 3, 8, 8), tmp_path / "o.png")
    assert list(tmp_path.iterdir()) == []


# Sizes are read from the header and refused before decoding; PNG structure is checked -----
from test_images_fuzz import FORMATS_DIR, PNG_SIGNATURE, png_chunk, png_insert  # noqa: E402

TESTS = Path(__file__).parent


def _png16(arr: np.ndarray, *, interlace: bool = False, chunks: bytes = b"") -> bytes:
    """A 16-bit RGB(A) PNG of ``arr`` (H, W, 3|4) uint16, written here (unfiltered rows) so it
    may be Adam7-interlaced, which OpenCV cannot write; ``chunks`` go right after IHDR."""
    h, w, c = arr.shape
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    raw = b""
    for x0, y0, dx, dy in passes if interlace else ((0, 0, 1, 1),):
        sub = arr[y0::dy, x0::dx].astype(">u2")
        raw += b"".join(b"\0" + row.tobytes() for row in sub) if sub.size else b""
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 6 if c == 4 else 2, 0, 0, int(interlace))
    return (PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + chunks + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


def _zeros_png16(width: int, height: int) -> bytes:
    """A valid, all-black 16-bit RGB PNG of any size in about 1/1000 of its pixel bytes, built in
    milliseconds: one zlib segment of 100 rows, ended by a full flush (so it refers to nothing
    before it), repeated; the Adler-32 of n zero bytes is (n mod 65521) << 16 | 1."""
    rows = b"\0" * (1 + width * 6) * 100
    z = zlib.compressobj(9)
    first = z.compress(rows) + z.flush(zlib.Z_FULL_FLUSH)
    again = z.compress(rows) + z.flush(zlib.Z_FULL_FLUSH)
    assert height % 100 == 0 and first[2:] == again  # the zlib header, then identical segments
    n = len(rows) * (height // 100)
    stream = first + again * (height // 100 - 1) + b"\x03\x00" + struct.pack(">I", (n % 65521) << 16 | 1)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")


_LOAD_IN_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from test_images_fuzz import cap_address_space, peak_rss_mb, reset_peak_rss, rss_mb
from painterly.images import ImageError, load_image
cap_address_space(1024)  # a regression fails with MemoryError instead of swapping the machine
out = []
for path in sys.argv[2:]:
    reset_peak_rss()
    before = rss_mb()
    try:
        load_image(path)
        error = None
    except ImageError as e:
        error = str(e)
    out.append({"error": error, "added_mb": peak_rss_mb() - before})
print(json.dumps(out))
"""


def _load_in_child(*paths: Path) -> list[dict]:
    """Load ``paths`` in a fresh, memory-capped interpreter; each one's error and peak memory added."""
    proc = subprocess.run([sys.executable, "-c", _LOAD_IN_CHILD, str(TESTS), *map(str, paths)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == ""  # OpenCV would log "can't read header" for the forged chunk
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_hostile_16bit_pngs_refused_with_little_memory(tmp_path):
    huge = tmp_path / "huge16.png"  # 14000x14000 (196 megapixels, 1.2 GB of samples) in about 1 MB
    huge.write_bytes(_zeros_png16(14_000, 14_000))
    assert huge.stat().st_size < 2_000_000
    good = _png16(np.full((40, 50, 3), 1000, np.uint16))  # its IDAT is over 1 KB: a length of 2 GB is past the end
    idat = good.index(b"IDAT") - 4
    forged = tmp_path / "forged.png"
    forged.write_bytes(good[:idat] + struct.pack(">I", 0x7FFFFFF0) + good[idat + 4:])
    text = tmp_path / "forged_text.png"  # a forged ancillary chunk before the pixels
    text.write_bytes(png_insert(good, png_chunk(b"tEXt", b"a\0b", length=0x7FFFFFF0)))
    big8 = tmp_path / "huge8.png"  # the 8-bit path checks the same limit
    big8.write_bytes(PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 14_000, 14_000, 8, 2, 0, 0, 0))
                     + png_chunk(b"IEND", b""))
    results = _load_in_child(huge, forged, text, big8)
    assert "huge16.png: too large to decode safely (" in results[0]["error"]
    assert "forged.png: damaged" in results[1]["error"] and "past the end of the file" in results[1]["error"]
    assert "forged_text.png: damaged" in results[2]["error"]
    assert "huge8.png: too large" in results[3]["error"]
    for r in results:
        assert r["added_mb"] < 100, r


def test_16bit_png_with_damaged_pixels_is_refused_quietly(tmp_path, capfd):
    arr = np.full((8, 8, 3), 1000, np.uint16)
    raw = b"".join(b"\x07" + row.astype(">u2").tobytes() for row in arr)  # filter type 7 does not exist
    ihdr = struct.pack(">IIBBBBB", 8, 8, 16, 2, 0, 0, 0)
    bad = tmp_path / "filter.png"
    bad.write_bytes(PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw))
                    + png_chunk(b"IEND", b""))
    with pytest.raises(ImageError, match="filter.png: damaged .*unknown filter type"):
        load_image(bad)
    extra = tmp_path / "extra.png"  # more rows than the header says
    extra.write_bytes(_png16(np.full((9, 8, 3), 7, np.uint16)).replace(
        png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 9, 16, 2, 0, 0, 0)), png_chunk(b"IHDR", ihdr)))
    with pytest.raises(ImageError, match="extra.png: damaged .*more rows"):
        load_image(extra)
    assert capfd.readouterr() == ("", "")  # libpng would print "bad adaptive filter value"


@pytest.mark.parametrize("channels", [3, 4])
def test_interlaced_16bit_png_read_exactly(tmp_path, channels):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 65536, (13, 11, channels), dtype=np.uint16)  # sizes that leave Adam7 passes ragged
    p = tmp_path / "adam7.png"
    p.write_bytes(_png16(arr, interlace=True))
    loaded = load_image(p)
    assert loaded.bit_depth == 16
    assert torch.equal((loaded.rgb[0] * 65535).round().permute(1, 2, 0).to(torch.int64),
                       torch.from_numpy(arr[..., :3].astype(np.int64)))
    if channels == 4:
        assert loaded.alpha is not None
        assert torch.equal((loaded.alpha[0, 0] * 65535).round().to(torch.int64), torch.from_numpy(arr[..., 3].astype(np.int64)))


@pytest.mark.parametrize("name", ["png8.png", "png16.png", "tiff16.tif", "jpeg.jpg", "heic.heic", "avif.avif"])
def test_size_limit_applies_to_every_path(monkeypatch, name):
    monkeypatch.setattr(images, "MAX_PIXELS", 32 * 24 - 1)
    with pytest.raises(ImageError, match=f"{name}: too large to decode safely \\(32x24 pixels, over the 0.000767-"):
        load_image(FORMATS_DIR / name)


# Orientation and colour profiles ------------------------------------------------------------
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path, orientation):
    im = Image.open(FORMATS_DIR / "png8.png").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "o.png"
    im.save(p, exif=exif.tobytes())
    want = np.asarray(ImageOps.exif_transpose(Image.open(p)).convert("RGB"))
    got = (load_image(p).rgb[0] * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(got, want)


def test_16bit_png_exif_orientation_applied(tmp_path):
    arr = np.random.default_rng(1).integers(0, 65536, (6, 10, 3), dtype=np.uint16)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = tmp_path / "turned16.png"
    p.write_bytes(_png16(arr, chunks=png_chunk(b"eXIf", exif.tobytes())))
    got = load_image(p).rgb[0].permute(1, 2, 0).numpy()
    assert np.allclose(got, np.rot90(arr, -1) / 65535, atol=1e-6)


def _mean_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().mean().item()


@pytest.mark.parametrize("name", ["orient6.heic", "orient6.avif"])
def test_phone_formats_shown_upright(name):
    upright = load_image(FORMATS_DIR / "png8.png").rgb  # the picture before it was turned and tagged
    got = load_image(FORMATS_DIR / name).rgb
    assert got.shape == upright.shape
    error = _mean_diff(got, upright)
    assert error < 0.03
    assert _mean_diff(got, upright.flip(-1, -2)) > 3 * error  # turned the right way, not the opposite one


@pytest.mark.parametrize("name", ["adobergb.heic", "adobergb.avif"])
def test_phone_formats_colour_profile_applied(tmp_path, name):
    icc = (TESTS / "data" / "compatibleWithAdobeRGB1998.icc").read_bytes()
    source = FORMATS_DIR / "png8.png"
    ref = tmp_path / "adobergb.png"  # the same pixels and profile, through the PNG path
    Image.open(source).save(ref, icc_profile=icc)
    shift = load_image(ref).rgb - load_image(source).rgb  # what converting Adobe RGB to sRGB does
    untagged = load_image(FORMATS_DIR / name.replace("adobergb", Path(name).suffix[1:])).rgb  # same pixels, no profile
    got = load_image(FORMATS_DIR / name).rgb - untagged
    assert shift.abs().mean() > 0.005
    assert _mean_diff(got, shift) < 0.4 * shift.abs().mean().item()  # without the profile: 1.0 * shift


def test_every_format_reads_the_same_picture():
    ref = load_image(FORMATS_DIR / "png8.png").rgb
    luma = (ref * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True).expand_as(ref)
    lossy = {".jpg", ".webp", ".avif", ".heic", ".gif"}
    for name in ("png16.png", "png16a.png", "palette.png", "gray.png", "gray16.png", "jpeg.jpg", "progressive.jpg",
                 "webp.webp", "webp_alpha.webp", "tiff8.tif", "tiff16.tif", "bmp.bmp", "gif.gif", "avif.avif", "heic.heic"):
        p = FORMATS_DIR / name
        got = load_image(p)
        want = luma if name.startswith("gray") else ref
        limit = 0.06 if name == "palette.png" else 0.03 if p.suffix in lossy else 1 / 255
        assert _mean_diff(got.rgb, want) < limit, name
        assert (got.alpha is not None) == (name in ("png16a.png", "palette.png", "webp_alpha.webp")), name


@pytest.mark.slow
def test_heic_without_pillow_heif_says_what_to_install():
    script = ("import sys; sys.modules['pillow_heif'] = None\n"  # as if it were not installed
              "from painterly.images import ImageError, load_image\n"
              "try:\n    load_image(sys.argv[1])\nexcept ImageError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(FORMATS_DIR / "heic.heic")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.count("\n") == 1
    assert "heic.heic: a HEIC/HEIF image, which needs pillow-heif; pip install 'painterly[heif]'" in proc.stdout


# Damaged files: one ImageError, nothing on the terminal ----------------------------------
def test_damaged_avif_is_an_image_error(tmp_path):
    data = (FORMATS_DIR / "avif.avif").read_bytes()
    start = data.index(b"mdat") + 4
    bad = tmp_path / "bad.avif"
    bad.write_bytes(data[:start] + b"\xff" * (len(data) - start))  # the AV1 payload overwritten
    with pytest.raises(ImageError, match="bad.avif: damaged"):  # Pillow's AVIF plugin raises RuntimeError
        load_image(bad)


def test_corrupt_exif_warning_goes_to_the_log(tmp_path, capfd, caplog):
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "a camera maker's name long enough to be stored after the tags"
    p = tmp_path / "corrupt_exif.jpg"
    Image.open(FORMATS_DIR / "png8.png").save(p, quality=95, exif=exif.tobytes()[:-40])  # the name cut off
    with caplog.at_level(logging.DEBUG, logger="painterly.images"):
        x = load_image(p).rgb
    assert x.shape == (1, 3, 32, 24)  # the orientation, which survived, is still applied
    assert "Tag data larger than file" in caplog.text
    assert capfd.readouterr() == ("", "")


def test_libtiff_complaints_stay_off_the_terminal(tmp_path, capfd):
    buf = io.BytesIO()
    Image.open(FORMATS_DIR / "png8.png").save(buf, "TIFF", compression="tiff_lzw")
    data = bytearray(buf.getvalue())
    data[100:140] = b"\xff" * 40  # inside the LZW strip, which Pillow hands to libtiff
    p = tmp_path / "bad_lzw.tif"
    p.write_bytes(data)
    with pytest.raises(ImageError, match="bad_lzw.tif: damaged"):
        load_image(p)
    assert capfd.readouterr() == ("", "")  # libtiff would print "Using code not yet in table"


def test_pillow_log_records_go_to_the_debug_log(tmp_path, caplog):
    data = bytearray((FORMATS_DIR / "tiff8.tif").read_bytes())
    ifd = int.from_bytes(data[4:8], "little")
    for i in range(int.from_bytes(data[ifd:ifd + 2], "little")):
        entry = ifd + 2 + 12 * i
        if int.from_bytes(data[entry:entry + 2], "little") == 277:  # SamplesPerPixel
            data[entry + 8:entry + 10] = (65535).to_bytes(2, "little")
    p = tmp_path / "samples.tif"
    p.write_bytes(data)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ImageError, match="samples.tif: damaged"):
            load_image(p)
    # Pillow logs this at ERROR, which reaches the terminal through any root handler (the CLI's).
    assert not [r for r in caplog.records if r.name.startswith("PIL") and r.levelno >= logging.WARNING]
    assert any(r.name == "painterly.images" and "More samples per pixel" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_resized_alpha_keeps_its_range_in_16_bits(tmp_path, suffix):
    """An alpha with a hard edge, enlarged to the picture (bicubic overshoots past 1), is clamped, not wrapped."""
    alpha = torch.zeros(1, 1, 4, 4)
    alpha[..., 2:, :] = 1.0
    out = save_image(torch.full((1, 3, 32, 32), 0.5), tmp_path / f"a{suffix}", alpha=alpha, bit_depth=16)
    kept = load_image(out).alpha
    assert kept is not None and float(kept[..., 24:, :].min()) == 1.0 and float(kept[..., :8, :].max()) == 0.0
