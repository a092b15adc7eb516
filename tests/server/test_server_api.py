"""The web API end to end (Starlette's TestClient, the real network on tiny images).

Jobs here are 64 px, single-scale, 10 iterations (about a second on a CPU) unless a test
needs one that is still running when it acts.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient

from painterly.config import PreserveColors, StyleConfig
from painterly.server import Limits, create_app
from painterly.server.cli import exposure_warning, is_loopback
from painterly.server.cli import main as serve_main

pytestmark = pytest.mark.timeout(300)

TINY = {"size": 64, "iterations": 10, "multiscale": False, "seed": 3}
LONG = {"size": 64, "iterations": 1000, "multiscale": False, "seed": 3}


@pytest.fixture(autouse=True)
def _one_thread():
    # The worker thread paints while the test thread polls; two OpenMP threads on a busy
    # 2-core machine spin against each other (10x slower), one does not.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def images(content_path: Path, style_path: Path, style2_path: Path) -> dict[str, bytes]:
    return {"content": content_path.read_bytes(), "style": style_path.read_bytes(),
            "style2": style2_path.read_bytes()}


@pytest.fixture
def client(tmp_path: Path):
    with TestClient(create_app(tmp_path / "out", preview_interval=0)) as c:
        yield c


def post_job(client: TestClient, images: dict[str, bytes], options: dict[str, Any] | None = None, *,
             content: tuple[str, bytes] | None = None, styles: list[tuple[str, bytes]] | None = None,
             raw_options: str | None = None, headers: dict[str, str] | None = None) -> Any:
    files = [("content", (*(content or ("photo.png", images["content"])), "image/png"))]
    for name, data in styles if styles is not None else [("starry.png", images["style"])]:
        files.append(("style", (name, data, "image/png")))
    data = {"options": raw_options if raw_options is not None else json.dumps(TINY if options is None else options)}
    return client.post("/api/jobs", files=files, data=data, headers=headers)


def read_events(client: TestClient, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The job's event stream until the server ends it (after a terminal state)."""
    events: list[tuple[str, dict[str, Any]]] = []
    fields: dict[str, str] = {}
    with client.stream("GET", f"/api/jobs/{job_id}/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if "data" in fields:
                    events.append((fields.get("event", "message"), json.loads(fields["data"])))
                fields = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                fields[key] = value.lstrip()
    return events


def wait_for(client: TestClient, job_id: str, predicate: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = client.get(f"/api/jobs/{job_id}").json()
        if predicate(snap):
            return snap
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached the expected state; last: {snap['status']}")


def assert_error(r: Any, status: int, *words: str) -> str:
    """A client error as the API documents it: ``status``, a JSON body, one line naming ``words``."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    message = body["error"]
    assert body["status"] == status and isinstance(message, str) and "\n" not in message
    for w in words:
        assert w.lower() in message.lower(), message
    return message


# ---------------------------------------------------------------------------------------
def test_config_comes_from_the_core(client: TestClient) -> None:
    cfg = client.get("/api/config").json()
    assert set(cfg["presets"]) == {"quick", "balanced", "fine"}
    assert cfg["choices"]["preserve_colors"] == PreserveColors.values()
    assert cfg["defaults"]["style_weight"] == StyleConfig().style_weight_in_use
    assert cfg["limits"]["max_size"] == Limits().max_size
    page = client.get("/")
    assert page.status_code == 200 and "<title>painterly</title>" in page.text
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200


@pytest.mark.slow
def test_job_lifecycle(client: TestClient, images: dict[str, bytes], tmp_path: Path) -> None:
    r = post_job(client, images, {**TINY, "style_weight": 300, "preserve_colors": "luminance"})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and len(job["id"]) == 12
    events = read_events(client, job["id"])

    kinds = [k for k, _ in events]
    assert kinds[0] == "state" and kinds[-1] == "state"
    progress = [d for k, d in events if k == "progress"]
    assert [p["done"] for p in progress] == list(range(1, len(progress) + 1))
    assert all(p["total"] == 10 and p["size"] == [44, 64] for p in progress)
    assert progress[-1]["loss"] < progress[0]["loss"]  # it paints: the loss falls
    assert progress[0]["eta"] > 0 and progress[-1]["eta"] == 0
    previews = [d for k, d in events if k == "preview"]
    assert len(previews) >= 2 and previews[-1]["version"] > previews[0]["version"]
    final = events[-1][1]
    assert final["status"] == "done" and final["error"] is None
    assert final["result"]["seed"] == 3 and final["result"]["size"] == [44, 64]
    assert len(final["history"]) == len(progress)

    pv = client.get(final["preview"])
    assert pv.status_code == 200 and Image.open(io.BytesIO(pv.content)).size == (64, 44)

    res = client.get(final["files"]["image"])
    assert res.headers["content-type"] == "image/png"
    im = Image.open(io.BytesIO(res.content))
    assert im.size == (64, 44)
    record = json.loads(im.text["painterly"])  # provenance rides in the PNG
    assert record["config"]["style_weight"] == 300 and record["config"]["preserve_colors"] == "luminance"
    assert record["inputs"]["content"]["name"] == "photo.png"
    dl = client.get(final["files"]["download"])
    assert dl.headers["content-disposition"].startswith("attachment") and dl.content == res.content
    sheet = Image.open(io.BytesIO(client.get(final["files"]["sheet"]).content))
    assert sheet.width > sheet.height * 2  # content | style | result
    assert client.get(final["files"]["thumb"]).headers["content-type"] == "image/jpeg"

    folder = tmp_path / "out" / job["id"]
    assert sorted(p.name for p in folder.iterdir()) == ["content.png", "job.json", "result.png", "sheet.png",  # inputs:
                                                         "style-1.png", "thumb.jpg"]  # kept to paint it again
    assert [g["id"] for g in client.get("/api/gallery").json()["results"]] == [job["id"]]
    # A stream opened after the end replays the final state and closes.
    assert [(k, d["status"]) for k, d in read_events(client, job["id"])] == [("state", "done")]
    assert_error(client.post(f"/api/jobs/{job['id']}/cancel"), 409, "already")


@pytest.mark.slow
def test_several_watchers_see_one_job(client: TestClient, images: dict[str, bytes]) -> None:
    job_id = post_job(client, images).json()["id"]
    seen: list[list[tuple[str, dict[str, Any]]]] = [[], []]
    threads = [threading.Thread(target=lambda i=i: seen[i].extend(read_events(client, job_id))) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for events in seen:
        assert events[-1][1]["status"] == "done"
        assert any(k == "progress" for k, _ in events)


@pytest.mark.slow
def test_cancel_running_job_then_worker_goes_on(client: TestClient, images: dict[str, bytes],
                                                tmp_path: Path) -> None:
    job_id = post_job(client, images, LONG).json()["id"]
    wait_for(client, job_id, lambda s: s["status"] == "running" and s["done"] >= 2)
    r = client.post(f"/api/jobs/{job_id}/cancel")
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    final = read_events(client, job_id)[-1][1]
    assert final["status"] == "cancelled" and final["done"] < final["total"] == 1000
    assert final["files"] is None and final["preview"]  # the last preview stays viewable
    assert_error(client.get(f"/api/jobs/{job_id}/result.png"), 404, "no result.png")
    assert not (tmp_path / "out" / job_id).exists()
    # The worker is still there for the next job.
    nxt = post_job(client, images).json()["id"]
    assert read_events(client, nxt)[-1][1]["status"] == "done"


@pytest.mark.slow
def test_queue_positions(client: TestClient, images: dict[str, bytes]) -> None:
    a = post_job(client, images, LONG).json()["id"]
    wait_for(client, a, lambda s: s["status"] == "running")
    b, c = (post_job(client, images).json() for _ in range(2))
    assert (b["status"], b["position"], c["position"]) == ("queued", 1, 2)
    assert [j["id"] for j in client.get("/api/jobs").json()["jobs"]] == [a, b["id"], c["id"]]
    assert client.post(f"/api/jobs/{b['id']}/cancel").json()["status"] == "cancelled"
    assert client.get(f"/api/jobs/{c['id']}").json()["position"] == 1
    client.post(f"/api/jobs/{a}/cancel")
    events = read_events(client, c["id"])
    assert events[-1][1]["status"] == "done"
    assert client.get(f"/api/jobs/{a}").json()["status"] == "cancelled"


# Limits and errors -------------------------------------------------------------------------
def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.slow
def test_refuses_bad_uploads_and_keeps_working(tmp_path: Path, images: dict[str, bytes]) -> None:
    app = create_app(tmp_path / "out", limits=Limits(max_upload_bytes=40_000, max_pixels=30_000), preview_interval=0)
    noise = _png(Image.frombytes("RGB", (120, 120), os.urandom(120 * 120 * 3)))  # ~43 KB, 14400 px
    big = _png(Image.new("1", (300, 200)))  # tiny file, 60000 px
    with TestClient(app) as client:
        assert_error(post_job(client, images, content=("noise.png", noise)), 413, "content", "noise.png", "limit")
        assert_error(post_job(client, images, styles=[("big.png", big)]), 413, "style", "megapixels")
        text = b"<html><body>definitely not a picture</body></html>"
        assert_error(post_job(client, images, content=("photo.png", text)), 415, "content", "not an image")
        truncated = images["content"][: len(images["content"]) // 2]
        msg = assert_error(post_job(client, images, content=("cut.png", truncated)), 415, "content", "cut.png")
        assert "/tmp" not in msg and "upload" not in msg  # no server paths leak
        assert_error(post_job(client, images, content=("empty.png", b"")), 422, "empty")
        # The name does not matter, the content does: a PNG called notes.txt is a picture.
        r = post_job(client, images, content=("notes.txt", images["content"]))
        assert r.status_code == 201, r.text
        ok_id = r.json()["id"]
        assert read_events(client, ok_id)[-1][1]["status"] == "done"
        # A body over the request limit is refused from its Content-Length, before parsing.
        r = client.post("/api/jobs", content=b"x" * 2_000_000,
                        headers={"content-type": "multipart/form-data; boundary=zz"})
        assert_error(r, 413, "upload over")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [ok_id]  # nothing half-written


def test_pixel_bomb_refused_with_default_limits(client: TestClient, images: dict[str, bytes]) -> None:
    bomb = _png(Image.new("1", (8000, 6000)))  # 48 megapixels in a few kilobytes
    assert len(bomb) < 20_000
    assert_error(post_job(client, images, content=("bomb.png", bomb)), 413, "8000x6000", "megapixels")


@pytest.mark.parametrize(("options", "words"), [
    ({"size": 8}, ["size", "at least 16"]),
    ({"size": 5000}, ["size", "at most 1024"]),
    ({"size": "big"}, ["size", "number"]),
    ({"iterations": 0}, ["iterations", "between 1 and 1000"]),
    ({"iterations": 10**6}, ["iterations"]),
    ({"style_weight": -1}, ["style_weight", "negative"]),
    ({"preserve_colors": "sepia"}, ["preserve_colors", "luminance"]),
    ({"seed": 1.5}, ["seed", "whole"]),
    ({"seed": -1}, ["seed"]),
    ({"preset": "turbo"}, ["preset", "quick"]),
    ({"weights": "/etc/passwd"}, ["weights", "unknown option"]),
    ({"init": "/etc/passwd"}, ["init", "content, palette, random"]),
    ({"style_blend_weights": [1, 2]}, ["style_blend_weights", "2 values for 1 style"]),
    ({"multiscale": "yes"}, ["multiscale", "true or false"]),
    ([1, 2], ["JSON object"]),
])
def test_refuses_out_of_range_options(client: TestClient, images: dict[str, bytes], options: Any,
                                      words: list[str]) -> None:
    opts = {**TINY, **options} if isinstance(options, dict) else options
    assert_error(post_job(client, images, opts), 422, *words)


def test_refuses_malformed_requests(client: TestClient, images: dict[str, bytes]) -> None:
    assert_error(post_job(client, images, raw_options="{size: 64"), 422, "options", "JSON")
    assert_error(post_job(client, images, styles=[]), 422, "style")
    assert_error(client.post("/api/jobs", data={"options": "{}"}), 422, "content")
    five = [(f"s{i}.png", images["style"]) for i in range(5)]
    assert_error(post_job(client, images, styles=five), 422, "at most 4 style")
    assert client.get("/api/jobs").json()["jobs"] == []


@pytest.mark.parametrize("path", [
    "/api/jobs/000000000000", "/api/jobs/nothex/events", "/api/jobs/abc/preview.jpg",
    "/api/jobs/0123456789ab/result.png",
])
def test_unknown_job_ids(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, "unknown job")


def test_unknown_job_cancel(client: TestClient) -> None:
    assert_error(client.post("/api/jobs/0123456789ab/cancel"), 404, "unknown job")


@pytest.mark.slow
def test_no_path_outside_the_output_dir(client: TestClient, images: dict[str, bytes], tmp_path: Path) -> None:
    job_id = post_job(client, images).json()["id"]
    assert read_events(client, job_id)[-1][1]["status"] == "done"
    (tmp_path / "secret.txt").write_text("top secret")
    for path in [
        f"/api/jobs/{job_id}/job.json",  # exists in the folder, but is not a served file
        f"/api/jobs/{job_id}/..%2F..%2Fsecret.txt",
        f"/api/jobs/{job_id}/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/api/jobs/..%2F..%2Fsecret.txt/result.png",
        f"/api/jobs/{job_id}%2F..%2F..%2Fsecret.txt",
        "/static/..%2F..%2F..%2Fsecret.txt",
        "/static/%2e%2e/app.py",
        "/static/../app.py",
    ]:
        r = client.get(path)
        assert r.status_code == 404, path
        assert "secret" not in r.text.replace("secret.txt", "") and "create_app" not in r.text
        assert r.json()["error"]


# Restart, token, CLI ------------------------------------------------------------------------
@pytest.mark.slow
def test_gallery_survives_restart(tmp_path: Path, images: dict[str, bytes]) -> None:
    out = tmp_path / "out"
    with TestClient(create_app(out, preview_interval=0)) as client:
        job_id = post_job(client, images).json()["id"]
        assert read_events(client, job_id)[-1][1]["status"] == "done"
        png = client.get(f"/api/jobs/{job_id}/result.png").content
    (out / ".tmp-0123456789ab").mkdir()  # a result interrupted mid-write
    (out / "not-a-job").mkdir()
    (out / "abcdefabcdef").mkdir()
    (out / "abcdefabcdef" / "job.json").write_text("{broken")
    with TestClient(create_app(out)) as client:
        gallery = client.get("/api/gallery").json()["results"]
        assert [g["id"] for g in gallery] == [job_id]
        snap = client.get(f"/api/jobs/{job_id}").json()
        assert snap["status"] == "done" and snap["result"]["seed"] == 3 and snap["history"]
        assert client.get(f"/api/jobs/{job_id}/result.png").content == png
        assert [(k, d["status"]) for k, d in read_events(client, job_id)] == [("state", "done")]
    assert not (out / ".tmp-0123456789ab").exists() and (out / "not-a-job").is_dir()


def test_token_host_and_origin_checks(tmp_path: Path) -> None:
    app = create_app(tmp_path, token="s3cret-token", allowed_hosts={"testserver", "127.0.0.1"})
    with TestClient(app) as client:
        assert_error(client.get("/api/config"), 401, "token")
        assert_error(client.get("/api/config?token=wrong-token"), 401, "token")
        r = client.get("/?token=s3cret-token")
        assert r.status_code == 200 and "painterly_token=s3cret-token" in r.headers["set-cookie"]
        assert client.get("/api/config").status_code == 200  # the cookie now carries it
    with TestClient(app) as client:
        assert client.get("/api/config", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
        auth = {"authorization": "Bearer s3cret-token"}
        assert_error(client.get("/api/config", headers={**auth, "host": "evil.example"}), 400, "host")
        r = client.post("/api/jobs/0123456789ab/cancel", headers={**auth, "origin": "http://evil.example"})
        assert_error(r, 403, "other web sites")
    with pytest.raises(ValueError, match="token"):
        create_app(tmp_path, token="short")


def test_cli_refuses_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_main(["--port", "70000", "--output-dir", str(tmp_path)]) == 2
    assert "--port" in capsys.readouterr().err
    assert serve_main(["--token", "x", "--output-dir", str(tmp_path)]) == 2
    assert "--token" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert serve_main(["--output-dir", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert "--output-dir" in err and len(err.strip().splitlines()) == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert serve_main(["--port", str(port), "--output-dir", str(tmp_path / "o")]) == 2
        assert "cannot listen" in capsys.readouterr().err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert exposure_warning("127.0.0.1", None) is None
    assert "--token" in (exposure_warning("0.0.0.0", None) or "")
    assert "--token" not in (exposure_warning("0.0.0.0", "s3cret-token") or "")


@pytest.mark.slow
def test_cli_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "painterly", "serve", "--port", "0", "--output-dir",
                             str(tmp_path / "gallery")], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "painterly: open http://127.0.0.1:PORT/ in a browser ..."
        assert "http://127.0.0.1:" in line, line
        url = line.split("open ", 1)[1].split(" ", 1)[0]
        assert httpx.get(url + "api/config", timeout=10).json()["default_preset"] == "balanced"
        assert httpx.get(url, headers={"host": "attacker.example"}, timeout=10).status_code == 400
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(30)
    assert rc == 0 and "server stopped" in proc.stderr.read()
    assert (tmp_path / "gallery").is_dir()
