"""govsim viz in a real headless browser: Debian's chromium driven by selenium.

The server is started the way ``govsim viz`` starts it (``python -m sim.cli.viz``, the same
``add_viz_command``/``cmd_viz``) on a free port of 127.0.0.1, and always stopped. In CI
(``CI=true``) a missing chromium, chromedriver or selenium fails the test; elsewhere it skips.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("GOVSIM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("GOVSIM_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
SERVER_START_S = 90  # first start in a fresh environment also unpacks Solara's front-end assets with npm
PAGE_S = 45


def _missing(what: str) -> None:
    msg = f"{what}: apt-get install -y chromium chromium-driver; pip install selenium (the test extra)"
    if IN_CI:
        pytest.fail(f"CI=true and {msg}")
    pytest.skip(msg)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and anything it started (its own session / process group)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def tools() -> tuple[str, str]:
    """Chromium and its driver, and selenium; checked before any server is started."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        _missing("selenium is not installed")
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        _missing(f"no {CHROMIUM} or {CHROMEDRIVER}")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="module")
def server(tools: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("viz") / "server.log"
    env = dict(os.environ, SOLARA_TELEMETRY_MIXPANEL_ENABLE="False", MPLBACKEND="Agg")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sim.cli.viz", "--host", "127.0.0.1", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"govsim viz exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"govsim viz did not answer in {SERVER_START_S} s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(proc)
    assert proc.poll() is not None, "the server is still running"


@pytest.fixture()
def browser(tools: tuple[str, str]) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = tools
    with tempfile.TemporaryDirectory(prefix="govsim-chromium-") as profile:
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--disable-extensions", f"--user-data-dir={profile}", "--window-size=1400,1000"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(chromedriver), options=opts)
        driver.set_page_load_timeout(PAGE_S)
        try:
            yield driver
        finally:
            driver.quit()


def _status(driver) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, ".govsim-status")
    return found[0].text if found else ""


def _rendered_images(driver) -> list[str]:
    """src of every rendered widget image (the graph and the two plots), in page order."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('img.widget-image'))"
        ".filter(i => i.complete && i.naturalWidth > 50).map(i => i.src);")


def _button(driver, label: str):
    from selenium.webdriver.common.by import By

    for b in driver.find_elements(By.TAG_NAME, "button"):
        if b.text.strip().upper() == label.upper():
            return b
    raise AssertionError(f"no {label!r} button; buttons: {[b.text for b in driver.find_elements(By.TAG_NAME, 'button')]}")


def _severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def test_page_renders_steps_and_switches_a_lever(server: str, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, PAGE_S, poll_frequency=0.25)
    try:
        driver.get(server)
        def first_render(d) -> list[str] | bool:  # the images as seen when the page was ready (it may re-render)
            imgs = _rendered_images(d)
            return imgs if _status(d).startswith("govsim day 0") and len(imgs) >= 3 else False

        graph, plot1, plot2 = wait.until(first_render)[:3]
        sidebar = driver.find_element(By.TAG_NAME, "body").text
        for label in ("Households per grid", "Grid workers per grid", "Alliance units", "Street empowerment",
                      "Whistle", "RESET", "STEP"):
            assert label.upper() in sidebar.upper(), label
        assert "policies: none" in _status(driver)

        _button(driver, "Step").click()
        wait.until(lambda d: _status(d).startswith("govsim day 1 "))
        wait.until(lambda d: len(_rendered_images(d)) >= 3 and _rendered_images(d)[0] != graph
                   and _rendered_images(d)[1] != plot1)
        assert "resolution rate n/a" not in _status(driver)  # problems have arisen and been handled

        # a lever: switch the whistle on and reset; the new model runs the whistle policy
        whistle = driver.find_element(By.XPATH, "//label[normalize-space()='Whistle']")
        whistle.click()
        _button(driver, "Reset").click()
        wait.until(lambda d: _status(d).startswith("govsim day 0") and "whistle" in _status(d))

        driver.save_screenshot(str(tmp_path / "viz.png"))
        severe = _severe(driver)
        assert not severe, f"browser console errors: {severe}"
        assert plot2  # the backlog plot rendered too
    except Exception:
        driver.save_screenshot(str(tmp_path / "viz-failure.png"))
        raise
