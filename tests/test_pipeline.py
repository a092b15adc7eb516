"""End-to-end runs with the real VGG19 on small images."""

import pytest
import torch

from painterly import Interrupted, Painter, StyleConfig, stylize
from painterly.features import VGG19Features
from painterly.images import load_image, resize
from painterly.losses import gram_matrix
from painterly.scales import scale_schedule

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

@pytest.fixture
def tiny(tiny):
    """These check Gatys et al.'s pipeline: its loss terms, schedule and statistics (--method gatys)."""
    return tiny.replace(method="gatys")



def _gram_error(ex, x, style):
    fx = ex(x, STYLE_LAYERS)
    fs = ex(resize(style, x.shape[-2:]), STYLE_LAYERS)
    return sum(float((gram_matrix(fx[k]) - gram_matrix(fs[k])).norm() / gram_matrix(fs[k]).norm())
               for k in STYLE_LAYERS) / len(STYLE_LAYERS)


@pytest.mark.slow
def test_result_moves_towards_style_and_keeps_content(weights, content_path, style_path):
    content, style = load_image(content_path), load_image(style_path)
    losses = []
    cfg = StyleConfig(size=96, iterations=40, multiscale=False, seed=3, method="gatys")
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


@pytest.mark.slow
def test_seed_makes_runs_repeatable(content_path, style_path):
    kw = dict(size=48, iterations=5, multiscale=False, init="random", seed=7)
    a, b = stylize(content_path, style_path, **kw), stylize(content_path, style_path, **kw)
    assert a.tobytes() == b.tobytes()


@pytest.mark.slow
def test_several_styles_and_adam(tiny, content_path, style_path, style2_path):
    cfg = tiny.replace(optimizer="adam", iterations=8, style_blend_weights=(0.7, 0.3))
    img = stylize(content_path, [style_path, style2_path], cfg)
    assert img.size == (64, 44)


@pytest.mark.slow
def test_callback_reports_every_step_with_images(tiny, content_path, style_path):
    steps = []
    stylize(content_path, style_path, tiny.replace(iterations=6, tv_weight=1e7), callback=steps.append, image_every=3)
    assert [s.iteration for s in steps] == [1, 2, 3, 4, 5, 6]
    assert [s.image is not None for s in steps] == [False, False, True, False, False, True]
    assert {"content", "style", "tv", "style:relu1_1"} <= set(steps[0].terms)
    assert steps[-1].done == steps[-1].total == 6
    untv = []
    stylize(content_path, style_path, tiny.replace(iterations=1), callback=untv.append)
    assert "tv" not in untv[0].terms  # the default weight is 0: the term is not computed


@pytest.mark.slow
def test_interrupt_returns_best_image(tiny, content_path, style_path):
    def cb(step):
        if step.iteration == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        stylize(content_path, style_path, tiny, callback=cb)
    assert info.value.image.shape == (1, 3, 44, 64)


@pytest.mark.slow
def test_early_stop_when_converged(content_path, style_path):
    steps = []
    cfg = StyleConfig(size=48, iterations=300, multiscale=False, seed=1, tolerance=0.05, patience=5)
    stylize(content_path, style_path, cfg, callback=steps.append)
    assert len(steps) < 300


def test_scale_schedule_is_coarse_to_fine():
    sched = scale_schedule((600, 868), StyleConfig(size=868, method="gatys"))
    sizes = [max(hw) for hw, _ in sched]
    assert sizes == sorted(sizes) and sizes[-1] == 868 and sizes[0] >= 256
    assert scale_schedule((300, 400), StyleConfig(multiscale=False, iterations=7)) == [((300, 400), 7)]


def test_scale_budget_depends_on_size_only():
    """A preview is exactly the first stage of a larger render; budgets go as 1/long edge."""
    cfg = StyleConfig(iterations=50, method="gatys")
    preview = scale_schedule((192, 256), cfg)
    full = scale_schedule((768, 1024), cfg)
    assert preview == [((192, 256), 100)] and full[0] == preview[0]
    assert [n for _, n in full] == [100, 71, 50, 35, 25]
    assert scale_schedule((384, 512), cfg)[-1] == ((384, 512), 50)
    assert scale_schedule((48, 64), cfg) == [((48, 64), 100)]  # below min_scale_size counts as it
    assert all(n == 0 for _, n in scale_schedule((768, 1024), StyleConfig(iterations=0)))


