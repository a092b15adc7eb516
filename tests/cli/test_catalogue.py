"""The catalogue of bad input: every documented way to get it wrong, through the real CLI.

Each case runs one ``painterly`` command line (tests/cli/catalogue_runner.py: the console script in
a forked child, tiny sizes, the real network) in a folder of good and bad input files, and must
end with the expected exit code (2: fix the command; 1: it could not be done), exactly one line
on stderr, no traceback, and the folder exactly as it was: no new file, no changed file, no
half-written output. docs/reliability.md promises this; the list below is what it covers.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import DATA
from painterly.meta import file_digest
from test_images_fuzz import PNG_SIGNATURE, png_chunk

RUNNER = Path(__file__).parent / "catalogue_runner.py"
USAGE, FAILURE = 2, 1

P = ["photo.png", "style.png"]  # a good photo and painting
OUT = ["-o", "out.png"]  # a good output
T = ["--size", "32", "-n", "1", "--no-multiscale", "-q"]  # tiny, when a case gets as far as painting
V = ["clip.mp4", "style.png", "-o", "out.mp4"]
MPS = torch.backends.mps.is_available()  # where torch has an Apple GPU, --device mps paints
X = ["photo.png", "style.png", "-o", "out.png"]  # explain
S = ["style.png", "-o", "out.png"]  # texture

CASES: list[tuple[str, list[str], int]] = [
    # files
    ("missing photo", ["nope.jpg", "style.png", *OUT], USAGE),
    ("missing style", ["photo.png", "nope.jpg", *OUT], USAGE),
    ("photo is a folder", ["folder", "style.png", *OUT], USAGE),
    ("empty file", ["empty.jpg", "style.png", *OUT], USAGE),
    ("text named .jpg", ["text.jpg", "style.png", *OUT], USAGE),
    ("truncated JPEG", ["truncated.jpg", "style.png", *OUT], USAGE),
    ("truncated PNG", ["photo.png", "truncated.png", *OUT], USAGE),
    ("PNG header claiming 10 gigapixels", ["bomb.png", "style.png", *OUT], USAGE),
    ("16-bit PNG header claiming 10 gigapixels", ["bomb16.png", "style.png", *OUT], USAGE),
    ("a 1x2000 strip as the photo", ["strip.png", "style.png", *OUT, *T], USAGE),
    ("a 2000x1 strip as the style", ["photo.png", "wide.png", *OUT, *T], USAGE),
    ("no style at all", ["photo.png", *OUT], USAGE),
    # outputs
    ("-o missing", P, USAGE),
    ("-o unknown type", [*P, "-o", "out.txt"], USAGE),
    ("-o in a missing folder", [*P, "-o", "nowhere/out.png"], USAGE),
    ("-o is a folder", [*P, "-o", "folder.png"], USAGE),
    ("-o is the photo", [*P, "-o", "photo.png"], USAGE),
    ("-o is the style", [*P, "-o", "style.png"], USAGE),
    ("--sheet is the photo", [*P, *OUT, "--sheet", "photo.png"], USAGE),
    ("--plot unknown type", [*P, *OUT, "--plot", "plot.txt"], USAGE),
    ("--bit-depth 16 as JPEG", [*P, "-o", "out.jpg", "--bit-depth", "16"], USAGE),
    ("--bit-depth 12", [*P, *OUT, "--bit-depth", "12"], USAGE),
    ("--save-every -1", [*P, *OUT, "--save-every", "-1"], USAGE),
    # numbers
    ("--size 0", [*P, *OUT, "--size", "0"], USAGE),
    ("--size -5", [*P, *OUT, "--size", "-5"], USAGE),
    ("--size 1000000", [*P, *OUT, "--size", "1000000"], USAGE),
    ("--size abc", [*P, *OUT, "--size", "abc"], USAGE),
    ("--iterations 1e12", [*P, *OUT, "-n", "1e12"], USAGE),
    ("--iterations 10**9", [*P, *OUT, "-n", "1000000000"], USAGE),
    ("--style-weight inf", [*P, *OUT, "--style-weight", "inf"], USAGE),
    ("--style-weight nan", [*P, *OUT, "--style-weight", "nan"], USAGE),
    ("--style-weight -1", [*P, *OUT, "--style-weight", "-1"], USAGE),
    ("--content-weight inf", [*P, *OUT, "--content-weight", "inf"], USAGE),
    ("--tv-weight inf", [*P, *OUT, "--tv-weight", "inf"], USAGE),
    ("--learning-rate inf", [*P, *OUT, "--learning-rate", "inf", "--optimizer", "adam"], USAGE),
    ("--tolerance -1", [*P, *OUT, "--tolerance", "-1"], USAGE),
    ("--patience -1", [*P, *OUT, "--patience", "-1"], USAGE),
    ("--style-scale 0", [*P, *OUT, "--style-scale", "0"], USAGE),
    ("--style-scale 1e5", [*P, *OUT, "--style-scale", "1e5"], USAGE),
    ("--style-scale inf", [*P, *OUT, "--style-scale", "inf"], USAGE),
    ("--style-scale count", [*P, *OUT, "--style-scale", "1,2"], USAGE),
    ("--style-blend-weights inf", [*P, "style.png", *OUT, "--style-blend-weights", "1,inf"], USAGE),
    ("--style-blend-weights count", [*P, *OUT, "--style-blend-weights", "1,2"], USAGE),
    ("--style-blend-weights all zero", [*P, "style.png", *OUT, "--style-blend-weights", "0,0"], USAGE),
    ("--max-memory inf", [*P, *OUT, "--max-memory", "inf"], USAGE),
    ("--max-memory 0", [*P, *OUT, "--max-memory", "0"], USAGE),
    ("--max-memory too small to paint", [*P, *OUT, "--max-memory", "0.001", "--size", "512"], USAGE),
    ("--min-scale-size 4", [*P, *OUT, "--min-scale-size", "4"], USAGE),
    ("--seed -1", [*P, *OUT, "--seed", "-1"], USAGE),
    # names
    ("--style-layers bogus", [*P, *OUT, "--style-layers", "relu9_9"], USAGE),
    ("--content-layers empty", [*P, *OUT, "--content-layers", ""], USAGE),
    ("--style-layer-weights count", [*P, *OUT, "--style-layer-weights", "1,2"], USAGE),
    ("--optimizer sgd", [*P, *OUT, "--optimizer", "sgd"], USAGE),
    ("--style-loss bogus", [*P, *OUT, "--style-loss", "bogus"], USAGE),
    ("--init missing file", [*P, *OUT, "--init", "nope.png"], USAGE),
    ("--init is the output", [*P, "-o", "init.png", "--init", "init.png"], USAGE),
    ("--preserve-colors bogus", [*P, *OUT, "--preserve-colors", "bogus"], USAGE),
    ("--device bogus", [*P, *OUT, "--device", "tpu"], USAGE),
    ("--device cuda without a GPU", [*P, *OUT, "--device", "cuda"], USAGE),
    ("--device cuda:1 without a GPU", [*P, *OUT, "--device", "cuda:1"], USAGE),
    ("--device cuda:x", [*P, *OUT, "--device", "cuda:x"], USAGE),
    *([("--device mps without one", [*P, *OUT, "--device", "mps"], USAGE)] if not MPS else []),
    ("--threads 0", [*P, *OUT, "--threads", "0"], USAGE),
    ("--threads abc", [*P, *OUT, "--threads", "abc"], USAGE),
    ("--threads 10**6", [*P, *OUT, "--threads", "1000000"], USAGE),
    ("--quality 101", [*P, "-o", "out.jpg", "--quality", "101"], USAGE),
    ("--quality 0", [*P, "-o", "out.webp", "--quality", "0"], USAGE),
    ("--quality for a PNG", [*P, *OUT, "--quality", "80"], USAGE),
    ("--weights missing", [*P, *OUT, "--weights", "nope.pth"], USAGE),
    ("--weights not weights", [*P, *OUT, "--weights", "text.jpg", *T], FAILURE),
    ("unknown option", [*P, *OUT, "--colour", "red"], USAGE),
    # not regular files: a pipe blocks for ever and /dev/zero never ends; each is refused at once, unread
    ("photo is a FIFO", ["pipe.png", "style.png", *OUT], USAGE),
    ("photo is /dev/zero", ["/dev/zero", "style.png", *OUT], USAGE),
    ("style is a FIFO", ["photo.png", "pipe.png", *OUT], USAGE),
    ("style is /dev/zero", ["photo.png", "/dev/zero", *OUT], USAGE),
    # (masks are gatys's: without --method gatys a mask is refused before it is read, and the case tests nothing)
    ("--mask is a FIFO", [*P, *OUT, "--method", "gatys", "--mask", "pipe.png"], USAGE),
    ("--mask is /dev/zero", [*P, *OUT, "--method", "gatys", "--mask", "/dev/zero"], USAGE),
    ("--coarse-style is /dev/zero", [*P, *OUT, "--method", "gatys", "--coarse-style", "/dev/zero"], USAGE),
    ("--init is a FIFO", [*P, *OUT, "--init", "pipe.png"], USAGE),
    ("--init is /dev/zero", [*P, *OUT, "--init", "/dev/zero"], USAGE),
    ("--preset is a FIFO", [*P, *OUT, "--preset", "pipe.toml"], USAGE),
    ("video input is a FIFO", ["video", "pipe.mp4", "style.png", "-o", "out.mp4"], USAGE),
    ("video input is /dev/zero", ["video", "/dev/zero", "style.png", "-o", "out.mp4"], USAGE),
    ("video style is a FIFO", ["video", "clip.mp4", "pipe.png", "-o", "out.mp4"], USAGE),
    ("video style is /dev/zero", ["video", "clip.mp4", "/dev/zero", "-o", "out.mp4"], USAGE),
    ("video --mask is a FIFO", ["video", *V, "--method", "gatys", "--mask", "pipe.png"], USAGE),
    ("video --mask is /dev/zero", ["video", *V, "--method", "gatys", "--mask", "/dev/zero"], USAGE),
    ("texture sample is a FIFO", ["texture", "pipe.png", "-o", "out.png"], USAGE),
    ("texture sample is /dev/zero", ["texture", "/dev/zero", "-o", "out.png"], USAGE),
    ("explain photo is a FIFO", ["explain", "pipe.png", "style.png", "-o", "out.png"], USAGE),
    ("explain photo is /dev/zero", ["explain", "/dev/zero", "style.png", "-o", "out.png"], USAGE),
    ("explain style is a FIFO", ["explain", "photo.png", "pipe.png", "-o", "out.png"], USAGE),
    ("explain style is /dev/zero", ["explain", "photo.png", "/dev/zero", "-o", "out.png"], USAGE),
    # (batch: an unreadable input fails alone, its image listed as failed: tests/batches/test_batch_inputs.py)
    # presets, masks, controls
    ("--preset missing", [*P, *OUT, "--preset", "nope.toml"], USAGE),
    ("--preset not TOML", [*P, *OUT, "--preset", "broken.toml"], USAGE),
    ("--preset unknown key", [*P, *OUT, "--preset", "unknown.toml"], USAGE),
    ("--preset with inf", [*P, *OUT, "--preset", "inf.toml"], USAGE),
    ("--preset wrong type", [*P, *OUT, "--preset", "wrongtype.toml"], USAGE),
    ("--preset not JSON", [*P, *OUT, "--preset", "broken.json"], USAGE),
    ("--preset JSON null size", [*P, *OUT, "--preset", "nullsize.json"], USAGE),
    # again
    ("again missing result", ["again", "nope.png"], USAGE),
    ("again on a PNG with no record", ["again", "photo.png"], USAGE),
    ("again with a garbled record", ["again", "garbled.png"], USAGE),
    ("again with a changed input", ["again", "changed.png"], USAGE),
    ("again with a missing input", ["again", "orphan.png"], USAGE),
    ("again -o is the result", ["again", "good.png", "-o", "good.png"], USAGE),
    ("again -o is its photo", ["again", "good.png", "-o", "photo.png"], USAGE),
    ("again --quality 101", ["again", "good.png", "-o", "again.jpg", "--quality", "101"], USAGE),
    ("again --device cuda:x", ["again", "good.png", "--device", "cuda:x"], USAGE),
    ("--mask missing", [*P, *OUT, "--mask", "nope.png"], USAGE),
    ("--mask count", [*P, *OUT, "--mask", "mask.png", "--mask", "mask.png"], USAGE),
    ("--mask not an image", [*P, *OUT, "--mask", "text.jpg"], USAGE),
    ("--coarse-style missing", [*P, *OUT, "--coarse-style", "nope.png"], USAGE),
    ("--coarse-layer bogus", [*P, *OUT, "--coarse-style", "style.png", "--coarse-layer", "relu9_1"], USAGE),
    # texture
    ("texture --size 200000x200000", ["texture", *S, "--size", "200000x200000"], USAGE),
    ("texture --size 0x5", ["texture", *S, "--size", "0x5"], USAGE),
    ("texture --size abc", ["texture", *S, "--size", "abc"], USAGE),
    ("texture -o is the sample", ["texture", "style.png", "-o", "style.png"], USAGE),
    ("texture missing sample", ["texture", "nope.png", "-o", "out.png"], USAGE),
    ("texture --style-weight inf", ["texture", *S, "--style-weight", "inf"], USAGE),
    ("texture sample a strip", ["texture", "strip.png", "-o", "out.png", "--size", "32x32", "-n", "1", "-q"], USAGE),
    # explain
    ("explain --size 5", ["explain", *X, "--size", "5"], USAGE),
    ("explain -o is the photo", ["explain", "photo.png", "style.png", "-o", "photo.png"], USAGE),
    ("explain -o unknown type", ["explain", "photo.png", "style.png", "-o", "out.txt"], USAGE),
    ("explain text as the style", ["explain", "photo.png", "text.jpg", "-o", "out.png"], USAGE),
    # video
    ("video --fps 0", ["video", *V, "--fps", "0"], USAGE),
    ("video --fps nan", ["video", *V, "--fps", "nan"], USAGE),
    ("video --fps 1e9", ["video", *V, "--fps", "1e9"], USAGE),
    ("video --fps abc", ["video", *V, "--fps", "abc"], USAGE),
    ("video --crf 99", ["video", *V, "--crf", "99"], USAGE),
    ("video --duration -1", ["video", *V, "--duration", "-1"], USAGE),
    ("video --start past the end", ["video", *V, "--start", "100", *T], USAGE),
    ("video --frame-iterations -1", ["video", *V, "--frame-iterations", "-1"], USAGE),
    ("video --temporal-weight inf", ["video", *V, "--temporal-weight", "inf"], USAGE),
    ("video --scene-cut 2", ["video", *V, "--scene-cut", "2"], USAGE),
    ("video missing input", ["video", "nope.mp4", "style.png", "-o", "out.mp4"], USAGE),
    ("video not a video", ["video", "text.mp4", "style.png", "-o", "out.mp4", *T], USAGE),
    ("video -o unknown type", ["video", "clip.mp4", "style.png", "-o", "out.txt"], USAGE),
    ("video -o is the input", ["video", "clip.mp4", "style.png", "-o", "clip.mp4"], USAGE),
    ("video -o is the style", ["video", "clip.mp4", "style.png", "-o", "style.png"], USAGE),
    # eval
    ("eval missing output", ["eval", "photo.png", "style.png", "nope.png"], USAGE),
    ("eval --size 5", ["eval", "photo.png", "style.png", "photo.png", "--size", "5"], USAGE),
    ("eval --json is an input", ["eval", "photo.png", "style.png", "photo.png", "--json", "style.png"], USAGE),
    ("eval damaged output", ["eval", "photo.png", "style.png", "truncated.png"], USAGE),
    # batch
    ("batch missing input", ["batch", "nope/", "--style", "style.png", "-o", "results"], USAGE),
    ("batch no style", ["batch", "photo.png", "-o", "results"], USAGE),
    ("batch --workers 0", ["batch", "photo.png", "--style", "style.png", "-o", "results", "--workers", "0"], USAGE),
    ("batch --workers -3", ["batch", "photo.png", "--style", "style.png", "-o", "results", "--workers", "-3"], USAGE),
    ("batch broken manifest", ["batch", "broken.csv", "-o", "results"], USAGE),
    ("batch manifest with inf", ["batch", "infs.csv", "-o", "results"], USAGE),
    ("batch --format gif", ["batch", "photo.png", "--style", "style.png", "-o", "results", "--format", "gif"], USAGE),
    ("batch -o is a file", ["batch", "photo.png", "--style", "style.png", "-o", "photo.png"], USAGE),
    ("batch --scheduler unreachable", ["batch", "photo.png", "--style", "style.png", "-o", "results", "--scheduler", "x"],
     FAILURE),
    ("batch --size inf", ["batch", "photo.png", "--style", "style.png", "-o", "results", "--size", "inf"], USAGE),
    # serve (refused before it listens, and before it creates its folder)
    ("serve --port 99999", ["serve", "--port", "99999", "--output-dir", "gallery"], USAGE),
    ("serve --port -1", ["serve", "--port", "-1", "--output-dir", "gallery"], USAGE),
    ("serve --max-size 0", ["serve", "--max-size", "0", "--output-dir", "gallery"], USAGE),
    ("serve --output-dir is a file", ["serve", "--output-dir", "photo.png"], USAGE),
    ("serve --host unknown", ["serve", "--host", "no-such-host.invalid", "--output-dir", "gallery"], USAGE),
    # commands
    ("unknown option to texture", ["texture", *S, "--bogus"], USAGE),
    ("nothing at all", [], USAGE),
]


def _png_with_header(width: int, height: int, depth: int, color: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height``, with one tiny compressed row."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good and bad inputs, side by side, as a user's folder might hold them."""
    d = tmp_path_factory.mktemp("catalogue")
    Image.open(DATA / "content.png").convert("RGB").resize((48, 36)).save(d / "photo.png")
    Image.open(DATA / "style.png").convert("RGB").resize((40, 40)).save(d / "style.png")
    Image.new("L", (48, 36), 255).save(d / "mask.png")
    Image.new("RGB", (1, 2000), (90, 60, 30)).save(d / "strip.png")
    Image.new("RGB", (2000, 1), (90, 60, 30)).save(d / "wide.png")
    shutil.copy(DATA / "clip.mp4", d / "clip.mp4")
    shutil.copy(d / "photo.png", d / "init.png")
    (d / "folder").mkdir()
    (d / "folder.png").mkdir()
    (d / "empty.jpg").write_bytes(b"")
    (d / "text.jpg").write_text("not a picture\n")
    (d / "text.mp4").write_text("not a video\n")
    Image.open(d / "photo.png").save(d / "full.jpg", quality=90)
    (d / "truncated.jpg").write_bytes((d / "full.jpg").read_bytes()[:300])
    (d / "full.jpg").unlink()
    (d / "truncated.png").write_bytes((d / "photo.png").read_bytes()[:200])
    (d / "bomb.png").write_bytes(_png_with_header(100_000, 100_000, 8, 2))
    (d / "bomb16.png").write_bytes(_png_with_header(100_000, 100_000, 16, 2))
    # A named pipe, reached through links (the runner copies the folder, and a pipe cannot be copied).
    pipe = tmp_path_factory.mktemp("pipes") / "pipe"
    os.mkfifo(pipe)
    for name in ("pipe.png", "pipe.toml", "pipe.mp4"):
        (d / name).symlink_to(pipe)
    (d / "broken.toml").write_text("style_weight = = 3\n")
    (d / "unknown.toml").write_text("colour = 'red'\n")
    (d / "inf.toml").write_text("style_weight = inf\n")
    (d / "wrongtype.toml").write_text("size = 'large'\n")
    (d / "broken.csv").write_text('content,style\n"photo.png,style.png\n')
    (d / "infs.csv").write_text("content,style,style_weight\nphoto.png,style.png,inf\n")
    (d / "broken.json").write_text('{"size": 32,')
    (d / "nullsize.json").write_text('{"size": null}')
    _results_with_records(d)
    return d


