"""A tiled scale's tiles painted at once on a pool (painterly.tilepool), and a stopped tiled painting resumed
from the tiles it finished (painterly.tilefolder): real workers, real network, small pictures (160x110 px in
96 px tiles: the last scale is 6 tiles, the first, 64 px, is painted whole in this process)."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest
import torch

from conftest import DATA
from painterly.cli import main
from painterly.config import StyleConfig
from painterly.images import load_image
from painterly.optimize import Interrupted
from painterly.pipeline import Painter
from painterly.tilefolder import TileFolder, tile_folder_for, tiles_key

SIZE, TILE, ITERATIONS, SEED = 160, 96, 2, 1
CFG = StyleConfig(size=SIZE, tile_size=TILE, iterations=ITERATIONS, seed=SEED, threads=1)
ARGS = ["--size", str(SIZE), "--tile-size", str(TILE), "--iterations", str(ITERATIONS), "--seed", str(SEED),
        "--threads", "1", "--bit-depth", "16"]
TOLERANCE = 1e-4  # a 16-bit PNG's rounding; the tiles themselves come back equal to this process's


def _command(out: Path, *more: str) -> list[str]:
    return [str(DATA / "content.png"), str(DATA / "style.png"), "-o", str(out), *ARGS, *more]


@pytest.fixture(scope="module")
def painted():
    """The painter, its plan, and the picture painted in this process, tile by tile."""
    painter = Painter(CFG)
    plan = painter.prepare(load_image(DATA / "content.png", what="content"), [load_image(DATA / "style.png")])
    assert [len(s.tiles) if s.tile else 0 for s in plan.scales] == [0, 6]
    return painter, plan, painter.run(plan).image


def _written(out: Path) -> torch.Tensor:
    return load_image(out, what="result").rgb


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_stopped_painting_resumes_from_its_finished_tiles_on_local_workers(painted, tmp_path, capsys):
    """Stopped in its second tile, a painting keeps its first in OUT.tiles/; the same command started again
    (here on two local worker processes) skips the coarse scale, paints the five tiles left, and writes the
    picture one uninterrupted run paints; then the folder goes."""
    painter, plan, whole = painted
    out = tmp_path / "o.png"
    folder = TileFolder(tile_folder_for(out), tiles_key(plan, SEED))  # what the command opens for these options
    folder.open(plan.cfg.seed)

    def stop(step):
        if step.tile == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        painter.run(plan, callback=stop, tile_store=folder)
    assert folder.kept == (1, 1) and sorted(p.name for p in folder.path.glob("tile_*")) == ["tile_0000.npy"]
    assert main(_command(out, "--workers", "2")) == 0
    err = capsys.readouterr().err
    assert f"resuming from {folder.path}: 1 of 6 tiles of the 160x110 px scale are finished" in err
    assert f"({5 * plan.scales[-1].iterations} iterations," in err  # five tiles painted, no coarse scale
    assert not folder.path.exists()
    assert (_written(out) - whole).abs().max() < TOLERANCE
    record = json.loads(out.with_name("o.png.json").read_text())
    assert record["tiled"] == {"workers": 2, "scheduler": None, "retried": []}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_tiles_on_a_local_dask_cluster_paint_this_processes_picture(painted):
    """Two one-thread workers of a LocalCluster on 127.0.0.1 share the tiles; the coarse scale stays here.
    Each tile comes back as this process paints it, so the picture is this process's (to the blend's rounding:
    tiles are added as they come back), and the progress counts the tiles as they finish."""
    distributed = pytest.importorskip("distributed")
    from painterly.pools import DaskPool
    from painterly.tilepool import OnPool

    painter, plan, whole = painted
    steps = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        pool = DaskPool(cluster.scheduler_address)
        try:
            on = OnPool(pool, plan)
            result = painter.run(plan, callback=steps.append, tiles_elsewhere=on)
        finally:
            pool.close(cancel=False)
    assert (result.image - whole).abs().max() < 1e-6
    assert len(on.workers) == 2 and not on.retried
    tiled = [(s.tile, s.tiles, s.image is not None) for s in steps if s.scale == 1]
    assert tiled == [(k, 6, k == 6) for k in range(1, 7)]  # one step per tile finished; the picture after the last
    assert steps[0].scale == 0 and steps[-1].done == steps[-1].total


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_tile_whose_dask_worker_is_lost_is_painted_again(painted, tmp_path, capsys):
    """``--scheduler``: a scheduler and two one-thread workers on 127.0.0.1 (real processes, as the batch's
    cluster test starts them); one worker is killed once the first tile is kept, while it paints another. The
    picture still completes, equal to this process's, and the record names the tiles painted again."""
    from batches.dask_processes import dask_cluster

    pytest.importorskip("distributed")
    *_, whole = painted
    out = tmp_path / "o.png"
    killed: list[int] = []
    with dask_cluster(2, tmp_path) as cluster:
        def kill_after_the_first_tile() -> None:
            deadline = time.monotonic() + 120
            while not any(tile_folder_for(out).glob("tile_*.npy")) and time.monotonic() < deadline:
                time.sleep(0.02)
            killed.append(cluster.kill(0))

        watcher = threading.Thread(target=kill_after_the_first_tile, daemon=True)
        watcher.start()
        assert main(_command(out, "--scheduler", cluster.address)) == 0
        watcher.join(5)
    assert killed
    assert (_written(out) - whole).abs().max() < TOLERANCE
    retried = json.loads(out.with_name("o.png.json").read_text())["tiled"]["retried"]
    assert retried and all(k == 1 for k, _ in retried)
    assert not tile_folder_for(out).exists()


def test_a_changed_command_never_reuses_stale_tiles(tmp_path):
    """The key is a hash of the prepared plan: other options, or another start of the scale, start afresh."""
    folder = TileFolder(tmp_path / "o.png.tiles", "a")
    assert folder.open(7) is False
    start = torch.rand(1, 3, 20, 30)
    assert folder.begin(1, start) == {}
    folder.keep(0, start[..., :10, :10], 0.5)
    again = TileFolder(folder.path, "a")
    assert again.open(8) is True and again.seed == 7 and again.kept == (1, 1)
    resumed = again.resume()
    assert resumed is not None and resumed[0] == 1 and torch.equal(resumed[1], start)
    kept = again.begin(1, start)
    assert list(kept) == [0] and torch.equal(kept[0][0], start[..., :10, :10]) and kept[0][1] == 0.5
    assert TileFolder(folder.path, "a").begin(1, start + 0.1) == {}  # another start: its tiles are gone
    assert not list(folder.path.glob("tile_*"))
    other = TileFolder(folder.path, "b")
    assert other.open(9) is False and other.kept is None and not (folder.path / "start.npy").exists()


@pytest.mark.parametrize("more, message", [
    (["--workers", "0", "--tile-size", "96"], "--workers must be at least 1, got 0"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786", "--tile-size", "96"], "--workers is for local runs"),
    (["--scheduler", "no where", "--tile-size", "96"], "--scheduler must be a Dask scheduler's address"),
    (["--workers", "2"], "--workers paints a tiled scale's tiles at once, and no scale of this 128x88 px painting "
                         "is tiled; add --tile-size PX below its size"),
])
def test_bad_pool_options_are_one_line_errors(more, message, tmp_path, capsys):
    out = tmp_path / "o.png"
    code = main([str(DATA / "content.png"), str(DATA / "style.png"), "-o", str(out), "--size", "128", *more])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not tile_folder_for(out).exists()
