import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from painterly.cli import main

FAST = ["--size", "64", "--iterations", "4", "--no-multiscale", "--seed", "1", "--quiet"]


@pytest.mark.slow
def test_paints_and_records_provenance(tmp_path, content_path, style_path):
    out, sheet = tmp_path / "out.png", tmp_path / "sheet.png"
    assert main([str(content_path), str(style_path), "-o", str(out), "--sheet", str(sheet), *FAST]) == 0
    im = Image.open(out)
    assert im.size == (64, 44)
    rec = json.loads(im.text["painterly"])
    side = json.loads((tmp_path / "out.png.json").read_text())
    assert rec["config"]["seed"] == side["config"]["seed"] == 1
    assert side["config"]["size"] == 64 and side["inputs"]["content"]["sha256"]
    assert "torch" in side["painterly"]
    assert Image.open(sheet).width > 3 * 64


@pytest.mark.slow
def test_a_painting_is_prepared_once(tmp_path, content_path, style_path, prepares):
    """The CLI validates by preparing the painting before the network loads, and paints that plan."""
    assert main([str(content_path), str(style_path), "-o", str(tmp_path / "out.png"), *FAST]) == 0
    assert len(prepares) == 1


@pytest.mark.slow
@pytest.mark.parametrize("name, extra", [("o.jpg", []), ("o.webp", []), ("o.tif", ["--bit-depth", "16"])])
def test_output_formats(tmp_path, content_path, style_path, name, extra):
    out = tmp_path / name
    assert main([str(content_path), str(style_path), "-o", str(out), *FAST, *extra]) == 0
    assert out.stat().st_size > 0


@pytest.mark.slow
def test_plot_writes_loss_curves(tmp_path, content_path, style_path):
    plot = tmp_path / "loss.png"
    assert main([str(content_path), str(style_path), "-o", str(tmp_path / "o.png"), *FAST, "--plot", str(plot)]) == 0
    im = Image.open(plot)
    assert im.format == "PNG" and im.width > 200 and len(im.getcolors(1 << 16) or []) > 3


@pytest.mark.slow
def test_save_every_writes_intermediates(tmp_path, content_path, style_path):
    out = tmp_path / "o.png"
    assert main([str(content_path), str(style_path), "-o", str(out), *FAST, "--save-every", "2"]) == 0
    assert sorted(p.name for p in tmp_path.glob("o.s1.i*.png")) == ["o.s1.i0002.png", "o.s1.i0004.png"]


def test_preset_then_flags(tmp_path, content_path, style_path):
    preset = tmp_path / "p.toml"
    preset.write_text('size = 48\nstyle_weight = 50.0\nstyle_layers = ["relu1_1", "relu2_1"]\n')
    out = tmp_path / "o.png"
    assert main([str(content_path), str(style_path), "-o", str(out), *FAST[2:], "--preset", str(preset),
                 "--style-weight", "70"]) == 0
    cfg = json.loads((tmp_path / "o.png.json").read_text())["config"]
    assert cfg["size"] == 48 and cfg["style_weight"] == 70 and cfg["style_layers"] == ["relu1_1", "relu2_1"]


