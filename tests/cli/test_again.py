"""``painterly again``, ``--preset RESULT.json``, the record's device and threads, ``--threads``, ``--quality``
and a device running out of memory mid-run: through the real CLI, tiny sizes, the real network, the CPU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

from conftest import DATA
from painterly.cli import main
from painterly.config import ConfigError
from painterly.images import save_image
from painterly.options import preset_values

TINY = ["--size", "64", "--iterations", "4", "--no-multiscale", "--quiet"]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def painted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with copies of the inputs and one result painted from them (seed drawn at random, one thread)."""
    d = tmp_path_factory.mktemp("again")
    for name in ("content.png", "style.png"):
        shutil.copy(DATA / name, d / name)
    assert main([str(d / "content.png"), str(d / "style.png"), "-o", str(d / "out.png"), *TINY, "--threads", "1"]) == 0
    return d


@pytest.fixture
def one_thread():
    yield
    torch.set_num_threads(1)  # conftest's setting, whatever a test asked for


@pytest.mark.slow
def test_the_record_names_the_device_and_threads_used(painted: Path) -> None:
    record = json.loads(Image.open(painted / "out.png").info["painterly"])
    assert record["device"] == "cpu" and record["threads"] == 1  # not "auto"
    assert record["config"]["device"] == "auto" and isinstance(record["config"]["seed"], int)
    assert record == json.loads((painted / "out.png.json").read_text())


@pytest.mark.slow
def test_again_paints_the_same_pixels(painted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    again = painted / "out.again.png"
    assert main(["again", str(painted / "out.png"), "-q"]) == 0  # -o defaults to RESULT.again.png
    assert "note" not in capsys.readouterr().err  # same device, threads and versions: nothing to warn of
    assert np.array_equal(pixels(again), pixels(painted / "out.png"))
    old, new = (json.loads((painted / f"{n}.json").read_text()) for n in ("out.png", "out.again.png"))
    assert new["config"] == {**old["config"], "device": "cpu", "threads": 1}  # asked for the device and threads used
    assert new["inputs"] == old["inputs"]
    assert new["again_of"] == {"path": str(painted / "out.png"), "seed": old["config"]["seed"]}


@pytest.mark.slow
def test_again_takes_flags_over_the_record_and_works_from_another_folder(painted: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the recorded paths are absolute here; a relative one is looked up beside the result
    assert main(["again", str(painted / "out.png"), "-o", "big.png", "--size", "80", "-q"]) == 0
    assert Image.open("big.png").size == (80, 55)
    old, new = (json.loads(Path(p).read_text()) for p in (painted / "out.png.json", "big.png.json"))
    assert new["config"]["seed"] == old["config"]["seed"] and new["config"]["size"] == 80


@pytest.mark.slow
def test_preset_from_a_record_repaints_the_same_pixels(painted: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    assert main([str(painted / "content.png"), str(painted / "style.png"), "-o", str(out), "-q", "--threads", "1",
                 "--preset", str(painted / "out.png.json")]) == 0
    assert np.array_equal(pixels(out), pixels(painted / "out.png"))


@pytest.mark.slow
def test_a_jpeg_is_made_again_byte_for_byte_from_its_sidecar(tmp_path: Path, content_path: Path,
                                                             style_path: Path) -> None:
    first, second = tmp_path / "a.jpg", tmp_path / "b.jpg"
    assert main([str(content_path), str(style_path), "-o", str(first), *TINY, "--quality", "70", "--seed", "5"]) == 0
    assert json.loads((tmp_path / "a.jpg.json").read_text())["quality"] == 70
    assert main(["again", str(first), "-o", str(second), "-q"]) == 0  # quality 70 from the record
    assert second.read_bytes() == first.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("change, message", [
    ("edit", "painterly: error: style {style}: changed since {out} was painted"),
    ("delete", "painterly: error: style {style}: not found (named by {out}'s record)"),
])
def test_again_refuses_a_changed_or_missing_input(painted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 change: str, message: str) -> None:
    for name in ("content.png", "style.png", "out.png"):
        shutil.copy(painted / name, tmp_path / name)
    record = json.loads(Image.open(tmp_path / "out.png").info["painterly"])
    style = tmp_path / "style.png"
    assert record["inputs"]["styles"][0]["path"] == str(painted / "style.png")
    (painted / "style.png").rename(painted / "style.kept")  # the recorded path is gone: found beside the result
    try:
        if change == "edit":
            Image.open(style).rotate(90).save(style)
        else:
            style.unlink()
        assert main(["again", str(tmp_path / "out.png"), "-q"]) == 2
    finally:
        (painted / "style.kept").rename(painted / "style.png")
    err = capsys.readouterr().err
    expected = message.format(style=style if change == "edit" else painted / "style.png", out=tmp_path / "out.png")
    assert err.startswith(expected) and len(err.splitlines()) == 1
    assert not (tmp_path / "out.again.png").exists()


def test_again_on_an_image_without_a_record_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(DATA / "content.png", tmp_path / "photo.png")
    assert main(["again", str(tmp_path / "photo.png")]) == 2
    err = capsys.readouterr().err
    assert "has no painterly record" in err and len(err.splitlines()) == 1


def test_a_json_preset_takes_nulls_as_none_and_names_what_it_cannot(tmp_path: Path) -> None:
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"size": 128, "seed": None, "style_weight": None, "style_layers": ["relu1_1"]}))
    assert preset_values(str(good)) == {"size": 128, "seed": None, "style_weight": None, "style_layers": ("relu1_1",)}
    bad = tmp_path / "bad.json"
    bad.write_text('{"size": null}')
    with pytest.raises(ConfigError, match=r"--preset .*bad.json: --size must be a number, got None"):
        preset_values(str(bad))
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not valid JSON"):
        preset_values(str(bad))