def _results_with_records(d: Path) -> None:
    """Results for ``painterly again``: a good record, a garbled one, one whose photo changed, one whose photo is gone."""
    def record(content: dict[str, str]) -> str:
        style = {"path": "style.png", "sha256": file_digest(d / "style.png")}
        return json.dumps({"painterly": {}, "config": {"size": 32, "iterations": 1, "multiscale": False, "seed": 1},
                           "inputs": {"content": content, "styles": [style]}, "device": "cpu", "threads": 1})

    photo = {"path": "photo.png", "sha256": file_digest(d / "photo.png")}
    cases = {"good": record(photo), "garbled": "{not json", "changed": record({**photo, "sha256": "0" * 64}),
             "orphan": record({"path": "gone.png", "sha256": "0" * 64})}
    for name, text in cases.items():
        shutil.copy(d / "photo.png", d / f"{name}.png")
        (d / f"{name}.png.json").write_text(text)


@pytest.fixture(scope="module")
def results(folder: Path) -> dict[str, dict[str, object]]:
    """Every case run once, by one runner process, in ``folder``."""
    job = {"folder": str(folder), "cases": [argv for _, argv, _ in CASES]}
    proc = subprocess.run([sys.executable, str(RUNNER)], input=json.dumps(job), capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr
    return {name: r for (name, _, _), r in zip(CASES, json.loads(proc.stdout))}


@pytest.mark.slow
@pytest.mark.parametrize("name, argv, code", CASES, ids=[c[0] for c in CASES])
def test_bad_input(results: dict[str, dict[str, object]], name: str, argv: list[str], code: int) -> None:
    r = results[name]
    stderr = str(r["stderr"])
    assert "Traceback" not in stderr, stderr
    assert len(stderr.splitlines()) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert r["code"] == code, stderr
    assert r["changed"] == [], f"the folder changed: {r['changed']}"
    if "FIFO" in name or "/dev/zero" in name:  # refused for what it is (not for another fault), at once, unread
        assert "not a regular file" in stderr, stderr
        assert float(r["seconds"]) < 10, f"took {r['seconds']} s: was it read?"  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_write_that_fails_after_painting_names_the_output(folder: Path, tmp_path: Path) -> None:
    """A disk that fills up while the result is written (here: a 1 KB file-size limit, so the painting
    runs and only the write fails) gives one line naming the user's path, exit 1, and no file."""
    import resource
    import signal

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    out = tmp_path / "result.png"
    proc = subprocess.run([sys.executable, "-m", "painterly", str(folder / "photo.png"), str(folder / "style.png"),
                           "-o", str(out), *T], capture_output=True, text=True, timeout=300, preexec_fn=small_files)
    assert proc.returncode == FAILURE, proc.stderr
    assert proc.stderr.splitlines() == [f"painterly: error: {out}: cannot be written (File too large); "
                                        "check the free space and the folder"]
    assert list(tmp_path.iterdir()) == []  # no output, and no temporary file left behind
