"""End-to-end runs with the real VGG19 on small images."""

import pytest
import torch

from painterly import Interrupted, Painter, StyleConfig, stylize
from painterly.features import VGG19Features
from painterly.images import load_image, resize
from painterly.losses import gram_matrix
from painterly.pipeline import scale_schedule

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def _gram_error(ex, x, style):
    fx = ex(x, STYLE_LAYERS)
    fs = ex(resize(style, x.shape[-2:]), STYLE_LAYERS)
    return sum(float((gram_matrix(fx[k]) - gram_matrix(fs[k])).norm() / gram_matrix(fs[k]).norm())
               for k in STYLE_LAYERS) / len(STYLE_LAYERS)


def test_result_moves_towards_style_and_keeps_content(weights, content_path, style_path):
    content, style = load_image(content_path), load_image(style_path)
    losses = []
    cfg = StyleConfig(size=96, iterations=40, multiscale=False, seed=3)
    result = Painter(cfg).paint(content, [style], callback=lambda s: losses.append(s.loss))
    assert losses[-1] < 0.5 * losses[0]  # the loss falls
    ex = VGG19Features(weights, ["relu5_1"])
    c = resize(content.rgb, result.image.shape[-2:])
    with torch.no_grad():
        # Style statistics: the result is closer to the style than the content is.
        assert _gram_error(ex, result.image, style.rgb) < 0.7 * _gram_error(ex, c, style.rgb)
        # Content features: the result is closer to the content than the style is.
        def f(x):
            return ex(x, ["relu4_2"])["relu4_2"]

        s = resize(style.rgb, c.shape[-2:])
        assert (f(result.image) - f(c)).norm() < (f(s) - f(c)).norm()
    assert result.image.shape == (1, 3, 66, 96) and 0 <= result.image.min() and result.image.max() <= 1


def test_seed_makes_runs_repeatable(content_path, style_path):
    kw = dict(size=48, iterations=5, multiscale=False, init="random", seed=7)
    a, b = stylize(content_path, style_path, **kw), stylize(content_path, style_path, **kw)
    assert a.tobytes() == b.tobytes()


def test_several_styles_and_adam(tiny, content_path, style_path, style2_path):
    cfg = tiny.replace(optimizer="adam", iterations=8, style_blend_weights=(0.7, 0.3))
    img = stylize(content_path, [style_path, style2_path], cfg)
    assert img.size == (64, 44)


def test_callback_reports_every_step_with_images(tiny, content_path, style_path):
    steps = []
    stylize(content_path, style_path, tiny.replace(iterations=6), callback=steps.append, image_every=3)
    assert [s.iteration for s in steps] == [1, 2, 3, 4, 5, 6]
    assert [s.image is not None for s in steps] == [False, False, True, False, False, True]
    assert {"content", "style", "tv", "style:relu1_1"} <= set(steps[0].terms)
    assert steps[-1].done == steps[-1].total == 6


def test_interrupt_returns_best_image(tiny, content_path, style_path):
    def cb(step):
        if step.iteration == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        stylize(content_path, style_path, tiny, callback=cb)
    assert info.value.image.shape == (1, 3, 44, 64)


def test_early_stop_when_converged(content_path, style_path):
    steps = []
    cfg = StyleConfig(size=48, iterations=300, multiscale=False, seed=1, tolerance=0.05, patience=5)
    stylize(content_path, style_path, cfg, callback=steps.append)
    assert len(steps) < 300


def test_scale_schedule_is_coarse_to_fine():
    sched = scale_schedule((600, 868), StyleConfig(size=868))
    sizes = [max(hw) for hw, _ in sched]
    assert sizes == sorted(sizes) and sizes[-1] == 868 and sizes[0] >= 256
    assert [hw for hw, _ in scale_schedule((300, 400), StyleConfig(multiscale=False))] == [(300, 400)]


def test_multiscale_run_ends_at_full_size(content_path, style_path):
    steps = []
    cfg = StyleConfig(size=64, iterations=3, min_scale_size=32, seed=1)
    img = stylize(content_path, style_path, cfg, callback=steps.append)
    assert img.size == (64, 44)
    assert sorted({s.scale for s in steps}) == [0, 1, 2]


def test_alpha_survives(tmp_path, tiny, content_path, style_path):
    from PIL import Image

    im = Image.open(content_path).convert("RGBA")
    im.putalpha(128)
    out = stylize(im, style_path, tiny.replace(iterations=2))
    assert out.mode == "RGBA" and out.getchannel("A").getextrema() == (128, 128)
