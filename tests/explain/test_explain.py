"""painterly.explain and ``painterly explain``: reconstructions from single layers and from
Gram matrices, the Figure 1 layout, loss curves. Real VGG19, small images."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from conftest import EXAMPLES
from painterly.cli import main
from painterly.config import ConfigError, StyleConfig
from painterly.events import Step
from painterly.explain.figure import (
    FIGURE1_PANELS,
    figure1,
    reconstruct_content,
    synthesize_style,
)
from painterly.explain.texture import gram_error, noise
from painterly.images import ImageError, fit_long_edge, load_image, resize
from painterly.optimize import Interrupted
from painterly.plot import LossRecorder, plot_losses
from painterly.quality import layout_similarity, psnr

CONTENT = EXAMPLES / "building.jpg"
STYLE = EXAMPLES / "starry_night.jpg"


def _small(path, size):
    rgb = load_image(path).rgb
    return resize(rgb, fit_long_edge(tuple(rgb.shape[-2:]), size))


# Measurements ---------------------------------------------------------------------------
def test_psnr_and_layout_correlation_basics():
    x = _small(CONTENT, 64)
    assert psnr(x, x) == float("inf")
    assert 19 < psnr(x, (x + 0.1).clamp(0, 1)) < 21
    assert layout_similarity(x, x, cells=8, colour=True) == pytest.approx(1.0)
    assert layout_similarity(x, torch.rand_like(x), cells=8, colour=True) < 0.5


# Content reconstructions ----------------------------------------------------------------
@pytest.fixture(scope="module")
def reconstructions():
    x = _small(CONTENT, 64)
    steps: list[Step] = []
    low = reconstruct_content(x, "relu1_2", size=64, iterations=60, seed=0, callback=steps.append)
    high = reconstruct_content(x, "relu5_2", size=64, iterations=60, seed=0)
    return x, low, high, steps


@pytest.mark.slow
def test_low_layer_gives_back_the_pixels(reconstructions):
    x, low, _, steps = reconstructions
    assert low.shape == x.shape
    assert psnr(low, x) > 30  # measured 37.7 dB at 64 px, 60 iterations
    assert steps[0].loss > 10 * steps[-1].loss and steps[-1].image is not None
    assert set(steps[-1].terms) == {"content:relu1_2"}


def test_high_layer_keeps_the_layout_and_loses_the_detail(reconstructions):
    x, low, high, _ = reconstructions
    assert psnr(high, x) < 15 < psnr(low, x)  # measured 9.6 dB
    # Layout: the coarse (8 px) picture correlates with the input's (measured 0.59), far
    # better than with the same image upside down (-0.12).
    assert layout_similarity(high, x, cells=8, colour=True) > 0.4
    assert layout_similarity(high, x, cells=8, colour=True) > layout_similarity(high, x.flip(-2), cells=8, colour=True) + 0.3


def test_reconstruct_content_checks_its_arguments():
    x = _small(CONTENT, 64)
    with pytest.raises(ConfigError, match="unknown layer"):
        reconstruct_content(x, "relu9_9", size=64, iterations=1)
    with pytest.raises(ConfigError, match="--size 16"):
        reconstruct_content(x, "relu1_2", size=16, iterations=1)  # 16x11: too small for VGG19


def test_synthesize_style_matches_the_chosen_layers():
    s = _small(STYLE, 48)
    out = synthesize_style(s, ["relu1_1"], size=(32, 32), iterations=15, seed=0)
    assert out.shape == (1, 3, 32, 32)
    from painterly.pipeline import get_extractor

    ext = get_extractor(None, "max", ("relu5_1",), "cpu")
    start = noise((32, 32), torch.Generator().manual_seed(0))
    before = gram_error(ext, start, s, ["relu1_1"])["relu1_1"]
    after = gram_error(ext, out, s, ["relu1_1"])["relu1_1"]
    assert after < 0.3 * before
    with pytest.raises(ConfigError):
        synthesize_style(s, [], iterations=1)


# Figure 1 ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_figure1_runs_every_panel_and_reports_progress():
    steps: list[Step] = []
    fig = figure1(CONTENT, STYLE, size=32, iterations=2, seed=0, callback=steps.append)
    assert isinstance(fig, Image.Image)
    assert sorted({s.scale for s in steps}) == list(range(len(FIGURE1_PANELS)))
    assert all(s.scales == len(FIGURE1_PANELS) and s.total == 2 * len(FIGURE1_PANELS) for s in steps)
    assert [s.done for s in steps] == sorted(s.done for s in steps) and steps[-1].done <= steps[-1].total
    # Two rows of six panels (the input and five reconstructions), 160 px tall each.
    assert fig.width > 6 * 160 and 2 * 160 < fig.height < 2 * 160 + 200


def test_figure1_interrupted_returns_the_figure_so_far():
    def stop(step: Step) -> None:
        if step.scale == 3 and step.iteration == 1:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        figure1(CONTENT, STYLE, size=32, iterations=2, seed=0, callback=stop)
    image = info.value.image
    assert image.dim() == 4 and image.shape[1] == 3 and image.shape[-1] > 6 * 160


# Loss curves ------------------------------------------------------------------------------
def _step(i: int, scale: int, terms: dict[str, float]) -> Step:
    return Step(i, 10, scale, 2, (32, 32), sum(terms.values()), terms, i + 10 * scale, 20, 0.0)


def test_plot_losses_draws_each_term(tmp_path):
    rec = LossRecorder(tmp_path / "loss.png")
    for scale in (0, 1):
        for i in range(1, 11):
            rec(_step(i, scale, {"content": 10.0 / i, "style": 5.0, "style:relu1_1": 100.0 / i**2,
                                 "style:relu2_1": 1.0, "tv": 0.01}))
    rec.write()
    with Image.open(tmp_path / "loss.png") as im:
        rgb = im.convert("RGB")
        assert rgb.size == (900, 520)
        colours = {c for _, c in rgb.getcolors(1 << 20)}
    # The total (near black), content (blue), TV (green) and a style layer (orange) are drawn.
    for want in ((20, 20, 20), (31, 119, 180), (44, 160, 44), (255, 127, 14)):
        assert any(sum(abs(a - b) for a, b in zip(c, want)) < 30 for c in colours), want
    assert len(rec.history) == 20 and rec.history[-1]["iteration"] == 20.0


def test_plot_losses_from_a_real_run(tmp_path, content_path, style_path):
    from painterly.pipeline import Painter

    rec = LossRecorder(tmp_path / "run.png")
    cfg = StyleConfig(size=32, iterations=4, multiscale=False, seed=1, tv_weight=1e7, method="gatys")
    Painter(cfg).paint(load_image(content_path), [load_image(style_path)], callback=rec)
    rec.write()
    assert {"loss", "content", "style:relu1_1", "style:relu5_1", "tv"} <= set(rec.history[0])
    with Image.open(tmp_path / "run.png") as im:
        assert im.format == "PNG"


def test_an_nnst_runs_plot_has_its_hypercolumn_and_last_pass_terms(tmp_path, content_path, style_path):
    from painterly.pipeline import Painter
    from painterly.plot import _series

    rec = LossRecorder(tmp_path / "run.png")
    Painter(StyleConfig(size=128, iterations=1, seed=1)).paint(load_image(content_path), [load_image(style_path)],
                                                             callback=rec)
    series = _series(rec.history)
    assert list(series) == ["loss", "content", "style", "layers"]
    assert len(series["layers"]) < len(series["style"])  # the last scale only


def test_plot_losses_errors(tmp_path):
    with pytest.raises(ImageError, match="--plot"):
        LossRecorder(tmp_path / "missing" / "loss.png")
    with pytest.raises(ImageError, match="--plot"):
        LossRecorder(tmp_path / "loss.gif")
    with pytest.raises(ValueError, match="empty"):
        plot_losses([], tmp_path / "loss.png")
    LossRecorder(None).write()  # no path: records only


# The command ------------------------------------------------------------------------------
@pytest.mark.slow
def test_explain_command_writes_a_labelled_figure_with_provenance(tmp_path, capsys):
    out = tmp_path / "fig.png"
    rc = main(["explain", str(CONTENT), str(STYLE), "-o", str(out), "--size", "32", "-n", "2", "--seed", "3", "-q"])
    assert rc == 0, capsys.readouterr().err
    with Image.open(out) as im:
        assert im.width > 6 * 160
        record = json.loads(im.text["painterly"])
    assert record == json.loads((tmp_path / "fig.png.json").read_text())
    assert record["command"] == "explain" and record["config"]["seed"] == 3 and record["config"]["size"] == 32
    assert record["content_layers"][0] == "relu1_2" and record["inputs"]["style"]["sha256"]


def test_explain_command_ctrl_c_writes_the_figure_so_far(tmp_path, monkeypatch, capsys):
    from painterly.cli.progress import ProgressBar

    def interrupt(self, done, total, info=""):  # the user presses Ctrl-C in the fourth panel
        if done == 7:
            raise KeyboardInterrupt

    monkeypatch.setattr(ProgressBar, "advance", interrupt)
    out = tmp_path / "fig.png"
    assert main(["explain", str(CONTENT), str(STYLE), "-o", str(out), "--size", "32", "-n", "2"]) == 130
    assert "figure so far" in capsys.readouterr().err
    with Image.open(out) as im:
        assert im.width > 6 * 160 and json.loads(im.text["painterly"])["interrupted"] is True


@pytest.mark.parametrize("args, message", [
    (["missing.jpg", str(STYLE), "-o", "{out}"], "missing.jpg"),
    ([str(CONTENT), str(STYLE), "-o", "{out}", "--size", "8"], "--size"),
    ([str(CONTENT), str(STYLE), "-o", "{out}", "--size", "16"], "--size 16"),
    ([str(CONTENT), str(STYLE), "-o", "{tmp}/fig.bmp"], "unknown image type"),
    ([str(CONTENT), "-o", "{out}"], "painterly explain"),
])
def test_explain_command_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "fig.png"
    assert main(["explain", *[a.format(out=out, tmp=tmp_path) for a in args]]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_textures_and_figures_get_the_engines_memory_plan():
    """The engine's memory plan refuses, with a --max-memory that fits, a texture or a reconstruction too large
    for the memory given, before any network loads (it once planned only paintings and video frames)."""
    import painterly.pipeline as pipeline
    from painterly.explain.texture import synthesize_texture

    cfg = StyleConfig(max_memory=0.001, iterations=1)
    picture = torch.rand(1, 3, 64, 64)
    networks = pipeline.get_extractor.cache_info()
    for paint in (lambda: synthesize_texture(picture, (256, 256), config=cfg),
                  lambda: synthesize_style(picture, ["relu1_1", "relu2_1"], size=(256, 256), config=cfg),
                  lambda: reconstruct_content(picture, "relu4_2", size=256, config=cfg)):
        with pytest.raises(ConfigError, match="raise --max-memory to"):
            paint()
    assert pipeline.get_extractor.cache_info() == networks
