import argparse
import os

import pytest

from conftest import DATA
from painterly.config import ConfigError, Init, Optimizer, PreserveColors, StyleConfig
from painterly.vgg import LAYER_NAMES


def test_defaults_are_valid_and_round_trip():
    cfg = StyleConfig()
    assert StyleConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.content_layers == ("relu4_2",)
    assert cfg.style_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert cfg.optimizer is None and cfg.solver is Optimizer.ADAM  # the method's
    assert cfg.replace(method="gatys").solver is Optimizer.LBFGS
    assert cfg.replace(method="gatys", optimizer="adam").solver is Optimizer.ADAM


def test_layer_names():
    assert LAYER_NAMES[:4] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2")
    assert LAYER_NAMES[-1] == "relu5_4"
    assert len(LAYER_NAMES) == 32


def test_layer_names_are_checked_in_one_place():
    """vgg.unknown_layers: the config, the flags, the explain figure and the extractor say the same."""
    from painterly.cli.options import parse_layers
    from painterly.vgg import unknown_layers

    assert unknown_layers(("relu1_1", "conv5_4")) is None
    message = unknown_layers(("relu1_1", "relu9_9"))
    assert message == "unknown layer 'relu9_9'; layers are named like relu4_2 (conv1_1 ... relu5_4)"
    with pytest.raises(ConfigError) as config:
        StyleConfig(style_layers=("relu1_1", "relu9_9"))
    with pytest.raises(argparse.ArgumentTypeError) as flag:
        parse_layers("relu1_1,relu9_9")
    assert str(config.value) == f"--style-layers: {message}" and str(flag.value) == message


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"style_weight": -1}, "--style-weight"),
        ({"content_weight": -0.5}, "--content-weight"),
        ({"size": 8}, "--size"),
        ({"style_layers": ("relu9_1",)}, "--style-layers"),
        ({"content_layers": ("nope",)}, "--content-layers"),
        ({"optimizer": "sgd"}, "--optimizer"),
        ({"preserve_colors": "sepia"}, "--preserve-colors"),
        ({"style_layer_weights": (1.0, 2.0)}, "--style-layer-weights"),
        ({"iterations": -3}, "--iterations"),
        ({"content_weight": 0, "style_weight": 0}, "nothing to optimise"),
        ({"scale_factor": 1.0}, "--scale-factor"),
        ({"seed": -1}, "--seed"),
    ],
)
def test_bad_options_name_the_option(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        StyleConfig(**kw)


def test_enums_parse_strings():
    cfg = StyleConfig(optimizer="adam", preserve_colors="luminance")
    assert cfg.optimizer is Optimizer.ADAM and cfg.preserve_colors is PreserveColors.LUMINANCE
    assert cfg.lr == 0.02


def test_blend_weights_normalised_and_counted():
    cfg = StyleConfig(style_blend_weights=(1, 3))
    assert cfg.blend_weights(2) == [0.25, 0.75]
    with pytest.raises(ConfigError, match="one weight per style"):
        cfg.blend_weights(3)
    assert StyleConfig().blend_weights(4) == [0.25] * 4


def test_unknown_keys_rejected():
    with pytest.raises(ConfigError, match="unknown option"):
        StyleConfig.from_dict({"sizee": 3})


def test_one_road_for_options_from_every_source(tmp_path):
    from painterly.options import PRESETS, config_from_options

    # A named preset, then typed values over it (flags, JSON, TOML).
    cfg = config_from_options({"preset": "quick", "style_weight": 3, "style_layers": ["relu1_1", "relu2_1"]})
    assert (cfg.size, cfg.iterations, cfg.multiscale) == (PRESETS["quick"]["size"], 20, True)
    assert cfg.style_weight == 3.0 and cfg.style_layers == ("relu1_1", "relu2_1")
    # Text (a CSV manifest's cells) is parsed by each field's type, errors name the source.
    cfg = config_from_options({"size": " 96 ", "multiscale": "no", "style_blend_weights": "1,2", "seed": "none"},
                              text=True, base=StyleConfig(iterations=7))
    assert (cfg.size, cfg.multiscale, cfg.style_blend_weights, cfg.seed, cfg.iterations) == (96, False, (1.0, 2.0), None, 7)
    with pytest.raises(ConfigError, match=r"^photos.csv:3: --style-weight must be a finite number"):
        config_from_options({"style_weight": "inf"}, text=True, source="photos.csv:3")
    # Typed sources do not parse text: a number must be a number.
    with pytest.raises(ConfigError, match="--size must be a number"):
        config_from_options({"size": "256"})
    # A preset file, and a preset that is neither.
    (tmp_path / "p.toml").write_text("preset_unused = 1\n")
    with pytest.raises(ConfigError, match="unknown option"):
        config_from_options({"preset": str(tmp_path / "p.toml")})
    with pytest.raises(ConfigError, match="unknown preset; use quick, balanced, fine"):
        config_from_options({"preset": "fast"})


def test_named_presets_from_the_command_line():
    from painterly.cli import build_parser
    from painterly.cli.options import config_from_args

    args = build_parser().parse_args(["a.png", "b.png", "-o", "c.png", "--preset", "fine", "--size", "300"])
    cfg = config_from_args(args)
    assert (cfg.size, cfg.iterations) == (300, 20)  # the preset's size, overridden by the flag


def test_init_is_checked_when_the_config_is_built(tmp_path):
    """A start by name becomes the enum; a path must be a readable regular file, whatever builds the
    config (the library, a manifest), so a bad one fails before any network loads."""
    import painterly
    import painterly.pipeline as pipeline
    from painterly.options import config_from_options

    assert StyleConfig(init="Random").init is Init.RANDOM and StyleConfig().init is Init.PALETTE
    assert StyleConfig(init=str(DATA / "style.png")).init == str(DATA / "style.png")
    os.mkfifo(tmp_path / "pipe.png")
    for bad, message in [("nothere.png", "--init nothere.png: no such file"), (str(tmp_path), "is a folder"),
                         (str(tmp_path / "pipe.png"), "not a regular file"), ("/dev/zero", "not a regular file"),
                         ("", "--init must be one of content, palette, random or an image file"), (3, "--init must be")]:
        with pytest.raises(ConfigError, match=message):
            StyleConfig(init=bad)
    with pytest.raises(ConfigError, match="photos.csv:3: --init nothere.png: no such file"):
        config_from_options({"init": "nothere.png"}, source="photos.csv:3", text=True)
    networks = pipeline.get_extractor.cache_info()
    with pytest.raises(ConfigError, match="--init nothere.png"):
        painterly.stylize(DATA / "content.png", DATA / "style.png", init="nothere.png")
    assert pipeline.get_extractor.cache_info() == networks  # refused before any network was asked for


def test_an_init_file_that_is_no_image_fails_when_the_painting_is_prepared(tmp_path):
    import torch

    from painterly.errors import ImageError
    from painterly.images import load_image
    from painterly.plan import prepare

    (tmp_path / "notes.png").write_text("not a picture")
    cfg = StyleConfig(size=32, init=str(tmp_path / "notes.png"))
    with pytest.raises(ImageError, match="--init .*notes.png: not an image file"):
        prepare(load_image(DATA / "content.png"), [load_image(DATA / "style.png")], cfg, device=torch.device("cpu"))

