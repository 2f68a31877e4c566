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
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("viz") / "server.log"


@pytest.fixture(scope="module")
def server(tools: tuple[str, str], server_log: Path) -> Iterator[str]:
    port = _free_port()
    log = server_log
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


def _header(driver) -> str:
    """The app bar's title (scenario and active policies)."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, ".v-toolbar__title")
    return " ".join(f.text for f in found)


def _step_to(driver, wait, day: int) -> None:
    """Press Step until the status shows ``day`` (one click per day, each waited for)."""
    current = int(_status(driver).split()[2])
    for d in range(current + 1, day + 1):
        _button(driver, "Step").click()
        wait.until(lambda drv, d=d: _status(drv).startswith(f"govsim day {d} "))


def _rate_plot(driver) -> str:
    """src of the rendered resolution rate / satisfaction plot (the second image)."""
    return _rendered_images(driver)[1]


def _first_render(driver, wait) -> list[str]:
    """Wait for day 0 with the graph and both plots; return the images as then rendered."""
    def ready(d) -> list[str] | bool:
        imgs = _rendered_images(d)
        return imgs if _status(d).startswith("govsim day 0") and len(imgs) >= 3 else False

    return wait.until(ready)


def test_page_renders_steps_and_a_lever_change_acts(server: str, browser, server_log: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, PAGE_S, poll_frequency=0.25)
    try:
        driver.get(server)
        graph, plot1, plot2 = _first_render(driver, wait)[:3]
        body = driver.find_element(By.TAG_NAME, "body").text
        # sliders show their values, the switches and Mesa's controls are there
        from sim.mesa.model import default_scenario
        from sim.mesa.viz import lever_label

        workers = lever_label("grid_workers_per_grid", default_scenario().community.n_grid_workers_per_grid,
                              default_scenario())  # the default scenario's grid workers (2 part-time roles)
        for label in ("Households per grid: the scenario's", workers, "Alliance units per community: 0",
                      "Street empowerment", "Whistle", "Seed: 1", "RESET", "STEP"):
            assert label.upper() in body.upper(), label
        assert "restarts the run at day 0" in body
        assert "PAGE 0" not in body.upper()  # no unnamed tab
        assert driver.title.startswith("govsim viz: ")  # a named browser tab
        assert "policies: none" in _status(driver) and "policies: none" in _header(driver)

        # three days of the baseline
        _step_to(driver, wait, 3)
        wait.until(lambda d: len(_rendered_images(d)) >= 3 and _rendered_images(d)[0] != graph
                   and _rate_plot(d) != plot1)
        assert "resolution rate n/a" not in _status(driver)  # problems have arisen and been handled
        before_status, before_plot = _status(driver), _rate_plot(driver)

        # a lever: street empowerment on; the model is rebuilt at day 0 with it, at once
        driver.find_element(By.XPATH, "//label[normalize-space()='Street empowerment']").click()
        wait.until(lambda d: _status(d).startswith("govsim day 0") and "street empowerment" in _status(d))
        wait.until(lambda d: "policies: street empowerment" in _header(d))
        _step_to(driver, wait, 3)
        wait.until(lambda d: len(_rendered_images(d)) >= 3 and _rate_plot(d) != before_plot)
        after_status = _status(driver)
        rate = [part for part in before_status.split(" | ") if part.startswith("resolution rate")]
        assert rate and rate[0] not in after_status, (before_status, after_status)  # a changed curve

        # Mesa's Reset keeps the levers the page shows
        _button(driver, "Reset").click()
        wait.until(lambda d: _status(d).startswith("govsim day 0") and "street empowerment" in _status(d))

        driver.save_screenshot(str(tmp_path / "viz.png"))
        severe = _severe(driver)
        assert not severe, f"browser console errors: {severe}"
        assert plot2  # the backlog plot rendered too
        log = server_log.read_text(errors="replace")
        assert "Warning" not in log and "Traceback" not in log, log[-3000:]  # e.g. no rules-of-hooks warning
    except Exception:
        driver.save_screenshot(str(tmp_path / "viz-failure.png"))
        raise


def test_two_browser_sessions_hold_separate_models(server: str, browser, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, PAGE_S, poll_frequency=0.25)
    try:
        driver.get(server)
        _first_render(driver, wait)
        _step_to(driver, wait, 2)
        first = driver.current_window_handle
        driver.switch_to.new_window("window")  # a second page: a session of its own
        driver.get(server)
        _first_render(driver, wait)  # starts at day 0, not at the first session's day 2
        _step_to(driver, wait, 1)
        driver.switch_to.window(first)
        assert _status(driver).startswith("govsim day 2 ")  # untouched by the second session's step
        _step_to(driver, wait, 3)
        second = [h for h in driver.window_handles if h != first][0]
        driver.switch_to.window(second)
        assert _status(driver).startswith("govsim day 1 ")
    except Exception:
        driver.save_screenshot(str(tmp_path / "viz-failure.png"))
        raise
