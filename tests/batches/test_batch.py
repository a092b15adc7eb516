"""Batch runs end to end with the real VGG19 on small images (64 px, 5 iterations).

The album holds three photos and inputs that must fail alone: a damaged PNG, a dangling
symbolic link and a FIFO. Those two stand for "unreadable": they cannot be read even by
root, whereas a chmod 000 file can (tests may run as root), so the chmod case is added only
when not running as root.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import EXAMPLES
from painterly.batches import Event, Ledger, batch, expand
from painterly.batches.workers import CachingPainter, StyleTargetCache, cluster_plan
from painterly.cli import main
from painterly.config import StyleConfig
from painterly.images import load_image
from painterly.pipeline import Painter

CFG = StyleConfig(size=64, iterations=5, multiscale=False, seed=7)
FLAGS = ["--size", "64", "--iterations", "5", "--no-multiscale", "--seed", "7"]
GOOD = ["building.png", "fruits.png", "graf1.png"]
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _thumb(name: str, size: int, box: tuple[int, int, int, int] | None = None) -> Image.Image:
    im = Image.open(EXAMPLES / name).convert("RGB")
    if box:
        im = im.crop(box)
    im.thumbnail((size, size))
    return im


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread here, as in each pool or Dask worker process: the CI machine's cores are
    shared, and threads that wait for each other on a busy machine make every run slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def album(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("album")
    photos = root / "photos"
    photos.mkdir()
    _thumb("building.jpg", 96).save(photos / "building.png")
    _thumb("fruits.jpg", 80).save(photos / "fruits.jpg", quality=95)
    _thumb("graf1.jpg", 72).save(photos / "graf1.png")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    (photos / "gone.jpg").symlink_to(root / "deleted.jpg")
    os.mkfifo(photos / "pipe.png")  # reading it would block for ever: must be refused, not read
    if not AS_ROOT:
        (photos / "locked.png").write_bytes((photos / "building.png").read_bytes())
        (photos / "locked.png").chmod(0)
    (photos / "notes.txt").write_text("not an image; folders contribute image files only")
    _thumb("starry_night.jpg", 64).save(root / "style.png")
    return {"root": root, "photos": photos, "style": root / "style.png"}


def _bad_names() -> set[str]:
    return {"broken.png", "gone.png", "pipe.png"} | (set() if AS_ROOT else {"locked.png"})


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


@pytest.fixture(scope="module")
def local_run(album: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, int, str]:
    """``painterly batch`` over the folder, in this process: (out dir, summary, exit code, stdout)."""
    out = tmp_path_factory.mktemp("out-local")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["batch", str(album["photos"]), "--style", str(album["style"]), "-o", str(out),
                   "--workers", "1", "-q", *FLAGS])
    return out, json.loads((out / "summary.json").read_text()), rc, buf.getvalue()


@pytest.mark.slow
def test_local_run_paints_good_images_and_fails_bad_ones_alone(local_run, album):
    out, summary, rc, stdout = local_run
    assert rc == 1  # something failed
    assert json.loads(stdout) == summary  # the summary printed is the one written
    assert sorted(d["output"] for d in summary["done"]) == GOOD
    assert {f["output"] for f in summary["failed"]} == _bad_names()
    reasons = {f["output"]: f["reason"] for f in summary["failed"]}
    assert "damaged" in reasons["broken.png"] and "broken.png" in reasons["broken.png"]
    assert "broken symbolic link" in reasons["gone.png"]
    assert "not a regular file" in reasons["pipe.png"]
    if not AS_ROOT:
        assert "permissions" in reasons["locked.png"]
    assert summary["counts"] == {"done": 3, "skipped": 0, "failed": len(_bad_names()), "retried": 0}
    # Only finished images are written: no output for the failures, no temp files left over.
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(GOOD + ["batch-manifest.jsonl", "summary.json"])
    for name, content in zip(GOOD, ["building.png", "fruits.jpg", "graf1.png"]):
        img = Image.open(out / name)
        src = Image.open(album["photos"] / content)
        assert max(img.size) == 64 and img.mode == "RGB"
        assert abs(img.size[0] / img.size[1] - src.size[0] / src.size[1]) < 0.05
        record = json.loads(img.info["painterly"])
        assert record["config"]["seed"] == 7 and record["inputs"]["content"]["path"].endswith(content)
        painted = _pixels(out / name)
        original = np.asarray(src.convert("RGB").resize(img.size, Image.BICUBIC)).astype(np.int16)
        assert np.abs(painted - original).mean() > 3  # the style changed it


@pytest.mark.slow
def test_rerun_skips_everything_and_force_redoes(local_run, album, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(local_run[0], out)
    stamps = {n: (out / n).stat().st_mtime_ns for n in GOOD}
    with open(out / "batch-manifest.jsonl", "a") as f:
        f.write('{"output": "torn line of a crash')  # a crash mid-append must not break reruns
    events: list[Event] = []
    summary = batch([album["photos"]], [album["style"]], out, CFG, workers=1, callback=events.append)
    assert summary.done == [] and sorted(s["output"] for s in summary.skipped) == GOOD
    assert {f["output"] for f in summary.failed} == _bad_names()  # bad inputs still fail, alone
    assert {n: (out / n).stat().st_mtime_ns for n in GOOD} == stamps
    assert [e.done for e in events] == list(range(1, events[-1].total + 1))
    assert len(Ledger(out).entries) == 3
    # New options are a different output; --force redoes a finished one.
    one = album["photos"] / "graf1.png"
    assert batch([one], [album["style"]], out, CFG.replace(style_weight=50.0), workers=1).done
    assert [d["output"] for d in batch([one], [album["style"]], out, CFG, workers=1, force=True).done] == ["graf1.png"]
    assert batch([one], [album["style"]], out, CFG, workers=1).skipped


@pytest.mark.slow
def test_interrupted_run_resumes_without_redoing(local_run, album, tmp_path):
    out = tmp_path / "out"
    seen: list[str] = []

    def stop_during_second_image(ev: Event) -> None:
        seen.append(ev.status)
        if ev.status == "running" and "done" in seen:
            raise KeyboardInterrupt  # as Ctrl-C would, while the second image is half painted

    with pytest.raises(KeyboardInterrupt):
        batch([album["photos"]], [album["style"]], out, CFG, workers=1, callback=stop_during_second_image)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and [d["output"] for d in summary["done"]] == ["building.png"]
    assert sorted(p.name for p in out.glob("*.png")) == ["building.png"]  # no half-painted image
    first = (out / "building.png").stat().st_mtime_ns

    # Resume in a local pool of two processes: only the other two are painted.
    resumed = batch([album["photos"]], [album["style"]], out, CFG, workers=2)
    assert [s["output"] for s in resumed.skipped] == ["building.png"]
    assert sorted(d["output"] for d in resumed.done) == ["fruits.png", "graf1.png"]
    assert (out / "building.png").stat().st_mtime_ns == first
    for name in GOOD:  # one thread per process vs this process's threads: equal up to rounding
        diff = np.abs(_pixels(out / name) - _pixels(local_run[0] / name))
        assert diff.max() <= 3 and diff.mean() < 0.5


@pytest.mark.slow
def test_dask_cluster_matches_local_run(local_run, album, tmp_path):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "out"
    with distributed.LocalCluster(host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        summary = batch([album["photos"]], [album["style"]], out, CFG, scheduler=cluster.scheduler_address)
    assert sorted(d["output"] for d in summary.done) == GOOD
    assert {f["output"] for f in summary.failed} == _bad_names()
    for name in GOOD:
        diff = np.abs(_pixels(out / name) - _pixels(local_run[0] / name))
        assert diff.max() <= 3 and diff.mean() < 0.5, name


@pytest.mark.slow
def test_gpu_workers_get_the_jobs(album, tmp_path):
    distributed = pytest.importorskip("distributed")
    # As the scheduler reports them: GPU workers take every job, one per GPU; else one per thread.
    cpu = {"nthreads": 4, "resources": {}}
    gpu = {"nthreads": 2, "resources": {"GPU": 1}}
    assert cluster_plan({"a": cpu, "b": cpu}) == (None, 8)
    assert cluster_plan({"a": cpu, "b": gpu, "c": gpu}) == ({"GPU": 1}, 2)
    # A worker that advertises GPU=1 (here a CPU one, in-process threads: cheap to start) runs them.
    with distributed.LocalCluster(host="127.0.0.1", protocol="tcp://", n_workers=1, threads_per_worker=2,
                                  processes=False, resources={"GPU": 1}, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        summary = batch([album["photos"] / "graf1.png"], [album["style"]], tmp_path, CFG,
                        scheduler=cluster.scheduler_address)
    assert [d["output"] for d in summary.done] == ["graf1.png"] and not summary.failed


@pytest.mark.slow
def test_style_targets_are_computed_once_per_style_and_size(album):
    a = load_image(_thumb("building.jpg", 200, (0, 0, 400, 300)))
    b = load_image(_thumb("building.jpg", 200, (400, 250, 800, 550)))  # same size, other pixels
    style = load_image(album["style"])
    cache = StyleTargetCache()
    painter = CachingPainter(CFG, cache)
    painter.paint(a, [style])
    cached = painter.paint(b, [style])
    assert (cache.misses, cache.hits) == (1, 1)
    fresh = Painter(CFG).paint(b, [style])
    assert torch.equal(cached.image, fresh.image)  # caching changes nothing but the time
    painter.paint(load_image(_thumb("fruits.jpg", 200)), [style])  # another output size: a new entry
    assert cache.misses == 2
    # With colour matching, the style the network sees depends on the content: no false hits.
    matched = CFG.replace(preserve_colors="match")
    CachingPainter(matched, cache).paint(a, [style])
    assert torch.equal(CachingPainter(matched, cache).paint(b, [style]).image, Painter(matched).paint(b, [style]).image)


@pytest.mark.slow
def test_a_manifest_mixing_style_losses_paints_each_line_with_its_own_targets(album, tmp_path):
    """Lines that share a style and a size but not the style loss must not share cached targets:
    the cache key is Painter.target_key, made of the fields style_targets reads (the style loss was once missing)."""
    from painterly.batches import workers

    root = album["root"]
    (root / "losses.csv").write_text("content,style,style_loss,output\n"
                                     "photos/building.png,style.png,gram,gram.png\n"
                                     "photos/building.png,style.png,swd,swd.png\n")
    workers.TARGETS._items.clear()
    gatys = CFG.replace(method="gatys")  # the style losses are Gatys et al.'s
    mixed = batch([root / "losses.csv"], [], tmp_path / "mixed", gatys, workers=1)  # one process: one cache
    assert sorted(d["output"] for d in mixed.done) == ["gram.png", "swd.png"] and not mixed.failed
    workers.TARGETS._items.clear()
    (root / "swd.csv").write_text("content,style,style_loss,output\nphotos/building.png,style.png,swd,swd.png\n")
    alone = batch([root / "swd.csv"], [], tmp_path / "alone", gatys, workers=1)
    assert not alone.failed
    assert np.array_equal(_pixels(tmp_path / "mixed" / "swd.png"), _pixels(tmp_path / "alone" / "swd.png"))
    assert not np.array_equal(_pixels(tmp_path / "mixed" / "swd.png"), _pixels(tmp_path / "mixed" / "gram.png"))


@pytest.mark.slow
def test_manifests_give_per_line_styles_and_options(album, tmp_path):
    root = album["root"]
    (root / "list.csv").write_text(
        "Content,Style,size,Style-Weight,output\n"
        "photos/building.png,style.png,48,,\n"
        "photos/fruits.jpg,,,200,big/fruits.webp\n"
        "photos/fruits.jpg,style.png,sixty,,\n"
    )
    (root / "list.jsonl").write_text(
        '{"content": "photos/graf1.png", "style": ["style.png", "style.png"], "options": {"iterations": 3}}\n'
        "# comments and blank lines are skipped\n\n"
        '{"content": "photos/graf1.png", "colour": "red"}\n'
        "not json\n"
    )
    jobs, failed = expand([root / "list.csv", root / "list.jsonl"], [album["style"]], CFG)
    assert [(j.output, j.config.size, j.config.style_weight, len(j.styles)) for j in jobs] == [
        ("building.png", 48, CFG.style_weight, 1), ("big/fruits.webp", 64, 200.0, 1), ("graf1.png", 64, CFG.style_weight, 2)]
    assert jobs[2].config.iterations == 3
    reasons = {f["input"].rsplit("/", 1)[-1]: f["reason"] for f in failed}
    assert "--size must be a number, got 'sixty'" in reasons["list.csv:4"]
    assert "unknown option 'colour'" in reasons["list.jsonl:4"]
    assert "not valid JSON" in reasons["list.jsonl:5"]

    out = tmp_path / "out"
    summary = batch([root / "list.csv"], [album["style"]], out, CFG, workers=1)
    assert sorted(d["output"] for d in summary.done) == ["big/fruits.webp", "building.png"]
    assert max(Image.open(out / "building.png").size) == 48
    assert Image.open(out / "big" / "fruits.webp").format == "WEBP"


def test_each_style_and_unique_names(album, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(album["photos"] / "graf1.png", other / "graf1.png")  # same name, other folder
    jobs, failed = expand([album["photos"] / "graf1.png", other / "graf1.png"],
                          [album["style"], EXAMPLES / "graf1.jpg"], CFG, each_style=True, output_format="jpg")
    names = [j.output for j in jobs]
    assert len(names) == 4 == len(set(names)) and not failed
    assert all(n.startswith("graf1--") and n.endswith(".jpg") for n in names)
    again, _ = expand([album["photos"] / "graf1.png", other / "graf1.png"],
                      [album["style"], EXAMPLES / "graf1.jpg"], CFG, each_style=True, output_format="jpg")
    assert [j.output for j in again] == names  # reruns find the same names
    _, missing = expand([tmp_path / "nope", str(tmp_path / "*.png")], [album["style"]], CFG)
    assert [m["reason"] for m in missing] == ["no such file or folder; check the path", "matched no image files"]


@pytest.mark.parametrize("argv, message", [
    (["photos"], "give --style"),
    (["photos", "--style", "s.png", "--workers", "0"], "--workers must be at least 1"),
    (["photos", "--style", "s.png", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "--workers"),
    (["photos", "--style", "s.png", "--format", "gif"], "invalid choice"),
    (["photos", "--style", "a.png", "--style", "b.png", "--style-blend-weights", "1"], "--style-blend-weights"),
])
def test_usage_errors_exit_2_with_one_line(argv, message, tmp_path, capsys):
    assert main(["batch", *argv, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_unreachable_scheduler_fails_fast_with_one_line(album, tmp_path, capsys):
    dask = pytest.importorskip("dask")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        rc = main(["batch", str(album["photos"]), "--style", str(album["style"]), "-o", str(tmp_path / "out"),
                   "--scheduler", "tcp://127.0.0.1:9", "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "cannot connect" in err and "dask scheduler" in err and "Traceback" not in err
