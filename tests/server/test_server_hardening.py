"""The web server under stress: restarts (kill -9 included), hostile requests, huge pictures in small files.

Servers bind 127.0.0.1 only. Jobs are 64 px, single-scale: 10 iterations (about a second on
a CPU) unless a test needs one that is still running when it acts.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient
from test_server_api import assert_error

from conftest import DATA
from painterly.images import fit_long_edge, load_image, resize
from painterly.server import create_app
from painterly.server.cli import main as serve_main
from painterly.server.store import MAX_STARTS, PENDING
from painterly.server.uploads import DECODE_SLOTS, UploadError, decode_upload, format_names, formats

pytestmark = pytest.mark.timeout(300)

TINY = {"size": 64, "iterations": 10, "multiscale": False, "seed": 3}
LONG = {"size": 64, "iterations": 1000, "multiscale": False, "seed": 3}


def multipart(options: dict[str, Any], content: bytes, style: bytes) -> dict[str, Any]:
    return {"files": [("content", ("photo.png", content, "image/png")), ("style", ("style.png", style, "image/png"))],
            "data": {"options": json.dumps(options)}}


@pytest.fixture
def images() -> tuple[bytes, bytes]:
    return (DATA / "content.png").read_bytes(), (DATA / "style.png").read_bytes()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the worker paints while the test polls, on a 2-core machine
    with TestClient(create_app(tmp_path / "out", preview_interval=0)) as c:
        yield c
    torch.set_num_threads(threads)


# A restart loses no accepted job ---------------------------------------------------------
@contextmanager
def serve(out: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``painterly serve`` on 127.0.0.1 and a free port, as a child process; stopped with Ctrl-C unless dead."""
    proc = subprocess.Popen([sys.executable, "-m", "painterly", "serve", "--port", "0", "--output-dir", str(out)],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "painterly: open http://127.0.0.1:PORT/ in a browser ..."
        assert "http://127.0.0.1:" in line, line
        yield proc, line.split("open ", 1)[1].split(" ", 1)[0]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def poll(url: str, job_id: str, predicate: Any, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        snap: dict[str, Any] = httpx.get(f"{url}api/jobs/{job_id}", timeout=30).json()
        if predicate(snap):
            return snap
        assert time.monotonic() < deadline, f"job {job_id} never got there; last: {snap}"
        time.sleep(0.1)


@pytest.mark.slow
def test_jobs_survive_kill_9(tmp_path: Path, images: tuple[bytes, bytes]) -> None:
    out = tmp_path / "out"
    first_options = {**TINY, "iterations": 60}
    with serve(out) as (proc, url):
        first = httpx.post(url + "api/jobs", **multipart(first_options, *images), timeout=60)
        second = httpx.post(url + "api/jobs", **multipart(TINY, *images), timeout=60)
        assert first.status_code == second.status_code == 201, second.text
        a, b = first.json()["id"], second.json()["id"]
        poll(url, a, lambda s: s["status"] == "running" and s["done"] >= 2)
        assert httpx.get(f"{url}api/jobs/{b}", timeout=30).json()["status"] == "queued"
        proc.kill()  # SIGKILL: no shutdown handler runs
        proc.wait(30)
    assert sorted(p.name for p in (out / PENDING).iterdir()) == sorted([a, b])
    assert not (out / a).exists()

    with serve(out) as (proc, url):
        done = [poll(url, job_id, lambda s: s["status"] in ("done", "failed", "cancelled")) for job_id in (a, b)]
        assert [s["status"] for s in done] == ["done", "done"], done
        assert done[0]["started"] < done[1]["started"]  # in the order they were accepted
        assert done[0]["result"]["iterations"] == 60 and done[0]["options"] == first_options
        assert done[1]["inputs"]["content"]["name"] == "photo.png"
        for snap in done:
            png = httpx.get(url + snap["files"]["image"].lstrip("/"), timeout=30)
            assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size == (64, 44)
        gallery = httpx.get(url + "api/gallery", timeout=30).json()["results"]
        assert sorted(g["id"] for g in gallery) == sorted([a, b])
    assert not (out / PENDING).exists()  # nothing left to resume


@pytest.mark.slow
def test_interrupted_jobs_wait_for_retry_or_cancel(tmp_path: Path, images: tuple[bytes, bytes]) -> None:
    out = tmp_path / "out"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with TestClient(create_app(out, preview_interval=0)) as client:
            long_id = client.post("/api/jobs", **multipart(LONG, *images)).json()["id"]
            tiny_id = client.post("/api/jobs", **multipart(TINY, *images)).json()["id"]
        # A shutdown keeps both for the next start; spoil them: one never let the server finish
        # it, the other's content cannot be read back.
        record = out / PENDING / long_id / "job.json"
        record.write_text(json.dumps({**json.loads(record.read_text()), "starts": MAX_STARTS}))
        photo = out / PENDING / tiny_id / "content.png"
        kept = photo.read_bytes()
        photo.write_bytes(b"not a png")

        with TestClient(create_app(out, preview_interval=0)) as client:
            listed = {j["id"]: j for j in client.get("/api/jobs").json()["jobs"]}
            assert {j["status"] for j in listed.values()} == {"interrupted"} and set(listed) == {long_id, tiny_id}
            assert f"stopped {MAX_STARTS} times" in listed[long_id]["error"]
            assert "could not be read back" in listed[tiny_id]["error"]
            assert listed[tiny_id]["retry"] == f"/api/jobs/{tiny_id}/retry"
            assert_error(client.post(f"/api/jobs/{tiny_id}/retry"), 409, "could not be read back")
            assert client.post(f"/api/jobs/{long_id}/cancel").json()["status"] == "cancelled"
            assert not (out / PENDING / long_id).exists()
            photo.write_bytes(kept)
            r = client.post(f"/api/jobs/{tiny_id}/retry")
            assert r.status_code == 200 and r.json()["status"] in ("queued", "running"), r.text
            deadline = time.monotonic() + 120
            while (snap := client.get(f"/api/jobs/{tiny_id}").json())["status"] != "done":
                assert snap["status"] in ("queued", "running") and time.monotonic() < deadline, snap
                time.sleep(0.05)
            assert client.get(f"/api/jobs/{tiny_id}/result.png").status_code == 200
            assert_error(client.post(f"/api/jobs/{tiny_id}/retry"), 409, "only an interrupted job")
        assert not (out / PENDING).exists()
    finally:
        torch.set_num_threads(threads)


# Cross-site and malformed requests -------------------------------------------------------
def test_origin_null_is_refused(client: TestClient, images: tuple[bytes, bytes]) -> None:
    null = {"origin": "null"}
    assert_error(client.post("/api/jobs", headers=null, **multipart(TINY, *images)), 403, "without an origin")
    assert_error(client.post("/api/jobs/0123456789ab/cancel", headers=null), 403, "without an origin")
    assert_error(client.post("/api/jobs/0123456789ab/retry", headers=null), 403, "without an origin")
    assert client.get("/api/jobs").json()["jobs"] == []  # nothing was started
    # The page's own origin still works, and reads stay open.
    same = {"origin": "http://testserver"}
    assert_error(client.post("/api/jobs/0123456789ab/cancel", headers=same), 404, "unknown job")
    assert client.get("/api/config", headers=null).status_code == 200


@pytest.mark.parametrize(("options", "words"), [
    ({"preset": ["quick"]}, ["preset", "unknown preset"]),
    ({"preset": {"name": "quick"}}, ["preset"]),
    ({"style_weight": {"a": 1}}, ["style_weight", "number"]),
    ({"size": [64]}, ["size", "number"]),
    ({"seed": {"x": 1}}, ["seed", "number"]),
    ({"style_blend_weights": [[1]]}, ["style_blend_weights", "number"]),
    ({"preserve_colors": ["luminance"]}, ["preserve_colors", "string"]),
    ({"init": {"path": "/etc/passwd"}}, ["init", "string"]),
    ({"multiscale": [True]}, ["multiscale", "true or false"]),
    ({"preserve_colors": "x" * 50_000}, ["preserve_colors"]),
])
def test_wrong_json_types_are_422(client: TestClient, images: tuple[bytes, bytes], options: dict[str, Any],
                                  words: list[str]) -> None:
    message = assert_error(client.post("/api/jobs", **multipart({**TINY, **options}, *images)), 422, *words)
    assert len(message) < 400  # values are cut short in messages


@pytest.mark.parametrize(("raw", "status"), [
    ("[" * 30_000 + "]" * 30_000, 422),  # fits the 64 KB field: json.loads recurses too deep
    ('{"size": ' + "[" * 30_000 + "]" * 30_000 + "}", 422),
    ("[" * 100_000 + "]" * 100_000, 400),  # over the field's 64 KB: refused while parsing the form
])
def test_deeply_nested_options_are_4xx(client: TestClient, images: tuple[bytes, bytes], raw: str, status: int) -> None:
    files = multipart({}, *images)["files"]
    assert_error(client.post("/api/jobs", files=files, data={"options": raw}), status)
    assert client.get("/api/jobs").json()["jobs"] == []


def test_unexpected_errors_are_json(tmp_path: Path) -> None:
    app = create_app(tmp_path / "out")

    @app.get("/api/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert_error(client.get("/api/broken"), 500, "internal error", "RuntimeError")


# painterly serve's options ---------------------------------------------------------------
@pytest.mark.parametrize(("args", "words"), [
    (["--port", "70000"], ["--port", "65535"]),
    (["--port", "many"], ["--port"]),
    (["--token", "short"], ["--token"]),
    (["--max-size", "8"], ["--max-size"]),
    (["--host", "no such host"], ["--host", "unknown address"]),
    (["--host", "192.0.2.1"], ["cannot listen"]),  # a documentation address: not this machine's
    (["--port", "TAKEN"], ["cannot listen"]),
])
def test_serve_checks_options_before_making_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       args: list[str], words: list[str]) -> None:
    out = tmp_path / "new" / "gallery"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        args = [str(taken.getsockname()[1]) if a == "TAKEN" else a for a in args]
        assert serve_main([*args, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    assert not (tmp_path / "new").exists()


# Huge pictures in small files ------------------------------------------------------------
MEMORY_PROBE = """
import io, json, sys, threading
from pathlib import Path
from painterly.server.uploads import decode_upload

def rss(key):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(key))
    return int(line.split()[1]) / 1024

def peak(n):
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    base, shapes = rss("VmRSS"), []
    def one():
        up = decode_upload(data, field="content", filename="flat.png", long_edge=64, max_bytes=2**25, max_pixels=40_000_000)
        shapes.append(list(up.image.rgb.shape))
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads: t.start()
    for t in threads: t.join()
    return rss("VmHWM") - base, shapes

data = Path(sys.argv[1]).read_bytes()
one, shapes = peak(1)
four, _ = peak(4)
print(json.dumps({"one": one, "four": four, "shapes": shapes}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc to reset the peak RSS")
def test_large_flat_png_is_decoded_small(tmp_path: Path) -> None:
    path = tmp_path / "flat.png"
    Image.new("RGB", (8000, 5000), (40, 90, 160)).save(path, "PNG", compress_level=9)
    assert path.stat().st_size < 300_000  # 40 megapixels in a small file
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path)], capture_output=True, text=True,
                           timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert probe.returncode == 0, probe.stderr
    got = json.loads(probe.stdout)
    assert got["shapes"] == [[1, 3, 40, 64]]
    # Pillow holds the 8-bit picture in 4 bytes a pixel (153 MB); one float32 RGB copy at full
    # resolution alone would be 458 MB, and the decode used to cost 600 MB or more per image.
    full_8bit = 40e6 * 4 / 2**20
    full_float = 40e6 * 3 * 4 / 2**20
    assert got["one"] < full_8bit + 100 < full_float, got
    # Four at once: the decodes take turns, DECODE_SLOTS at a time.
    assert DECODE_SLOTS == 2 and got["four"] < DECODE_SLOTS * full_8bit + 170 < 4 * full_8bit, got


def _encoded(im: Image.Image, fmt: str, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _smooth(w: int, h: int, bands: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([127 + 120 * np.sin(x / (37 + 9 * i) + y / (53 + 7 * i)) for i in range(bands)], -1).astype(np.uint8)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jpeg rotated, Adobe RGB", "tiff rotated", "png rgba", "png palette", "16-bit gray"])
def test_small_decode_matches_the_full_decode(tmp_path: Path, name: str) -> None:
    icc = (DATA / "compatibleWithAdobeRGB1998.icc").read_bytes()
    photo = Image.fromarray(_smooth(1200, 700, 3))
    data = {
        "jpeg rotated, Adobe RGB": lambda: _encoded(photo, "JPEG", exif=_exif(6), icc_profile=icc, quality=95),
        "tiff rotated": lambda: _encoded(photo, "TIFF", exif=_exif(8)),
        "png rgba": lambda: _encoded(Image.fromarray(_smooth(900, 600, 4), "RGBA"), "PNG"),
        "png palette": lambda: _encoded(photo.quantize(64), "PNG", transparency=0),
        "16-bit gray": lambda: _encoded(Image.fromarray(_smooth(700, 500, 1)[..., 0].astype(np.uint16) * 257), "PNG"),
    }[name]()
    path = tmp_path / "picture"
    path.write_bytes(data)
    full = load_image(path)  # the command line's decode: full resolution, then shrunk
    hw = fit_long_edge(tuple(full.rgb.shape[-2:]), 128)  # type: ignore[arg-type]
    small = decode_upload(data, field="style", filename=name, long_edge=128, max_bytes=2**25,
                          max_pixels=40_000_000).image
    assert small.rgb.shape == (1, 3, *hw)  # orientation applied, the same rounding
    assert (small.rgb - resize(full.rgb, hw)).abs().mean() < 0.02  # the same colours (ICC applied)
    assert (small.alpha is None) == (full.alpha is None)
    if full.alpha is not None and small.alpha is not None:
        assert (small.alpha - resize(full.alpha, hw)).abs().mean() < 0.01


def test_heif_is_accepted_when_pillow_heif_is_there() -> None:
    pytest.importorskip("pillow_heif")
    assert "HEIF" in formats() and "HEIC" in format_names()  # registered by asking, as on a fresh server
    data = _encoded(Image.fromarray(_smooth(320, 240, 3)), "HEIF", quality=90)
    up = decode_upload(data, field="content", filename="IMG_0001.HEIC", long_edge=64, max_bytes=2**25,
                       max_pixels=40_000_000)
    assert up.image.rgb.shape == (1, 3, 48, 64)
    with pytest.raises(UploadError, match="HEIC") as e:
        decode_upload(b"plain text", field="content", filename="notes.txt", long_edge=64, max_bytes=2**25,
                      max_pixels=40_000_000)
    assert e.value.status == 415


def test_a_photo_too_thin_for_the_size_is_422_at_submission(client: TestClient, images: tuple[bytes, bytes]) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (256, 40), (90, 120, 200)).save(buf, format="PNG")  # 64x10 px at size 64: under VGG19's 16
    message = assert_error(client.post("/api/jobs", **multipart(TINY, buf.getvalue(), images[1])), 422, "photo", "16")
    assert "256x40" in message
    assert client.get("/api/jobs").json()["jobs"] == []  # refused at the door: no job queued to fail later
