"""A real browser for the page tests: headless Chromium driven by Selenium, with Debian's
`chromium` and `chromium-driver` (installed by scripts/install-test-services.sh).

    from tests.support.browser import browser, artifacts_dir   # fixtures, into a test module
    def test_page(browser, artifacts_dir): browser.get(url); browser.save_screenshot(...)

    with headless_chrome(lang="zh-CN") as driver: ...           # outside pytest fixtures

`browser` is a fresh Chrome per test (own profile, so no cookies leak between tests),
1280x1024, English unless `lang=` is given to `headless_chrome`. `artifacts_dir` is
`var/artifacts/<test name>/` in the checkout (gitignored), printed so CI can keep it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.ci import unavailable

CHROMIUM = os.environ.get("INTAKE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("INTAKE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"

__all__ = ["browser", "artifacts_dir", "headless_chrome", "ARTIFACTS"]


@contextmanager
def headless_chrome(lang: str = "en-US", width: int = 1280, height: int = 1024) -> Iterator["object"]:
    """A headless Chromium session (selenium WebDriver), quit on exit."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            unavailable(f"{path} is missing (Debian package {package})")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="intake-chrome-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}", f"--user-data-dir={profile}", f"--lang={lang}",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser() -> Iterator[object]:
    with headless_chrome() as driver:
        yield driver


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    path = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:120]
    path.mkdir(parents=True, exist_ok=True)
    print(f"\ntest artifacts: {path}")
    return path
