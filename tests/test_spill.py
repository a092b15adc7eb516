"""Pictures kept in mapped files (painterly.spill): resized, mapped, written and read a band at a time, alike to the
same operations on a picture in memory, in memory bounded by a band; and a painting made that way."""

import os

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import EXAMPLES, sky_and_wall
from painterly import color, features, rowwriter, spill
from painterly.config import StyleConfig
from painterly.errors import ImageError
from painterly.images import load_image, resize, save_image, to_pil
from painterly.losses import style_target
from painterly.pipeline import Painter
from painterly.resample import Resampler
from painterly.scales import plan_scales, scale_schedule


@pytest.fixture
def small_spill(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pictures of more than 2**12 px spilled, in bands of 16 kB: a few rows each."""
    monkeypatch.setattr(spill, "SPILL_PIXELS", 2**12)
    monkeypatch.setattr(spill, "BAND_BYTES", 2**14)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.parametrize(("src", "dst"), [((30, 45), (170, 256)), ((200, 130), (9, 13)), ((150, 150), (149, 240)),
                                          ((61, 90), (121, 179))])
def test_a_band_wise_resize_is_torchs(src, dst):
    x = torch.rand(1, 3, *src, generator=torch.Generator().manual_seed(0))
    down = dst[0] * dst[1] < src[0] * src[1]
    whole = F.interpolate(x, size=dst, mode="bicubic", align_corners=False, antialias=down).clamp(0, 1)
    resampler = Resampler.of(src, dst, down)
    assert (resampler(x) - whole).abs().max() < 1e-6
    assert (resampler.region(x, 3, 7, 2, dst[1] - 1) - whole[..., 3:7, 2:-1]).abs().max() < 1e-6


def test_a_large_picture_lives_in_its_file_and_only_its_band_in_memory():
    """512 MB written and read back a band at a time: the process's memory grows by a band, not by the picture."""
    before = rss_mb()
    x = spill.empty((1, 4, 4096, 8192))
    assert spill.spilled(x) and spill.mapped(x) and not spill.mapped(torch.empty(4))
    parts, grew = spill.bands(x.shape[-2:], 4), 0.0
    for i, (top, bottom) in enumerate(parts):
        x[..., top:bottom, :] = i
        grew = max(grew, rss_mb() - before)
        spill.trim()
    for i, (top, bottom) in enumerate(parts):
        assert float(x[..., top:bottom, :].mean()) == i  # kept in the file
        spill.trim()
    assert grew < 3 * spill.BAND_BYTES / 2**20 and rss_mb() - before < 64


def test_band_wise_colours_are_the_whole_pictures(small_spill):
    x = torch.rand(1, 3, 70, 90, generator=torch.Generator().manual_seed(1))
    big = spill.empty(x.shape)
    big[:] = x
    assert spill.spilled(big)
    for got, want in zip(color.color_stats(big), color.color_stats(x)):
        assert torch.allclose(got, want, atol=1e-12)
    cmap = (torch.eye(3, dtype=torch.float64)[None] * 0.5, torch.full((1, 3), 0.1, dtype=torch.float64))
    mapped = color.apply_map(big, cmap, clamp=True)
    assert spill.mapped(mapped) and torch.equal(mapped, color.apply_map(x, cmap, clamp=True))
    assert (resize(big, (140, 180)) - F.interpolate(x, (140, 180), mode="bicubic").clamp(0, 1)).abs().max() < 1e-6


def test_a_kept_picture_round_trips_as_npy(tmp_path, small_spill):
    x = torch.rand(1, 3, 60, 80)
    with open(tmp_path / "x.npy", "wb") as f:
        spill.write_npy(f, x)
    assert np.array_equal(np.load(tmp_path / "x.npy"), x.numpy())  # NumPy's own reader agrees
    back = spill.read_npy(tmp_path / "x.npy")
    assert spill.mapped(back) and spill.equal(back, x) and not spill.equal(back, x + 1)
    (tmp_path / "short.npy").write_bytes((tmp_path / "x.npy").read_bytes()[:-4])
    with pytest.raises(ValueError, match="ends early"):
        spill.read_npy(tmp_path / "short.npy")


@pytest.mark.parametrize("bit_depth", [8, 16])
@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_a_large_picture_is_written_a_band_at_a_time_with_the_pixels_of_a_small_one(tmp_path, small_spill, bit_depth,
                                                                                      suffix, with_alpha):
    """PNG and TIFF, 8 and 16 bits, with and without alpha: the pixels that save_image writes for a picture in memory,
    the DPI, and (PNG) the text chunk; decoded by Pillow, and by OpenCV where Pillow reads no 16-bit colour."""
    x = torch.rand(1, 3, 61, 83, generator=torch.Generator().manual_seed(2))
    alpha = torch.rand(1, 1, 61, 83) if with_alpha else None
    big = spill.empty(x.shape)
    big[:] = x
    path = save_image(big, tmp_path / f"big{suffix}", alpha=alpha, bit_depth=bit_depth, dpi=300, metadata={"k": "é"})
    planes = torch.cat([x[0], alpha[0]]) if alpha is not None else x[0]
    if bit_depth == 16:
        want = (planes.permute(1, 2, 0).numpy() * 65535.0 + 0.5).astype(np.uint16)
        got = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        got = got[..., [2, 1, 0, 3][:got.shape[-1]]]
    else:
        want = np.array(to_pil(x, alpha))
        got = np.array(Image.open(path))
    assert np.array_equal(got, want)
    info = Image.open(path).info
    assert round(info["dpi"][0]) == 300
    if suffix == ".png":
        assert info["k"] == "é"


def test_a_tiff_over_4_gb_is_refused(tmp_path):
    """Classic TIFF's offsets end at 4 GB: a strip that would pass it is refused (here the file is made to start
    there: a sparse file), and save_image's temporary file goes with the error."""
    with open(tmp_path / "big.tif", "wb") as f:
        f.seek(2**32 - 2**16 - 100)
        with pytest.raises(ImageError, match="over 4 GB, more than a TIFF file holds; write a .png"):
            rowwriter.write_tiff(f, torch.rand(1, 3, 64, 64))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["nnst", "gatys"])
