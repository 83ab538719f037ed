"""End to end: ``restora serve``'s page in headless Chromium (Debian's chromium + chromedriver).

Starts the app with uvicorn on 127.0.0.1 (a free port) in a thread, loads the page, uploads a
small noisy image, asks for x2, clicks Restore and checks that the before/after images, the
plan and the download appear. Screenshots go to ``results/`` (git-ignored). Skips when the
browser, its driver, selenium or the web extra is missing (``scripts/install-browser.sh``
installs the browser). Only 127.0.0.1 is contacted; every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip(
        "headless browser test: /usr/bin/chromium or /usr/bin/chromedriver not installed (scripts/install-browser.sh)",
        allow_module_level=True,
    )
pytest.importorskip("selenium")
pytest.importorskip("gradio")
uvicorn = pytest.importorskip("uvicorn")

from PIL import Image  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from restora.web import create_app  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1400",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate, timeout: float, what: str, step: float = 0.25):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def server():
    from restora.pipeline import RestorePipeline

    app = create_app(RestorePipeline(device="cpu"), max_concurrency=1, queue_size=2)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="restora-test-server", daemon=True)
    thread.start()
    _wait(lambda: srv.started, 60, "the server to start")
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(15)


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="restora-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def noisy_png(tmp_path) -> Path:
    """scikit-image's bundled cat photo (CC0), halved to 225 x 150, with sigma-20 noise."""
    from skimage import data

    cat = Image.fromarray(data.chelsea()).resize((225, 150), Image.Resampling.BOX)
    rng = np.random.default_rng(1)
    noisy = np.clip(np.asarray(cat, np.float32) / 255 + rng.normal(0, 20 / 255, (150, 225, 3)), 0, 1)
    path = tmp_path / "noisy photo.png"
    Image.fromarray((noisy * 255 + 0.5).astype(np.uint8)).save(path)
    return path


def _choose(driver, elem_id: str, label_prefix: str) -> None:
    """Open a Gradio dropdown and click the option whose label starts with ``label_prefix``."""
    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input")
    box.click()
    option = _wait(
        lambda: driver.find_elements(By.CSS_SELECTOR, f"#{elem_id} li[aria-label^='{label_prefix}']"),
        10,
        f"option {label_prefix!r} of {elem_id}",
    )
    option[0].click()
    _wait(lambda: box.get_attribute("value").startswith(label_prefix), 10, f"{elem_id} to show {label_prefix!r}")


def _options(driver, elem_id: str) -> list[str]:
    driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input").click()
    items = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, f"#{elem_id} li"), 10, f"options of {elem_id}")
    labels = [li.get_attribute("aria-label") for li in items]
    driver.find_element(By.TAG_NAME, "h1").click()  # close the list
    return labels


def _shot(driver, name: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    driver.save_screenshot(str(path))
    return path


def test_page_restores_an_upload(server, browser, noisy_png):
    d = browser
    d.get(server + "/")
    _wait(lambda: d.find_elements(By.CSS_SELECTOR, "#restora-input input[type=file]"), 60, "the upload field")
    assert d.title == "restora"

    d.find_element(By.CSS_SELECTOR, "#restora-input input[type=file]").send_keys(str(noisy_png))
    _wait(lambda: d.find_elements(By.CSS_SELECTOR, "#restora-input img"), 30, "the upload preview")
    _choose(d, "restora-method", "nlm (")  # a fast denoiser; the task follows from the method
    scale2 = d.find_element(By.CSS_SELECTOR, "#restora-scale input[type=radio][value='2']")
    d.execute_script("arguments[0].click();", scale2)
    d.find_element(By.ID, "restora-run").click()

    def result_images():
        imgs = d.find_elements(By.CSS_SELECTOR, "#restora-result img")
        loaded = [i for i in imgs if d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i)]
        return loaded if len(loaded) >= 2 else None

    try:
        imgs = _wait(result_images, 180, "the before/after images")
    except AssertionError:
        _shot(d, "web_ui_failed.png")
        raise
    sizes = {
        (
            d.execute_script("return arguments[0].naturalWidth", i),
            d.execute_script("return arguments[0].naturalHeight", i),
        )
        for i in imgs
    }
    assert sizes == {(450, 300)}  # x2 of 225 x 150, before enlarged to match after

    plan = d.find_element(By.CSS_SELECTOR, "#restora-plan textarea").get_attribute("value")
    assert "upscale" in plan and "225x150 -> 450x300" in plan
    assert "denoise: nlm" in plan and "2. upscale: " in plan  # the planner picks the best available upscaler
    links = _wait(lambda: d.find_elements(By.CSS_SELECTOR, "#restora-download a"), 30, "the download link")
    assert any("noisy_photo_restored.png" in (a.text + (a.get_attribute("href") or "")) for a in links)
    assert "127.0.0.1" in links[0].get_attribute("href")
    _wait(lambda: not d.find_elements(By.CSS_SELECTOR, "#restora-result .progress-text"), 30, "the progress bar to go")
    shot = _shot(d, "web_ui.png")
    assert shot.stat().st_size > 10_000


def test_page_task_choice_and_errors(server, browser):
    d = browser
    d.get(server + "/")
    _wait(lambda: d.find_elements(By.CSS_SELECTOR, "#restora-run"), 60, "the page")
    # choosing the upscale task narrows the methods to upscalers and sets the factor to 2
    _choose(d, "restora-task", "upscale")
    _wait(lambda: d.find_element(By.CSS_SELECTOR, "#restora-scale input[value='2']").is_selected(), 10, "scale 2")
    labels = _options(d, "restora-method")
    assert any(label.startswith("bicubic") for label in labels)
    assert not any(label.startswith("nlm") for label in labels)
    d.find_element(By.ID, "restora-run").click()  # nothing uploaded
    toast = _wait(
        lambda: [e for e in d.find_elements(By.CSS_SELECTOR, "[data-testid='toast-body']") if e.text],
        30,
        "an error toast",
    )
    assert "Upload an image first" in toast[0].text
    _shot(d, "web_ui_error.png")