def test_each_method_has_its_schedule():
    """nnst starts from a 64 px copy and doubles, every scale below 256 px with a 256 px scale's budget;
    gatys starts at 256 px and grows by sqrt(2); a given --min-scale-size wins over either."""
    nnst = scale_schedule((384, 512), StyleConfig(iterations=20))
    assert nnst == [((48, 64), 40), ((96, 128), 40), ((192, 256), 40), ((384, 512), 20)]
    gatys = scale_schedule((384, 512), StyleConfig(iterations=20, method="gatys"))
    assert [max(hw) for hw, _ in gatys] == [256, 362, 512]
    assert [max(hw) for hw, _ in scale_schedule((384, 512), StyleConfig(min_scale_size=128))] == [128, 256, 512]


@pytest.mark.slow
def test_preview_and_full_render_look_alike(weights, content_path, style_path):
    """Same options at two sizes: the large render, seen at the preview's size, has the
    preview's style strength and colours (the docs show it at 256 vs 1024 px)."""
    from painterly.quality import measure

    content, style = load_image(content_path), load_image(style_path)
    # The schedule's property, on the Gram loss the measure reads (16 iterations at 64 px, 11 at 91, 8 at 128).
    cfg = StyleConfig(iterations=2, min_scale_size=64, seed=5, style_loss="gram", init="content", method="gatys")
    preview = Painter(cfg.replace(size=64)).paint(content, [style]).image
    full = Painter(cfg.replace(size=128)).paint(content, [style]).image
    small = resize(full, preview.shape[-2:]).clamp(0, 1)
    ex = VGG19Features(weights, ["relu5_1"])
    a, b = measure(preview, content.rgb, style.rgb, extractor=ex), measure(small, content.rgb, style.rgb, extractor=ex)
    unpainted = measure(resize(content.rgb, preview.shape[-2:]), content.rgb, style.rgb, extractor=ex)
    assert max(a.gram, b.gram) < 0.7 * unpainted.gram  # both are painted ...
    assert abs(a.gram - b.gram) < 0.15 * a.gram, (a, b)  # ... equally strongly
    # ... in the same colours: the two differ by a small part of how far painting moves the colours.
    colour_gap = float((preview.mean(dim=(2, 3)) - small.mean(dim=(2, 3))).norm())
    assert colour_gap < 0.25 * float((content.rgb.mean(dim=(2, 3)) - style.rgb.mean(dim=(2, 3))).norm())


@pytest.mark.slow
def test_multiscale_run_ends_at_full_size(content_path, style_path):
    steps = []
    cfg = StyleConfig(size=64, iterations=1, min_scale_size=32, seed=1, method="gatys")  # 16, 11, 8 iterations
    img = stylize(content_path, style_path, cfg, callback=steps.append)
    assert img.size == (64, 44)
    assert sorted({s.scale for s in steps}) == [0, 1, 2]


def test_alpha_survives(tmp_path, tiny, content_path, style_path):
    from PIL import Image

    im = Image.open(content_path).convert("RGBA")
    im.putalpha(128)
    out = stylize(im, style_path, tiny.replace(iterations=2))
    assert out.mode == "RGBA" and out.getchannel("A").getextrema() == (128, 128)


@pytest.mark.slow
def test_compile_gives_the_eager_result(tiny, content_path, style_path, monkeypatch):
    import painterly.objective as objective

    monkeypatch.setattr(objective, "COMPILE_MIN_SIZE", 0)  # compile even a 64 px scale
    cfg = tiny.replace(iterations=4)
    eager = Painter(cfg).paint(load_image(content_path), [load_image(style_path)])
    compiled = Painter(cfg.replace(compile=True)).paint(load_image(content_path), [load_image(style_path)])
    assert compiled.iterations == eager.iterations == 4
    assert (compiled.image - eager.image).abs().max() < 0.02  # the same steps, up to float rounding
    assert abs(compiled.loss - eager.loss) < 1e-3 * eager.loss