def test_two_gb_plans_any_size(method):
    """--max-memory 2 plans every --size up to the largest, in any shape, within the budget: the whole picture in
    mapped files, and gatys's targets at print size from a sample of the painting read in blocks (below)."""
    for size in (3840, 12000, 32768):
        for shape in ((864, 1296), (500, 2000)):
            cfg = StyleConfig(size=size, max_memory=2, method=method)
            hw = (round(shape[0] * size / max(shape)), round(shape[1] * size / max(shape)))
            scales = plan_scales(scale_schedule(hw, cfg), cfg, torch.device("cpu"), tileable=True, source_hw=shape)
            assert scales[-1].tile is not None
            assert all(s.memory is not None and s.memory.estimate_bytes <= 2 * 2**30 for s in scales)


@pytest.mark.slow
def test_a_painting_spilled_to_files_is_the_one_painted_in_memory(monkeypatch: pytest.MonkeyPatch):
    """The default method, 160 px in 96 px tiles, once in memory and once with every picture of more than 2**11 px
    (the last scale's start, blend, photo, painting and result) in mapped files: the same picture but for the band-wise
    resize's rounding (1e-7), which nnst's nearest neighbours can amplify in places (measured: mean 0.004)."""
    photo, style = load_image(sky_and_wall(128), what="content"), load_image(EXAMPLES / "starry_night.jpg", what="style")
    cfg = StyleConfig(size=160, iterations=3, seed=3, threads=1, tile_size=96)
    out = []
    for pixels in (spill.SPILL_PIXELS, 2**11):
        monkeypatch.setattr(spill, "SPILL_PIXELS", pixels)
        painter = Painter(cfg)
        result = painter.run(painter.prepare(photo, [style]))
        out.append((result.image.clone(), spill.mapped(result.image)))
    (whole, in_file_a), (spilled, in_file_b) = out
    assert not in_file_a and in_file_b
    assert (whole - spilled).abs().mean() < 0.01


def test_a_large_paintings_swd_targets_come_from_a_sample_read_in_blocks(monkeypatch: pytest.MonkeyPatch):
    """features.sampled_features, in blocks of 64 px seen with a 64 px margin: every position kept, each channel's
    activations are the whole image's at every style layer (relu1_1-relu4_1 exactly); about 2**13 positions a layer
    kept on one grid over the image, the swd targets (the sorted projections' quantiles) made from them are the whole
    image's within a few hundredths of their spread (measured: 0.021 at relu1_1, whose 49152 positions are sampled
    most thinly; 0 where all are kept)."""
    monkeypatch.setattr(features, "BLOCK", 64)
    monkeypatch.setattr(features, "BLOCK_MARGIN", 64)
    painter = Painter(StyleConfig(method="gatys", threads=1))
    image = resize(load_image(EXAMPLES / "starry_night.jpg").rgb, (192, 256))
    layers = painter.config.style_layers
    with torch.no_grad():
        whole = painter.extractor(image, layers)
    every = features.sampled_features(painter.extractor, image, layers, positions=2**30)
    sampled = features.sampled_features(painter.extractor, image, layers, positions=2**13)
    for k in layers:
        a, b = [f.flatten(2).sort(-1).values for f in (every[k], whole[k])]  # the blocks' order, not raster
        assert (a - b).abs().max() <= 1e-3 * a.abs().max(), k  # relu5_1, whose reach passes the margin: 2e-4
        a, b = style_target("swd", whole[k]), style_target("swd", sampled[k])
        assert sampled[k].shape[-1] <= every[k].shape[-1] and (a - b).abs().mean() / a.std() < 0.04, k
