"""The gallery's "paint again" and "again at N px" (``POST /api/jobs/{id}/again``): the inputs kept with a
finished result, its options and seed; Starlette's TestClient, the real network on tiny images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient
from test_server_api import TINY, assert_error, post_job, wait_for

from painterly.server import Limits, create_app

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def client(tmp_path: Path):
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the worker thread paints while the test thread polls
    with TestClient(create_app(tmp_path / "out", preview_interval=0, limits=Limits(max_size=96))) as c:
        yield c
    torch.set_num_threads(n)


def finished(client: TestClient, job_id: str) -> dict:
    snap = wait_for(client, job_id, lambda s: s["status"] in ("done", "failed", "cancelled"), timeout=120)
    assert snap["status"] == "done", snap
    return snap


def pixels(client: TestClient, snap: dict) -> np.ndarray:
    r = client.get(snap["files"]["image"])
    assert r.status_code == 200
    from io import BytesIO

    return np.asarray(Image.open(BytesIO(r.content)).convert("RGB"))


@pytest.mark.slow
def test_a_finished_painting_is_painted_again_the_same_and_larger(client: TestClient, content_path: Path,
                                                                  style_path: Path) -> None:
    images = {"content": content_path.read_bytes(), "style": style_path.read_bytes()}
    first = finished(client, post_job(client, images, {**TINY, "seed": None}).json()["id"])
    r = client.post(f"/api/jobs/{first['id']}/again")
    assert r.status_code == 201, r.text
    same = finished(client, r.json()["id"])
    assert same["id"] != first["id"] and same["result"]["seed"] == first["result"]["seed"]
    assert np.array_equal(pixels(client, same), pixels(client, first))
    larger = finished(client, client.post(f"/api/jobs/{first['id']}/again", json={"size": 96}).json()["id"])
    assert max(larger["result"]["size"]) == 96 and larger["result"]["seed"] == first["result"]["seed"]
    assert_error(client.post(f"/api/jobs/{first['id']}/again", json={"size": 97}), 422, "size", "96")
    assert_error(client.post(f"/api/jobs/{first['id']}/again", json={"style_weight": 1}), 422, "size")
    gallery = client.get("/api/gallery").json()["results"]
    assert {g["id"] for g in gallery} == {first["id"], same["id"], larger["id"]}


def test_again_needs_a_finished_painting(client: TestClient) -> None:
    assert_error(client.post("/api/jobs/0123456789ab/again"), 404)
