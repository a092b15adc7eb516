"""The page in a real browser: Playwright drives Debian's chromium against a live uvicorn.

Upload (a non-image first: the page must show the server's message), start a tiny job,
watch the preview change, download the PNG; start a long job, reload the page (it finds
its job again), cancel it. Skipped when playwright or /usr/bin/chromium is missing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from live import serving

from painterly.server import create_app

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.timeout(180),
    # CI installs chromium (make test), so there a missing browser is a failure, not a skip.
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason="needs Debian's chromium (apt-get install chromium)"),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the browser needs the other core
    with serving(create_app(tmp_path / "out", preview_interval=0.2)) as url:
        yield url
    torch.set_num_threads(threads)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    profile = tmp_path / "profile"
    profile.mkdir()  # an empty --user-data-dir
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            accept_downloads=True, viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(30_000)
        pg = context.pages[0] if context.pages else context.new_page()
        yield pg
        context.close()


@pytest.mark.slow
def test_paint_watch_download_reload_cancel(server: str, page: Any, content_path: Path, style_path: Path,
                                            style2_path: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    previews: list[Any] = []
    page.on("response", lambda r: previews.append(r) if "/preview.jpg" in r.url and r.status == 200 else None)
    page.goto(server)
    page.get_by_role("radio", name="Quick").click()
    assert page.locator("#gallery .empty").is_visible()

    # A file that is not an image, whatever its name: the server's message appears in the page.
    page.set_input_files("#content-input", files=[{"name": "holiday.png", "mimeType": "image/png",
                                                   "buffer": b"<html>not a picture</html>"}])
    page.set_input_files("#style-input", [str(style_path), str(style2_path)])
    assert page.locator(".blend-slider").count() == 2  # blend sliders appear with several styles
    page.locator("#styles .remove").nth(1).click()
    assert page.locator("#styles li").count() == 1
    page.click("#start")
    message = page.locator("#message")
    message.wait_for(state="visible")
    assert "not an image" in message.inner_text() and "holiday.png" in message.inner_text()

    # A real job: tiny, so that it ends in a few seconds.
    page.set_input_files("#content-input", str(content_path))
    page.fill("#size", "64")
    page.fill("#iterations", "20")
    page.fill("#seed", "7")
    page.click("#start")
    page.wait_for_function("document.querySelector('#view').src.includes('preview.jpg?v=')")
    page.locator("#status-text", has_text="Done.").wait_for(timeout=60_000)
    assert message.is_hidden()
    versions = {r.url for r in previews}
    bodies = {r.body() for r in previews}
    assert len(versions) >= 2 and len(bodies) >= 2, "the preview should change while the job runs"
    assert "/result.png" in page.locator("#view").get_attribute("src")
    assert "seed 7" in page.locator("#result-info").inner_text()
    assert page.locator("#sheet").is_visible()
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename.endswith(".png")
    im = Image.open(io.BytesIO(Path(download.path()).read_bytes()))
    assert im.format == "PNG" and max(im.size) == 64
    page.locator("#gallery a").first.wait_for()
    assert page.locator("#gallery a").count() == 1

    # Paint again: the same inputs, options and seed, as a new job; the server's largest size is offered.
    assert page.locator("#again-large").inner_text() == "Again at 1024 px"
    first_job = page.url
    page.click("#again")
    page.wait_for_function(f"location.href !== {first_job!r}")
    page.locator("#status-text", has_text="Done.").wait_for(timeout=60_000)
    assert "seed 7" in page.locator("#result-info").inner_text()
    page.locator("#gallery a").nth(1).wait_for()

    # A long job: reload while it runs (the page finds it again), then cancel it.
    page.fill("#size", "96")
    page.fill("#iterations", "1000")
    page.click("#start")
    status = page.locator("#status-text")
    status.filter(has_text="Painting: iteration").wait_for()
    job_url = page.url
    assert "#job=" in job_url
    page.reload()
    status.filter(has_text="Painting: iteration").wait_for()
    assert page.url == job_url
    page.wait_for_function("document.querySelector('#loss').width > 0")
    page.click("#cancel")
    status.filter(has_text="Cancelled").wait_for()
    assert page.locator("#cancel").is_hidden() and page.locator("#download").is_hidden()
    assert page.locator("#gallery a").count() == 2
    assert not errors, errors