@pytest.mark.slow
def test_compile_falls_back_when_the_compiler_fails(tiny, content_path, style_path, monkeypatch):
    import painterly.objective as objective

    def broken(fn, **kw):
        def run(*a):
            raise RuntimeError("no C++ compiler")
        return run

    monkeypatch.setattr(objective, "COMPILE_MIN_SIZE", 0)
    monkeypatch.setattr(objective.torch, "compile", broken)
    cfg = tiny.replace(iterations=3)
    eager = Painter(cfg).paint(load_image(content_path), [load_image(style_path)])
    with pytest.warns(UserWarning, match="--compile: torch.compile failed, running uncompiled"):
        fallback = Painter(cfg.replace(compile=True)).paint(load_image(content_path), [load_image(style_path)])
    assert torch.equal(fallback.image, eager.image)


def _check_shapes(content_hw, style_hws, cfg):
    """plan.check_shapes with the schedule plan.prepare makes for a photo of ``content_hw``."""
    from painterly.images import fit_long_edge
    from painterly.plan import check_shapes

    check_shapes(content_hw, style_hws, cfg, scale_schedule(fit_long_edge(content_hw, cfg.size), cfg))


@pytest.mark.parametrize("content_hw, style_hw, options, fix", [
    ((900, 3), (64, 64), {"size": 512}, "--size"),  # a thin photo: a larger --size works
    ((64, 64), (40, 800), {"size": 128, "style_scale": 0.5}, "--style-scale"),  # a thin style: a larger scale
    ((800, 40), (64, 64), {"size": 512}, "--min-scale-size"),  # only the first scale is too small
])
def test_too_thin_images_are_refused_with_a_value_that_works(content_hw, style_hw, options, fix):
    from painterly.config import ConfigError

    cfg = StyleConfig(**options)
    with pytest.raises(ConfigError, match=fix) as e:
        _check_shapes(content_hw, [style_hw], cfg)
    value = str(e.value).split(f"use {fix} ")[1].split()[0]
    field = fix.removeprefix("--").replace("-", "_")
    fixed = cfg.replace(**{field: float(value) if field == "style_scale" else int(float(value))})
    _check_shapes(content_hw, [style_hw], fixed.replace(multiscale="--no-multiscale" not in str(e.value)))


def test_a_strip_no_size_can_paint_is_refused_with_a_crop():
    from painterly.config import ConfigError

    with pytest.raises(ConfigError, match="crop it to at most 1:2048"):
        _check_shapes((10_000, 1), [(64, 64)], StyleConfig(size=512))


def test_a_target_key_names_every_field_its_targets_are_made_of():
    """Painter.target_key (the batch cache's key): two targets share a key only when made alike; among them a
    mixed manifest's style losses and methods (the style loss was once missing from the key)."""
    from painterly.choices import Method

    painter = object.__new__(Painter)  # the key reads the options and the device, not the network
    painter.config, painter.device = StyleConfig(), torch.device("cpu")
    cfg = StyleConfig(method="gatys")

    def key(method: str, cfg: StyleConfig, styles=("a",), hw=(48, 64)) -> tuple[object, ...]:
        return painter.target_key(Method(method), list(styles), hw, cfg)

    other_loss = "gram" if cfg.style_loss.value != "gram" else "swd"
    base = key("gatys", cfg)
    assert key("gatys", StyleConfig(method="gatys")) == base
    others = [key("nnst", cfg), key("gatys", cfg.replace(style_loss=other_loss)), key("gatys", cfg, ("b",)),
              key("gatys", cfg, hw=(64, 48)), key("gatys", cfg.replace(style_layers=("relu1_1",))),
              key("gatys", cfg.replace(style_scale=0.5))]
    assert len({base, *others}) == 1 + len(others)
    two = cfg.replace(style_blend_weights=(1.0, 3.0))
    assert key("nnst", two, ("a", "b")) != key("nnst", two.replace(style_blend_weights=(3.0, 1.0)), ("a", "b"))


@pytest.mark.slow
def test_stylize_prepares_the_painting_once(content_path, style_path, prepares):
    """The library validates by preparing before the network loads, and paints that plan (no second prepare)."""
    stylize(content_path, style_path, size=32, iterations=1, multiscale=False, seed=1)
    assert len(prepares) == 1
