"""The API's Swagger page in a real browser (headless Chromium, Selenium), from the package's
own copy of Swagger UI: it renders the tickets API with no CDN, so an offline desk has docs.
The page and its assets name no host but the desk's own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from tests.flows import make_runtime
from tests.support.browser import *  # noqa: F403 - fixtures
from tests.support.served import served_app

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_swagger_page_renders_from_the_desk_alone(browser: object, artifacts_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    rt = make_runtime(f"sqlite:///{tmp_path}/desk.db", tmp_path / "data")
    with served_app(rt) as app:
        page = requests.get(app.base + "/api/v1/docs", timeout=10)
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
        assert urls and all(u.startswith("/api/v1/") for u in urls), urls  # no CDN, no other host
        for url in urls:
            assert requests.get(app.base + url, timeout=10).status_code == 200, url
        driver.get(app.base + "/api/v1/docs")
        WebDriverWait(driver, 60).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
        paths = {e.get_attribute("data-path") or e.text for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        driver.save_screenshot(str(artifacts_dir / "swagger.png"))
    assert "/tickets/{ref}" in {p.replace("\u200b", "") for p in paths}, paths
