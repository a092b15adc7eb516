"""Colour control (Gatys et al. 2017, section 5): colour spaces, matching, and the three modes end to end."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from painterly import color
from painterly.config import ColorMatch, ConfigError, PreserveColors, StyleConfig
from painterly.controls import Controls
from painterly.images import load_image, resize
from painterly.pipeline import Painter

METHODS = [m.value for m in ColorMatch]


def _rand(seed: int, shape=(1, 3, 12, 17)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


# Colour spaces ------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), b=st.integers(1, 3))
def test_yiq_round_trip_returns_input(seed, b):
    x = _rand(seed, (b, 3, 7, 9))
    assert torch.allclose(color.yiq_to_rgb(color.rgb_to_yiq(x)), x, atol=1e-6)
    assert torch.allclose(color.combine(color.luminance(x), color.chroma(x)), x, atol=1e-6)


def test_gray_has_no_chroma_and_its_own_luminance():
    v = torch.linspace(0, 1, 11).view(1, 1, 1, 11).expand(1, 3, 2, 11)
    assert color.chroma(v).abs().max() < 1e-7
    assert torch.allclose(color.luminance(v)[:, 0], v[:, 0], atol=1e-7)
    assert torch.allclose(color.gray3(color.luminance(v)), v, atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_combine_keeps_chroma_exactly_for_any_luminance(seed):
    content = _rand(seed)
    y = _rand(seed + 1, (1, 1, 12, 17)) * 2 - 0.5  # far outside [0, 1] in places
    out = color.combine(y, color.chroma(content))
    assert out.min() >= 0 and out.max() <= 1
    assert (color.chroma(out) - color.chroma(content)).abs().max() < 1e-5
    # ... and the luminance is the asked one wherever the content's chroma allows it.
    inside = (y > 0.2) & (y < 0.8) & (color.chroma(content).abs().amax(1, keepdim=True) < 0.05)
    assert torch.allclose(color.luminance(out)[inside], y[inside], atol=1e-5)


def test_luma_swap_takes_luminance_from_result_and_chroma_from_content():
    result, content = _rand(1) * 0.5 + 0.25, _rand(2) * 0.5 + 0.25
    out = color.luma_swap(result, content)
    assert (color.chroma(out) - color.chroma(content)).abs().max() < 1e-5
    assert (color.luminance(out) - color.luminance(result)).abs().max() < 0.25  # clipped only at the gamut edge
    with pytest.raises(ValueError, match="differ in shape"):
        color.luma_swap(result, content[..., :5])


# Matching -----------------------------------------------------------------------------
def test_match_luminance_gives_the_content_mean_and_std():
    style, content = _rand(3, (1, 1, 30, 20)) ** 3, _rand(4, (1, 1, 10, 40)) * 0.3 + 0.4
    out = color.match_luminance(style, content, clamp=False)
    assert abs(out.mean() - content.mean()) < 1e-5
    assert abs(out.std(unbiased=False) - content.std(unbiased=False)) < 1e-5
    assert color.match_luminance(style, content).min() >= 0


@pytest.mark.parametrize("method", METHODS)
def test_match_color_gives_the_content_mean_and_covariance(method):
    gen = torch.Generator().manual_seed(5)
    style = torch.rand(1, 3, 40, 30, generator=gen) ** 2
    mix = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])  # correlated channels
    content = torch.einsum("ij,bjhw->bihw", mix, torch.rand(1, 3, 25, 35, generator=gen))
    out = color.match_color(style, content, method, clamp=False)
    mu_o, cov_o = color.color_stats(out)
    mu_c, cov_c = color.color_stats(content)
    assert torch.allclose(mu_o, mu_c, atol=1e-6)
    assert torch.allclose(cov_o, cov_c, atol=2e-5)  # eps = 1e-5 on the diagonals
    a, _ = color.color_transform(style, content, method)
    _, cov_s = color.color_stats(style)
    assert torch.allclose(a @ cov_s @ a.transpose(1, 2), cov_c, atol=2e-5)


@pytest.mark.parametrize("method", METHODS)
def test_match_color_to_itself_is_identity(method):
    x = _rand(6)
    assert torch.allclose(color.match_color(x, x, method), x, atol=1e-4)


def test_the_three_variants_are_different_maps():
    style, content = _rand(7) ** 2, _rand(8) * 0.5
    maps = {m: color.color_transform(style, content, m)[0] for m in METHODS}
    assert not torch.allclose(maps["chol"], maps["sym"], atol=1e-3)
    assert not torch.allclose(maps["chol"], maps["pca"], atol=1e-3)


def test_match_color_on_real_images_gives_the_content_colours(style_path, content_path):
    style, content = load_image(style_path).rgb, load_image(content_path).rgb
    mu_c, cov_c = color.color_stats(content)
    for method in METHODS:
        mu_o, cov_o = color.color_stats(color.match_color(style, content, method, clamp=False))
        assert (mu_o - mu_c).abs().max() < 1e-6
        assert (cov_o - cov_c).norm() / cov_c.norm() < 1e-3


def test_a_gray_style_does_not_break_matching():
    gray = color.gray3(_rand(9, (1, 1, 10, 10)))
    for method in METHODS:
        out = color.match_color(gray, _rand(10), method)
        assert torch.isfinite(out).all()


def test_bad_method_and_shapes_are_clear_errors():
    with pytest.raises(ConfigError, match="--color-match"):
        color.match_color(_rand(1), _rand(2), "lab")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        color.rgb_to_yiq(torch.rand(1, 4, 3, 3))
    with pytest.raises(ConfigError, match="--preserve-colors"):
        StyleConfig(preserve_colors="sepia")


# The modes end to end (real VGG19, small images) ----------------------------------------
def _paint(tiny, content_path, style_path, mode):
    content, style = load_image(content_path), load_image(style_path)
    result = Painter(tiny.replace(preserve_colors=mode)).paint(content, [style])
    return result.image, resize(content.rgb, result.image.shape[-2:])


@pytest.mark.slow
def test_luminance_mode_keeps_the_content_chroma_and_transfers_luminance(tiny, content_path, style_path):
    out, content = _paint(tiny, content_path, style_path, "luminance")
    assert (color.chroma(out) - color.chroma(content)).abs().max() < 1e-5
    # The luminance did change (style transferred), and plain transfer does change chroma.
    assert (color.luminance(out) - color.luminance(content)).abs().mean() > 0.02
    plain, _ = _paint(tiny, content_path, style_path, "none")
    assert (color.chroma(plain) - color.chroma(content)).abs().mean() > 0.02


def test_luminance_mode_optimises_gray_images_with_matched_luminance(tiny, content_path, style_path):
    content, style = load_image(content_path).rgb, load_image(style_path).rgb
    plan = Controls.prepare(content, [style], tiny.replace(preserve_colors="luminance"), out_hw=(44, 64))
    seen = plan.sources[0].at((44, 64), 1.0, plan.original)  # the style exactly as the network sees it
    assert color.chroma(plan.content).abs().max() < 1e-6
    assert color.chroma(seen).abs().max() < 1e-6 and color.chroma(plan.styles[0]).abs().max() < 1e-6
    cy, sy = color.luminance(plan.content), color.luminance(seen)
    assert abs(sy.mean() - cy.mean()) < 1e-5
    assert abs(sy.std() - cy.std()) < 1e-5


def test_match_mode_style_statistics_are_the_content_colours(tiny, content_path, style_path):
    content, style = load_image(content_path).rgb, load_image(style_path).rgb
    for method in METHODS:
        plan = Controls.prepare(content, [style], tiny.replace(preserve_colors="match", color_match=method), out_hw=(44, 64))
        mu_c, cov_c = color.color_stats(plan.original)
        mu_o, cov_o = color.color_stats(plan.sources[0].at((44, 64), 1.0, plan.original))  # as the network sees it
        assert (mu_o - mu_c).abs().max() < 1e-5
        assert (cov_o - cov_c).norm() / cov_c.norm() < 1e-3
        assert torch.equal(plan.content, plan.original)  # the content is optimised in colour


@pytest.mark.slow
def test_match_mode_targets_depend_on_the_content(tiny, extractor, content_path, style_path):
    """Recoloured targets are built by the controls, never by the style-keyed cache hook."""
    content, style = load_image(content_path).rgb, load_image(style_path).rgb
    plain = Controls.prepare(content, [style], tiny, out_hw=(44, 64))
    assert plain.style_loss(extractor, (44, 64)) is None
    one = Controls.prepare(content, [style], tiny.replace(preserve_colors="match"), out_hw=(44, 64))
    other = Controls.prepare(1 - content, [style], tiny.replace(preserve_colors="match"), out_hw=(44, 64))
    g1 = one.style_loss(extractor, (44, 64)).targets["relu1_1"]
    g2 = other.style_loss(extractor, (44, 64)).targets["relu1_1"]
    assert (g1 - g2).norm() > 0.05 * g1.norm()


@pytest.mark.slow
def test_luma_swap_mode_keeps_the_content_chroma(tiny, content_path, style_path):
    out, content = _paint(tiny, content_path, style_path, PreserveColors.LUMA_SWAP)
    assert (color.chroma(out) - color.chroma(content)).abs().max() < 1e-5


def test_palette_start_takes_the_styles_colours_and_keeps_the_layout():
    from painterly.color import color_stats
    from painterly.plan import palette_start
    from painterly.quality import layout_similarity

    g = torch.Generator().manual_seed(3)
    content = 0.25 + 0.5 * torch.rand(1, 3, 30, 40, generator=g)
    warm = torch.stack([0.6 + 0.1 * torch.rand(20, 20, generator=g), 0.3 + 0.1 * torch.rand(20, 20, generator=g),
                        0.1 * torch.rand(20, 20, generator=g)])[None]
    start = palette_start(content, [warm], [1.0])
    (mu_s, cov_s), (mu_o, cov_o) = color_stats(warm), color_stats(start)
    assert torch.allclose(mu_o, mu_s, atol=1e-3) and torch.allclose(cov_o, cov_s, atol=1e-4)
    assert layout_similarity(start, content) > 0.5
    # Two styles: the blend's statistics (pooled, weighted), not one style's.
    cool = warm[:, [1, 0, 2]]
    both = palette_start(content, [warm, cool], [0.5, 0.5])
    assert torch.allclose(color_stats(both)[0], 0.5 * (mu_s + color_stats(cool)[0]), atol=1e-3)
    assert torch.equal(palette_start(content, [], []), content)
