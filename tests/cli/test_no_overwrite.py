"""No command writes its result over one of its inputs (the user's original would be lost)."""

import hashlib
import os
import shutil

import pytest

from conftest import DATA
from painterly.cli import main

FAST = ["--size", "32", "--iterations", "1", "--no-multiscale", "--quiet"]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def files(tmp_path, content_path, style_path, style2_path):
    """Copies of the inputs (so the test could see a change), and a mask."""
    out = {}
    for name, src in (("content", content_path), ("style", style_path), ("style2", style2_path)):
        out[name] = tmp_path / f"{name}.png"
        shutil.copy(src, out[name])
    out["mask"] = tmp_path / "mask.png"
    shutil.copy(content_path, out["mask"])
    return out


CASES = [
    ("-o", "content", []),
    ("-o", "style", []),
    ("-o", "mask", ["--mask", "{mask}"]),
    ("-o", "style2", ["--init", "{style2}"]),
    ("--sheet", "content", []),
    ("--plot", "style", []),
]


@pytest.mark.parametrize("option, victim, extra", CASES)
def test_paint_refuses_to_overwrite_an_input(tmp_path, capsys, files, option, victim, extra):
    before = {k: _digest(p) for k, p in files.items()}
    argv = [str(files["content"]), str(files["style"]), *[a.format(**files) for a in extra], *FAST]
    if option != "-o":
        argv += ["-o", str(tmp_path / "out.png")]
    # The same file under another spelling: a relative path through "..".
    target = os.path.relpath(files[victim], os.getcwd())
    assert main([*argv, option, target]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is the input file" in err and option.lstrip("-")[:1] in err
    assert {k: _digest(p) for k, p in files.items()} == before
    assert not (tmp_path / "out.png").exists()


def test_a_hard_link_to_an_input_is_the_same_file(tmp_path, capsys, files):
    link = tmp_path / "link.png"
    os.link(files["content"], link)
    before = _digest(files["content"])
    assert main([str(files["content"]), str(files["style"]), "-o", str(link), *FAST]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert _digest(files["content"]) == before


def test_coarse_and_fine_styles_are_inputs_too(tmp_path, capsys, files):
    assert main([str(files["content"]), "--coarse-style", str(files["style"]), "--fine-style", str(files["style2"]),
                 "-o", str(files["style2"]), *FAST]) == 2
    assert "is the input file" in capsys.readouterr().err


def test_explain_and_texture_refuse_their_inputs(capsys, files):
    assert main(["explain", str(files["content"]), str(files["style"]), "-o", str(files["style"]), "--quiet"]) == 2
    assert main(["texture", str(files["style"]), "-o", str(files["style"]), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("is the input file" in line for line in err)


def test_video_refuses_its_style_as_output(tmp_path, capsys, files):
    pytest.importorskip("av")

    clip = tmp_path / "clip.mp4"
    shutil.copy(DATA / "clip.mp4", clip)
    before = _digest(clip)
    assert main(["video", str(clip), str(files["style"]), "-o", str(clip), "--quiet"]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert _digest(clip) == before
