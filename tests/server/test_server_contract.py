"""The OpenAPI document is the contract: tools that no one here wrote hold the server to it.

- schemathesis (every check, every phase, a bounded number of examples per operation) against
  a live server on 127.0.0.1, with the token and without one;
- openapi-python-client generates a client from the document, which submits a job, waits for
  it and downloads the picture;
- Idempotency-Key across a restart, Retry-After on 503, Allow on 405.

The live servers allow 64 px and 5 iterations at most, so the jobs schemathesis manages to
create (it sends real 1-pixel images) take a moment each.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient
from live import serving
from test_server_api import TINY, assert_error, post_job, wait_for

from painterly.server import Limits, create_app

pytestmark = pytest.mark.timeout(300)

TOKEN = "contract-token-1"
SMALL = Limits(max_size=64, max_iterations=5)
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


@pytest.fixture
def images(content_path: Path, style_path: Path) -> dict[str, bytes]:
    return {"content": content_path.read_bytes(), "style": style_path.read_bytes()}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the server's worker paints while the client runs, on 2 cores
    yield
    torch.set_num_threads(n)


# schemathesis -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("token", [TOKEN, None], ids=["token", "no-token"])
def test_schemathesis_finds_nothing(tmp_path: Path, token: str | None) -> None:
    st = shutil.which("st", path=str(BIN))
    assert st, "schemathesis is missing: it is in the test extra (make install-test)"
    auth = ["-H", f"Authorization: Bearer {token}"] if token else []
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    # A queue that fuzzing cannot fill: its 503 is the right answer to a valid request (tested below, with
    # Retry-After), which schemathesis would count as a server error on the routes that queue a job.
    app = create_app(tmp_path / "out", token=token, limits=dataclasses.replace(SMALL, max_queue=10_000),
                     preview_interval=0)
    operations = sum(len(methods) for methods in app.openapi()["paths"].values())  # every one is tested
    with serving(app) as url:
        run = subprocess.run([st, "--config-file", str(HERE / "schemathesis.toml"), "--no-color", "run",
                              f"{url}api/openapi.json", *auth, "--checks", "all", "--max-examples", "15", "--seed", "1",
                              "--workers", "1"],
                             capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    summary = run.stdout[run.stdout.find("SUMMARY"):]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert f"Tested: {operations}" in summary and "Failures" not in summary and "Errors" not in summary, summary


# A generated client -----------------------------------------------------------------------------
# openapi-python-client reads binary answers as application/octet-stream only; its documented
# content_type_overrides maps the images there (docs/web.md says the same).
CLIENT_CONFIG = "content_type_overrides:\n  image/png: application/octet-stream\n  image/jpeg: application/octet-stream\n"


def _generate_client(doc: dict[str, Any], where: Path) -> None:
    opc = shutil.which("openapi-python-client", path=str(BIN))
    assert opc, "openapi-python-client is missing: it is in the test extra (make install-test)"
    (where / "openapi.json").write_text(json.dumps(doc))
    (where / "config.yaml").write_text(CLIENT_CONFIG)
    run = subprocess.run([opc, "generate", "--path", str(where / "openapi.json"), "--output-path",
                          str(where / "painterly_client"), "--meta", "none", "--config", str(where / "config.yaml")],
                         capture_output=True, text=True, timeout=120, cwd=where,
                         env={**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr  # every schema became a model
    sys.path.insert(0, str(where))


@pytest.mark.slow
def test_generated_client_paints_and_downloads(tmp_path: Path, content_path: Path, style_path: Path) -> None:
    app = create_app(tmp_path / "out", token=TOKEN, limits=SMALL, preview_interval=0)
    _generate_client(app.openapi(), tmp_path)
    try:
        from painterly_client import AuthenticatedClient
        from painterly_client.api.default import create_job, get_config, get_job, get_result
        from painterly_client.models import JobForm, JobOptions, JobOut, JobStatus, ServerConfig
        from painterly_client.types import File

        with serving(app) as url, AuthenticatedClient(base_url=url.rstrip("/"), token=TOKEN) as client:
            config = get_config.sync(client=client)
            assert isinstance(config, ServerConfig) and config.limits.max_size == 64
            form = JobForm(content=File(io.BytesIO(content_path.read_bytes()), "photo.png", "image/png"),
                           style=[File(io.BytesIO(style_path.read_bytes()), "style.png", "image/png")],
                           options=JobOptions(size=64, iterations=5, multiscale=False, seed=3))
            created = create_job.sync_detailed(client=client, body=form, idempotency_key="round-trip-1")
            assert created.status_code == 201 and isinstance(created.parsed, JobOut), created.content
            job = created.parsed
            deadline = time.monotonic() + 120
            while job.status not in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED):
                assert time.monotonic() < deadline, job
                time.sleep(0.2)
                job = get_job.sync(job.id, client=client)
                assert isinstance(job, JobOut)
            assert job.status is JobStatus.DONE, job.error
            picture = get_result.sync(job.id, client=client)
            assert isinstance(picture, File)
        image = Image.open(picture.payload)
        assert image.format == "PNG" and max(image.size) == 64 and job.result is not None
        assert json.loads(image.info["painterly"])["config"]["seed"] == 3
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "painterly_client"]:
            del sys.modules[name]


# Idempotency-Key, Retry-After, Allow ------------------------------------------------------------
@pytest.mark.slow
def test_idempotency_key_returns_the_first_job_across_a_restart(tmp_path: Path, images: dict[str, bytes]) -> None:
    out = tmp_path / "out"
    key = {"Idempotency-Key": "order-7f3a"}
    with TestClient(create_app(out, preview_interval=0)) as client:
        first = post_job(client, images, TINY, headers=key)
        again = post_job(client, images, TINY, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        other = post_job(client, images, {**TINY, "seed": 4}, headers=key)
        assert_error(other, 422, "Idempotency-Key", "another request")
        fresh = post_job(client, images, TINY, headers={"Idempotency-Key": "order-7f3b"})
        assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]
        bad = post_job(client, images, TINY, headers={"Idempotency-Key": "has spaces"})
        assert_error(bad, 422, "Idempotency-Key")
    with TestClient(create_app(out, preview_interval=0)) as client:  # a restart; the job may not have run yet
        after = post_job(client, images, TINY, headers=key)
        assert after.status_code == 201 and after.json()["id"] == first.json()["id"]
        for job in (first, fresh):
            wait_for(client, job.json()["id"], lambda s: s["status"] == "done")
    with TestClient(create_app(out, preview_interval=0)) as client:  # a restart after both finished
        done = post_job(client, images, TINY, headers=key)
        assert done.json()["id"] == first.json()["id"] and done.json()["status"] == "done"
        made = {r["id"] for r in client.get("/api/gallery").json()["results"]} | \
            {j["id"] for j in client.get("/api/jobs").json()["jobs"]}
        assert made == {first.json()["id"], fresh.json()["id"]}  # five requests with a key, two jobs


@pytest.mark.slow
def test_a_full_queue_says_when_to_retry_and_405_says_what_is_allowed(tmp_path: Path,
                                                                       images: dict[str, bytes]) -> None:
    with TestClient(create_app(tmp_path / "out", limits=Limits(max_queue=1), preview_interval=0)) as client:
        running = post_job(client, images, {**TINY, "iterations": 1000}).json()["id"]
        wait_for(client, running, lambda s: s["status"] == "running" and s["eta"] is not None)
        post_job(client, images, TINY)  # the one place in the queue
        full = post_job(client, images, TINY)
        assert_error(full, 503, "already waiting")
        assert int(full.headers["Retry-After"]) >= 1
        client.post(f"/api/jobs/{running}/cancel")
        for method, path, allowed in (("DELETE", "/api/jobs", "GET, POST"), ("PUT", "/api/config", "GET"),
                                      ("GET", f"/api/jobs/{running}/cancel", "POST")):
            r = client.request(method, path)
            assert_error(r, 405)
            assert set(r.headers["Allow"].split(", ")) == set(allowed.split(", ")), (method, path)
