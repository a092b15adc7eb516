"""Spatial control (Gatys et al. 2017, section 4): masks, guided Gram matrices, regions end to end."""

import pytest
import torch
from PIL import Image

from painterly.config import ConfigError
from painterly.controls import Controls, single_targets
from painterly.images import load_image, resize
from painterly.losses import StyleLoss, gram_matrix, style_loss
from painterly.masks import fit_mask, keep_content, keep_mask, load_mask, mask_pyramid, region_masks
from painterly.pipeline import Painter
from painterly.vgg import block as layer_block

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

@pytest.fixture
def tiny(tiny):
    """Masks are Gatys et al.'s controls (--method gatys)."""
    return tiny.replace(method="gatys")



def _half(h: int, w: int, left: bool = True) -> torch.Tensor:
    m = torch.zeros(1, 1, h, w)
    if left:
        m[..., : w // 2] = 1
    else:
        m[..., w // 2:] = 1
    return m


# Loading ------------------------------------------------------------------------------
def test_load_mask_from_images_and_tensors(tmp_path):
    arr = torch.zeros(20, 30)
    arr[:, :10] = 1.0
    gray = Image.fromarray((arr.numpy() * 255).astype("uint8"), "L")
    gray.save(tmp_path / "m.png")
    for source in (tmp_path / "m.png", str(tmp_path / "m.png"), gray, gray.convert("RGB"), arr, arr[None],
                   arr[None, None], arr.bool(), arr.expand(3, -1, -1)):
        m = load_mask(source)
        assert m.shape == (1, 1, 20, 30) and m.dtype == torch.float32
        assert torch.allclose(m, arr[None, None], atol=1e-3)


def test_transparent_pixels_are_outside_the_region(tmp_path):
    rgba = Image.new("RGBA", (8, 6), (255, 255, 255, 255))
    for x in range(4):
        for y in range(6):
            rgba.putpixel((x, y), (255, 255, 255, 0))
    m = load_mask(rgba)
    assert m[..., :4].max() == 0 and m[..., 4:].min() == 1


def test_soft_edges_are_kept():
    ramp = torch.linspace(0, 1, 16).expand(8, 16)
    assert torch.allclose(load_mask(ramp)[0, 0], ramp)


@pytest.mark.parametrize("bad, match", [
    (torch.rand(2, 1, 5, 5), r"shape \(H, W\)"),
    (torch.rand(5), r"shape \(H, W\)"),
    (torch.full((5, 5), 2.0), r"\[0, 1\]"),
    (torch.full((5, 5), float("nan")), r"\[0, 1\]"),
    (torch.ones(5, 5, dtype=torch.int64), "float or bool"),
])
def test_bad_mask_tensors_are_clear_errors(bad, match):
    with pytest.raises(ConfigError, match=match):
        load_mask(bad, what="--mask sky")


def test_missing_or_broken_mask_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.png: no such file"):
        load_mask(tmp_path / "nope.png", what=f"--mask {tmp_path / 'nope.png'}")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ConfigError, match="bad.png"):
        load_mask(tmp_path / "bad.png", what=f"--mask {tmp_path / 'bad.png'}")


# Fitting to the content ----------------------------------------------------------------
def test_fit_mask_resizes_any_size_with_the_same_proportions():
    m = _half(20, 30)
    small = fit_mask(m, (10, 15))
    assert small.shape == (1, 1, 10, 15) and abs(small.mean() - 0.5) < 1e-6  # area-averaged
    big = fit_mask(m, (40, 60))
    assert big.shape == (1, 1, 40, 60) and abs(big.mean() - 0.5) < 0.02
    fit_mask(m, (21, 30))  # a pixel of rounding is fine


def test_fit_mask_refuses_other_proportions_and_empty_masks():
    with pytest.raises(ConfigError, match=r"--mask sky.png: the mask is 30x30 px but the content is 60x40 px"):
        fit_mask(torch.ones(1, 1, 30, 30), (40, 60), what="--mask sky.png")
    with pytest.raises(ConfigError, match="empty"):
        fit_mask(torch.zeros(1, 1, 20, 30), (20, 30))


def test_none_means_the_rest_and_keep_is_what_no_mask_covers():
    left = _half(10, 20)
    regions = region_masks([left, None], (10, 20))
    assert torch.equal(regions[1], 1 - left)
    assert keep_mask(regions).max() == 0
    assert torch.equal(keep_mask([left]), 1 - left)
    with pytest.raises(ConfigError, match="every mask is 'none'"):
        region_masks([None, None], (10, 20))
    with pytest.raises(ConfigError, match="cover the whole image"):
        region_masks([torch.ones(1, 1, 10, 20), None], (10, 20), labels=["--mask all.png", "--mask none"])


def test_keep_content_blends_across_soft_edges():
    image, content = torch.zeros(1, 3, 4, 6), torch.ones(1, 3, 4, 6)
    keep = torch.linspace(0, 1, 6).view(1, 1, 1, 6).expand(1, 1, 4, 6)
    out = keep_content(image, content, keep)
    assert torch.allclose(out[0, 0, 0], keep[0, 0, 0])


# Propagation to the layers and guided Gram matrices -------------------------------------
def test_mask_pyramid_has_each_layers_shape(extractor):
    for hw in ((37, 53), (64, 48), (16, 17)):
        x = torch.rand(1, 3, *hw)
        feats = extractor(x, LAYERS)
        pyramid = mask_pyramid(torch.rand(1, 1, *hw), LAYERS)
        for k in LAYERS:
            assert pyramid[k].shape[-2:] == feats[k].shape[-2:], (hw, k)
    assert [layer_block(k) for k in ("conv1_2", "relu3_4", "relu5_1")] == [1, 3, 5]


def test_mask_pyramid_keeps_the_region_fraction():
    m = _half(32, 48)
    for k, mk in mask_pyramid(m, LAYERS).items():
        assert abs(mk.mean() - 0.5) < 1e-6, k


def test_guided_gram_of_a_binary_mask_is_the_gram_of_the_region():
    f = torch.randn(1, 5, 6, 8)
    m = _half(6, 8)
    assert torch.allclose(gram_matrix(f, m), gram_matrix(f[..., :4]), atol=1e-5)


def test_guided_gram_is_normalised_by_the_squared_mask():
    """A soft mask of constant value c weighs every position alike: the plain Gram matrix."""
    f = torch.randn(2, 4, 5, 7)
    for c in (0.2, 0.5, 1.0):
        assert torch.allclose(gram_matrix(f, torch.full((1, 1, 5, 7), c)), gram_matrix(f), atol=1e-5)
    with pytest.raises(ValueError, match="does not fit"):
        gram_matrix(f, torch.ones(1, 1, 4, 7))


def test_masked_style_loss_weighs_regions_by_area():
    f = {"x": torch.randn(1, 4, 6, 8)}
    t1, t2 = gram_matrix(torch.randn(1, 4, 6, 8)), gram_matrix(torch.randn(1, 4, 6, 8))
    plain = StyleLoss({"x": t1}, {"x": 2.0})(f)
    one = StyleLoss({}, {"x": 2.0}, masks={"x": [(torch.ones(1, 1, 6, 8), t1)]})(f)
    assert torch.allclose(plain, one)  # a single all-ones region is the unmasked loss
    m = _half(6, 8)
    two = StyleLoss({}, {"x": 1.0}, masks={"x": [(m, t1), (1 - m, t2, 3.0)]})(f)
    want = 0.5 * style_loss(gram_matrix(f["x"], m), t1) + 3.0 * 0.5 * style_loss(gram_matrix(f["x"], 1 - m), t2)
    assert torch.allclose(two, want)


# End to end (real VGG19, small images) ---------------------------------------------------
def _region_distance(extractor, image, mask, target):
    """Mean over layers of the relative distance between a region's guided Gram and a target."""
    feats = extractor(image, LAYERS)
    pyramid = mask_pyramid(mask, LAYERS)
    return sum(float((gram_matrix(feats[k], pyramid[k]) - target[k]).norm() / target[k].norm())
               for k in LAYERS) / len(LAYERS)


@pytest.mark.slow
def test_two_regions_each_take_their_own_style(tiny, content_path, style_path, style2_path):
    content, a, b = load_image(content_path), load_image(style_path), load_image(style2_path)
    cfg = tiny.replace(size=80, iterations=25)
    h, w = content.rgb.shape[-2:]
    result = Painter(cfg).paint(content, [a, b], masks=[_half(h, w), None])
    out = result.image
    hw = tuple(out.shape[-2:])
    ex = Painter(cfg).extractor
    ta, tb = (single_targets(ex, s.rgb, hw, cfg.replace(style_loss="gram"), 1.0) for s in (a, b))  # measured as Grams
    left = torch.nn.functional.interpolate(_half(h, w), size=hw, mode="area")
    before = resize(content.rgb, hw)
    d = {(r, s): _region_distance(ex, out, m, t) for r, m in (("left", left), ("right", 1 - left))
         for s, t in (("a", ta), ("b", tb))}
    assert d["left", "a"] < d["left", "b"]
    assert d["right", "b"] < d["right", "a"]
    # ... and each region moved a long way towards its own style from the content.
    assert d["left", "a"] < 0.5 * _region_distance(ex, before, left, ta)
    assert d["right", "b"] < 0.6 * _region_distance(ex, before, 1 - left, tb)


@pytest.mark.slow
def test_a_region_no_mask_covers_stays_the_content(tiny, content_path, style_path):
    content, a = load_image(content_path), load_image(style_path)
    h, w = content.rgb.shape[-2:]
    mask = torch.zeros(1, 1, h, w)
    mask[..., : w // 2] = 1
    mask[..., w // 2: w // 2 + 6] = torch.linspace(1, 0, 6)  # a soft edge
    out = Painter(tiny).paint(content, [a], masks=[mask]).image
    c = resize(content.rgb, out.shape[-2:])
    w2 = out.shape[-1]
    kept = (out - c)[..., int(w2 * 0.6):].abs().mean()
    styled = (out - c)[..., : int(w2 * 0.4)].abs().mean()
    assert kept < 1e-3 and styled > 0.05


def test_mask_errors_come_before_any_work(tiny, content_path, style_path, style2_path, tmp_path):
    content, a, b = load_image(content_path), load_image(style_path), load_image(style2_path)
    h, w = content.rgb.shape[-2:]
    steps: list = []
    tiny = tiny.replace(method="gatys")
    painter = Painter(tiny)
    cases = [
        ([_half(h, w)], "1 mask\\(s\\) for 2 style image\\(s\\)"),
        ([torch.ones(1, 1, 50, 50), None], "different width:height"),
        ([torch.zeros(1, 1, h, w), None], "empty"),
        ([tmp_path / "missing.png", None], "missing.png: no such file"),
    ]
    for masks, match in cases:
        with pytest.raises(ConfigError, match=match):
            painter.paint(content, [a, b], masks=masks, callback=steps.append)
    with pytest.raises(ConfigError, match="cannot be combined"):
        painter.paint(content, [a], masks=[_half(h, w)], fine_style=b, callback=steps.append)
    assert steps == []  # nothing was optimised
    Controls.prepare(content.rgb, [a.rgb, b.rgb], tiny, masks=[_half(h, w), "none"], out_hw=(44, 64))  # the good case passes
