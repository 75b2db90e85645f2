"""A real headless Chromium for the report's tests (Debian's chromium and chromium-driver,
which `.ci/run` installs): every console message and every network request it made is
collected, so a test can fail on any of them.

Skips where Chromium is missing, except in CI, where it fails (as the Postgres tests do).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("FLOWSYNC_TEST_CHROMIUM", "/usr/bin/chromium")
DRIVER = os.environ.get("FLOWSYNC_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
DESKTOP, PHONE = (1280, 900), (390, 844)


def require_chromium() -> None:
    problem = None
    if not (shutil.which(CHROMIUM) and shutil.which(DRIVER)):
        problem = f"Chromium and ChromeDriver not found ({CHROMIUM}, {DRIVER})"
    else:
        try:
            import selenium  # noqa: F401
        except ImportError:
            problem = "selenium is not installed"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests are required in CI: {problem}")
        pytest.skip(problem)


class Page:
    """One page in a fresh headless Chromium, with what it logged and requested."""

    def __init__(self, driver) -> None:
        self.driver = driver

    def open(self, path: Path, size: tuple[int, int]) -> None:
        """Loads the page afresh; what was logged before is dropped."""
        self.driver.get_log("browser")
        self.driver.get_log("performance")
        self.driver.set_window_size(*size)
        self.driver.get(path.resolve().as_uri())

    def console(self) -> list[dict]:
        return self.driver.get_log("browser")

    def requests(self) -> list[str]:
        """Every URL the page asked for (the page itself included), from the network log."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
            if message["method"] == "Network.loadingFailed":
                urls.append("FAILED " + message["params"].get("errorText", ""))
        return urls

    def screenshot(self, path: Path, width: int) -> None:
        """The whole page at `width` CSS pixels, as a PNG."""
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(width, min(height + 140, 16_000))
        self.driver.save_screenshot(str(path))

    def script(self, code: str, *args):
        return self.driver.execute_script(code, *args)


@contextmanager
def chromium() -> Iterator[Page]:
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    try:
        yield Page(driver)
    finally:
        driver.quit()
