import io
import os

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

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
    from pathlib import Path

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
