"""docs/img/web.png: the web page while it paints the bundled example with the default preset.

    python docs/make_web_picture.py [--at 0.5]

Starts ``painterly serve`` on 127.0.0.1 (a free port, a temporary output folder), drives Debian's chromium with
Playwright (``pip install 'painterly[web,test]'``, ``apt-get install chromium``), drops examples/building.jpg and
examples/starry_night.jpg on the page, paints, and takes the screenshot once the run is ``--at`` of the way
through; then cancels the job and stops the server.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--at", type=float, default=0.5, help="share of the run done when the screenshot is taken")
    args = ap.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("make_web_picture: needs playwright (pip install 'painterly[test]') and chromium")
    with tempfile.TemporaryDirectory() as out:
        server = subprocess.Popen([sys.executable, "-m", "painterly", "serve", "--port", "0", "--output-dir", out],
                                  stderr=subprocess.PIPE, text=True)
        try:
            assert server.stderr is not None
            line = server.stderr.readline()  # "painterly: open http://127.0.0.1:PORT/ in a browser ..."
            url = line.split("open ", 1)[1].split(" ", 1)[0]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(600_000)
                page.goto(url)
                page.set_input_files("#content-input", str(ROOT / "examples" / "building.jpg"))
                page.set_input_files("#style-input", str(ROOT / "examples" / "starry_night.jpg"))
                page.click("#start")
                page.wait_for_function("document.querySelector('#view').src.includes('preview.jpg?v=')")
                started = time.monotonic()
                page.wait_for_function("Number(document.querySelector('#progress').getAttribute('aria-valuenow'))"
                                       f" >= {round(100 * args.at)}")
                time.sleep(1)  # the preview of that iteration
                page.screenshot(path=str(ROOT / "docs" / "img" / "web.png"))
                print(f"docs/img/web.png: {page.locator('#status-text').inner_text()!r}, "
                      f"{time.monotonic() - started:.0f} s after the first preview")
                page.click("#cancel")
                browser.close()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)


if __name__ == "__main__":
    main()
