"""A batch on a Dask cluster of real processes (``dask scheduler`` and two ``dask worker`` s on
127.0.0.1) survives a worker killed with SIGKILL mid-run: every image is painted, the images
of the lost worker are painted again on the other, and the summary lists them as retried."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import DATA
from painterly.batches import Event, batch
from painterly.config import StyleConfig

pytest.importorskip("distributed")
from batches.dask_processes import dask_cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

IMAGES = 8
CFG = StyleConfig(size=48, iterations=12, multiscale=False, seed=5)


def _photos(root: Path) -> Path:
    photos = root / "photos"
    photos.mkdir()
    for i in range(IMAGES):
        shutil.copy(DATA / "content.png", photos / f"photo-{i}.png")
    return photos


def test_a_worker_killed_mid_run_loses_no_image(tmp_path: Path) -> None:
    photos, out = _photos(tmp_path), tmp_path / "out"
    killed: list[int] = []
    with dask_cluster(2, tmp_path) as cluster:

        def on_event(ev: Event) -> None:
            if ev.status == "done" and not killed:  # both workers are busy now (4 images in flight)
                painter = int(ev.worker.rsplit(" ", 1)[1])  # the one that has painted an image: kill it
                killed.append(cluster.kill(next(i for i, w in enumerate(cluster.workers) if w.pid == painter)))

        summary = batch([photos], [DATA / "style.png"], out, CFG, scheduler=cluster.address, callback=on_event)
    assert killed, "no image finished"
    assert not summary.failed, summary.failed
    assert len(summary.done) == IMAGES and all((out / d["output"]).is_file() for d in summary.done)
    painters = {d["output"]: int(d["worker"].rsplit(" ", 1)[1]) for d in summary.done}
    survivor = next(w.pid for w in cluster.workers if w.pid != killed[0])
    assert set(painters.values()) == {killed[0], survivor}  # spread over both workers
    retried = {r["output"] for r in summary.retried}
    assert retried and all(painters[o] == survivor for o in retried)  # painted again by the one left
    recorded = json.loads((out / "summary.json").read_text())
    assert recorded["counts"]["retried"] == len(retried) and recorded["counts"]["done"] == IMAGES