@pytest.mark.slow
def test_threads_are_set_and_recorded(tmp_path: Path, content_path: Path, style_path: Path, one_thread: None) -> None:
    out = tmp_path / "o.png"
    assert main([str(content_path), str(style_path), "-o", str(out), "--size", "32", "-n", "1", "-q", "--threads", "2"]) == 0
    assert torch.get_num_threads() == 2
    assert json.loads((tmp_path / "o.png.json").read_text())["threads"] == 2


def test_quality_sets_the_jpeg_and_webp_quality(tmp_path: Path) -> None:
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for suffix in (".jpg", ".webp"):
        low, high = (save_image(image, tmp_path / f"q{q}{suffix}", quality=q).stat().st_size for q in (20, 95))
        assert low < high / 2
        assert save_image(image, tmp_path / f"d{suffix}").read_bytes() == (tmp_path / f"q95{suffix}").read_bytes()


@pytest.mark.slow
def test_out_of_memory_mid_run_is_one_line_and_exit_1(tmp_path: Path, content_path: Path, style_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A device that runs out of memory after the plan said it fits (here: a convolution's allocation fails
    after the targets are built, as a GPU's would with torch.OutOfMemoryError) ends with one line naming the
    scale and a size to use, exit 1, and nothing written; never 'unexpected error'."""
    conv = torch.nn.functional.conv2d
    calls = {"n": 0}

    def allocation_fails_later(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 40:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return conv(*args, **kwargs)

    monkeypatch.setattr(torch.nn.modules.conv.F, "conv2d", allocation_fails_later)
    out = tmp_path / "o.png"
    assert main([str(content_path), str(style_path), "-o", str(out), *TINY]) == 1
    err = capsys.readouterr().err
    assert err.startswith("painterly: error: out of memory on cpu at the 64x44 px scale (its plan expected about ")
    assert "use --size 45 or less, or a smaller --max-memory" in err and "unexpected" not in err and len(err.splitlines()) == 1
    assert calls["n"] > 40 and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_again_says_when_the_device_or_versions_differ(painted: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A result painted on a GPU this machine does not have, with another torch: painted here on the CPU,
    after one note saying it will not be identical."""
    record = json.loads(Image.open(painted / "out.png").info["painterly"])
    record.update(device="cuda:0", device_name="NVIDIA H100 80GB HBM3")
    record["painterly"]["torch"] = "2.0.0"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("painterly", json.dumps(record))
    Image.open(painted / "out.png").save(tmp_path / "gpu.png", pnginfo=info)
    assert main(["again", str(tmp_path / "gpu.png"), "-o", str(tmp_path / "here.png"), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == [f"painterly: note: painting on cpu, not cuda:0; torch is {torch.__version__} here, "
                                f"not 2.0.0: the result will be close to {tmp_path / 'gpu.png'}, not identical"]
    assert json.loads((tmp_path / "here.png.json").read_text())["device"] == "cpu"


@pytest.mark.slow
def test_again_takes_the_sidecar_itself(painted: Path, tmp_path: Path) -> None:
    assert main(["again", str(painted / "out.png.json"), "-o", str(tmp_path / "s.png"), "-q"]) == 0
    assert np.array_equal(pixels(tmp_path / "s.png"), pixels(painted / "out.png"))