BAD = [
    (["missing.jpg", "{style}"], "content missing.jpg: no such file"),
    (["{content}", "{notimage}"], "not an image file"),
    (["{content}", "{style}", "--style-weight", "-1"], "--style-weight must not be negative"),
    (["{content}", "{style}", "--style-layers", "relu9_9"], "unknown layer"),
    (["{content}", "{style}", "--size", "8"], "--size must be"),
    (["{content}", "{style}", "--optimizer", "sgd"], "invalid choice"),
    (["{content}", "{style}", "--init", "nothere.png"], "--init"),
    (["{content}", "{style}", "--style-blend-weights", "1,2,3"], "one weight per style"),
    (["{content}", "{style}", "--bit-depth", "16"], "cannot hold 16 bits"),
    (["{content}", "{style}", "--preset", "{notimage}"], "--preset"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_input_one_line_exit_2(tmp_path, capsys, content_path, style_path, args, message):
    notimage = tmp_path / "notes.png"
    notimage.write_text("not a picture")
    out = tmp_path / ("o.jpg" if "--bit-depth" in args else "o.png")
    argv = [a.format(content=content_path, style=style_path, notimage=notimage) for a in args]
    assert main([*argv, "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_unwritable_output_folder(tmp_path, capsys, content_path, style_path):
    assert main([str(content_path), str(style_path), "-o", str(tmp_path / "no" / "o.png"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_corrupt_weights_exit_1(tmp_path, capsys, content_path, style_path):
    bad = tmp_path / "w.pth"
    bad.write_bytes(b"\x00" * 100)
    assert main([str(content_path), str(style_path), "-o", str(tmp_path / "o.png"), "--weights", str(bad), *FAST]) == 1
    err = capsys.readouterr().err
    assert "w.pth" in err and "Traceback" not in err and not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_ctrl_c_saves_best_image(tmp_path, content_path, style_path):
    out = tmp_path / "o.png"
    cmd = [sys.executable, "-m", "painterly", str(content_path), str(style_path), "-o", str(out),
           "--size", "96", "--iterations", "500", "--no-multiscale", "--save-every", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob("o.s1.i0002.png")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "best image so far" in err and "Traceback" not in err
    assert Image.open(out).size == (96, 66)
    assert json.loads((tmp_path / "o.png.json").read_text())["interrupted"] is True


@pytest.mark.slow
@pytest.mark.parametrize("after", [0.2, 0.3, 0.4, 0.5, 0.6, 0.8])
def test_ctrl_c_while_starting_is_one_line_and_130(tmp_path, content_path, style_path, after):
    """Ctrl-C while Python loads torch (the first seconds): no traceback, exit 130, nothing written.
    Raised inside torch's C++ start-up it once aborted, died by SIGINT, hit a RecursionError or was lost."""
    out = tmp_path / "o.png"
    proc = subprocess.Popen([sys.executable, "-m", "painterly", str(content_path), str(style_path), "-o", str(out),
                             "--size", "64", "-q"], stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.splitlines() == ["painterly: interrupted"]
    assert not out.exists()


@pytest.mark.slow
def test_module_entry_point_help():
    r = subprocess.run([sys.executable, "-m", "painterly", "--help"], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "100"})
    assert r.returncode == 0
    for flag in ("--content-weight", "--style-weight", "--tv-weight", "--style-blend-weights", "--style-scale",
                 "--init", "--optimizer", "--pooling", "--content-layers", "--style-layers", "--save-every", "--seed"):
        assert flag in r.stdout


@pytest.mark.slow
def test_masks_and_scale_mix_from_the_command_line(tmp_path, content_path, style_path, style2_path):
    mask = tmp_path / "left.png"
    im = Image.new("L", Image.open(content_path).size, 0)
    im.paste(255, (0, 0, im.width // 2, im.height))
    im.save(mask)
    out = tmp_path / "m.png"
    assert main([str(content_path), str(style_path), str(style2_path), "--mask", str(mask), "--mask", "none",
                 "-o", str(out), *FAST, "--method", "gatys"]) == 0
    assert json.loads((tmp_path / "m.png.json").read_text())["inputs"]["masks"][0]["path"] == str(mask)
    out2 = tmp_path / "s.png"
    assert main([str(content_path), "--coarse-style", str(style_path), "--fine-style", str(style2_path),
                 "-o", str(out2), *FAST, "--method", "gatys"]) == 0
    assert Image.open(out2).size == (64, 44)


def test_bad_mask_is_a_usage_error(tmp_path, capsys, content_path, style_path):
    empty = tmp_path / "empty.png"
    Image.new("L", Image.open(content_path).size, 0).save(empty)
    assert main([str(content_path), str(style_path), "--mask", str(empty), "-o", str(tmp_path / "o.png"),
                 "--method", "gatys", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "empty.png" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("flag, value", [("--style-weight", "inf"), ("--content-weight", "nan"), ("--tv-weight", "inf"),
                                         ("--style-blend-weights", "inf"), ("--max-memory", "inf"),
                                         ("--style-scale", "inf"), ("--size", "1000000"), ("--style-scale", "1e5"),
                                         ("--iterations", "1000000000000")])
def test_numbers_past_any_use_are_refused(tmp_path, capsys, content_path, style_path, flag, value):
    out = tmp_path / "o.png"
    assert main([str(content_path), str(style_path), "-o", str(out), flag, value, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert flag in err and len(err.splitlines()) == 1 and not out.exists()


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch, content_path,
                                                                       style_path):
    import painterly.pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody planned for\nsecond line")

    monkeypatch.setattr(painterly.pipeline.Painter, "run", broken)
    argv = [str(content_path), str(style_path), "-o", str(tmp_path / "o.png"), *FAST]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "RuntimeError: something nobody planned for" in err and "--debug" in err
    with pytest.raises(RuntimeError):
        main([*argv, "--debug"])


@pytest.mark.slow
def test_method_nnst_end_to_end(tmp_path, content_path, style_path):
    """Neural Neighbor from the command line: coarse to fine from a 16 px copy, the colour correction at the end."""
    out = tmp_path / "nn.png"
    assert main([str(content_path), str(style_path), "-o", str(out), "--method", "nnst", "--size", "64",
                 "--min-scale-size", "32", "--iterations", "3", "--seed", "1", "--quiet"]) == 0
    side = json.loads((tmp_path / "nn.png.json").read_text())
    assert side["config"]["method"] == "nnst" and Image.open(out).size == (64, 44)
    photo = Image.open(content_path).convert("RGB").resize((64, 44))
    assert Image.open(out).convert("RGB").tobytes() != photo.tobytes()


def test_masks_need_the_gatys_method(tmp_path, capsys, content_path, style_path):
    assert main([str(content_path), str(style_path), "--mask", str(content_path), "-o", str(tmp_path / "o.png"),
                 "--method", "nnst", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--method gatys" in err[0]
    assert not (tmp_path / "o.png").exists()
