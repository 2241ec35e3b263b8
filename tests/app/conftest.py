"""Fixtures of the app tests: the populated recording, the app served from a thread, and headless Chromium.

Chromium comes from the system (Debian's ``chromium`` package, which ``scripts/test.sh`` installs where it can);
Playwright drives it and never downloads a browser. Where either is missing, the browser tests are skipped with
the reason.
"""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .recording import SPATIAL_PARAMSET, populated_recording

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img" / "app"
SUBJECT = "app-mouse"


@pytest.fixture(scope="package")
def app_pipeline():
    """The activated ``workflow.pipeline`` (its schemas are dropped with the run's prefix at the end)."""
    import datajoint as dj

    dj.config["safemode"] = False
    from workflow import pipeline

    return pipeline


@pytest.fixture(scope="package")
def app_recording(app_pipeline, tmp_path_factory):
    """The processing task key of the populated recording; its rows are deleted after the app tests."""
    import os

    folder = Path(os.environ["EC_RAW_ROOT"]) / f"app_recording_{os.getpid()}"
    key = populated_recording(app_pipeline, folder, SUBJECT)
    yield key
    (app_pipeline.Subject & {"subject": SUBJECT}).delete(prompt=False)
    (app_pipeline.events.EventParamSet & {"event_paramset_id": SPATIAL_PARAMSET}).delete(prompt=False)
    for table in app_pipeline.imaging.automatic_tables():
        if table.jobs.is_declared:
            (table.jobs & {"subject": SUBJECT}).delete_quick()


@pytest.fixture(scope="package")
def app_data(app_pipeline):
    from element_calcium.app import AppData

    return AppData(app_pipeline)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="package")
def app_url(app_recording, tmp_path_factory):
    """``element-calcium app`` served on 127.0.0.1 by its own process (the database connection of this one stays
    this test's); its address."""
    port = _free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    command = [str(Path(sys.executable).with_name("element-calcium")), "app", "--port", str(port)]
    with open(log, "w") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=120).read()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"element-calcium app did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.3)
    yield url
    server.terminate()
    server.wait(timeout=30)
    errors = [line for line in log.read_text().splitlines() if "Traceback" in line]
    assert not errors, f"the app logged errors:\n{log.read_text()[-5000:]}"


@pytest.fixture(scope="package")
def chromium():
    """Headless Chromium from the system, driven by Playwright."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="install the app extra: pip install -e '.[app]'")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no system Chromium: install Debian's package (sudo apt-get install -y chromium); "
                    "scripts/test.sh does it when it runs as root or with sudo")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A fresh browser page (its own session) of 1400 x 1000 pixels."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
