"""What ``painterly batch`` does with each input: refuses what is not a regular file, as photo or style, at once
and unread (a FIFO would block the reader for ever and ``/dev/zero`` never ends; the image fails alone, with the
reason), and prepares a good one once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from conftest import DATA
from painterly.cli import main

FLAGS = ["--size", "32", "--iterations", "1", "--no-multiscale", "--seed", "1", "--workers", "1", "-q"]


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    Image.open(DATA / "content.png").convert("RGB").resize((48, 36)).save(tmp_path / "photo.png")
    Image.open(DATA / "style.png").convert("RGB").resize((40, 40)).save(tmp_path / "style.png")
    os.mkfifo(tmp_path / "pipe.png")
    return {"photo": str(tmp_path / "photo.png"), "style": str(tmp_path / "style.png"),
            "fifo": str(tmp_path / "pipe.png"), "zero": "/dev/zero"}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("photo, style", [("fifo", "style"), ("zero", "style"), ("photo", "fifo"), ("photo", "zero")])
def test_a_fifo_or_dev_zero_fails_its_image_at_once(inputs, tmp_path, capsys, photo, style):
    out = tmp_path / "out"
    assert main(["batch", inputs[photo], "--style", inputs[style], "-o", str(out), *FLAGS]) == 1
    failed = json.loads((out / "summary.json").read_text())["failed"]
    assert len(failed) == 1, failed
    what = "content" if photo != "photo" else "style"
    assert f"{what} {inputs[photo if what == 'content' else style]}: not a regular file" in failed[0]["reason"]
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_a_batch_image_is_prepared_once(inputs, tmp_path, prepares):
    """The worker validates by preparing the painting before the network loads, and paints that plan."""
    out = tmp_path / "out"
    assert main(["batch", inputs["photo"], "--style", inputs["style"], "-o", str(out), *FLAGS]) == 0
    assert len(prepares) == 1
