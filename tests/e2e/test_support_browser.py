"""A real browser (headless Chromium, Selenium) fills the support form in Chinese with a
PNG, sees its reference, and follows the status link of the acknowledgement it was sent."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intake.send.batch import send_batch
from intake.tickets.models import AttachmentRow, Message, Ticket
from intake.web.app import create_app
from intake.work import Work
from tests.flows import make_runtime
from tests.support.browser_form import chrome, png, served
from tests.support.ports import LOOPBACK, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def gone(element: Any) -> Callable[[Any], bool]:
    """Selenium's `staleness_of`, also when Chromium, asked about a node that left the page
    mid-question, answers with an inspector error ("Node with given id does not belong to
    the document") instead of a stale-element one."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def check(_driver: Any) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return check


def test_chinese_form_with_screenshot_to_status_page(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    outbox = tmp_path / "outbox"
    rt = make_runtime(f"sqlite:///{tmp_path / 'intake.db'}", tmp_path, public_url=f"http://{LOOPBACK}:{port}",
                      email_backend="file", outbox_dir=outbox)

    def enqueue(work: Work) -> int:  # the worker's part, inline: deliver what was queued
        send_batch(rt, [outbox_id for outbox_id, _ in work.send])
        return len(work.send)

    shot = tmp_path / "截图.png"
    shot.write_bytes(png(64, 48))
    app = create_app(rt, enqueue=enqueue, check_broker=None, require_twilio=False)
    driver = chrome()
    try:
        with served(app, port) as base:
            driver.get(f"{base}/support?lang=zh")
            assert "联系客服" in driver.title
            Select(driver.find_element(By.ID, "type")).select_by_value("technical")
            driver.find_element(By.ID, "description").send_keys("上传视频的时候应用一直闪退，已经重装过了还是不行。")
            driver.find_element(By.ID, "contact").send_keys("zhang.wei@example.com")
            driver.find_element(By.ID, "screenshots").send_keys(str(shot))
            submit = driver.find_element(By.ID, "submit")
            submit.click()
            # The form has a field with id "reference" too: wait for the form to go first, or
            # the wait may return that field just before the answer page replaces it.
            WebDriverWait(driver, 30).until(gone(submit))
            reference = WebDriverWait(driver, 30).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "strong#reference"))).text
            assert re.fullmatch(r"TK-[0-9A-Z]{6}", reference)
            assert "我们已收到您的请求" in driver.page_source

            with rt.sessions() as session:
                ticket = session.scalars(select(Ticket).where(Ticket.ref == reference)).one()
                assert ticket.category == "technical" and ticket.language == "zh"
                stored = session.scalars(select(AttachmentRow).join(Message).where(
                    Message.ticket_id == ticket.id)).one()
                assert stored.content == shot.read_bytes() and stored.content_type == "image/png"

            files = sorted(outbox.rglob("*.eml"))
            assert len(files) == 1
            mail = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
            assert mail["To"] == "zhang.wei@example.com" and reference in mail["Subject"]
            text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            assert "查看处理进度" in text
            link = re.search(r"http://127\.0\.0\.1:\d+/status/[A-Za-z0-9_-]+", text)
            assert link, text
            driver.get(link.group(0))
            assert driver.find_element(By.ID, "ref").text == reference
            assert driver.find_element(By.ID, "status").text == "处理中"
            assert "工单进度" in driver.title
    finally:
        driver.quit()
        rt.dispose()
