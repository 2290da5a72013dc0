"""The ops console in a real browser (headless Chromium, Selenium): an agent signs in with
a token, opens a ticket, sends a reply, and the reply lands in the outbox (and, sent, in
the outbox folder); a form stripped of its CSRF token is refused. A screenshot of the desk
is kept under var/artifacts/ (the test prints where)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.access import tokens
from intake.send.batch import send_batch
from intake.tickets.models import Outbox
from tests.flows import ingest_raw, mail, make_runtime
from tests.support.browser import *  # noqa: F403 - fixtures
from tests.support.served import served_app

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPLY = "Hello Alice, please clear the app cache and try the upload again. 请清除缓存后重试。"


def reply_rows(rt: object) -> list[Outbox]:
    with rt.sessions() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(Outbox).where(Outbox.kind == "reply")))


def test_agent_signs_in_opens_a_ticket_and_replies(browser: object, artifacts_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]

    def click_and_wait(element: object, condition: object) -> None:
        """Click, then wait for the next page (a busy machine may load it slowly)."""
        element.click()  # type: ignore[attr-defined]
        WebDriverWait(driver, 30).until(condition)  # type: ignore[arg-type]
    rt = make_runtime(f"sqlite:///{tmp_path}/desk.db", tmp_path / "data")
    ref = ingest_raw(rt, mail()).ticket_ref
    ingest_raw(rt, mail(subject="Refund not received", body="Card 4111 1111 1111 1111 charged twice.",
                        sender="Wei <wei@example.com>", message_id="<m2@example.com>"))
    secret, _ = tokens.create(rt, "agent", ["write"])
    with served_app(rt) as app:
        driver.get(app.base + "/")
        assert driver.current_url.endswith("/console/signin")
        driver.find_element(By.ID, "token").send_keys(secret)
        click_and_wait(driver.find_element(By.ID, "signin"), EC.url_matches(r"/console/$"))
        assert driver.find_element(By.ID, "open").text.startswith("Open tickets: 2")
        assert "Payments and Billing" in driver.find_element(By.ID, "open").text
        desk_png = artifacts_dir / "desk.png"
        assert driver.save_screenshot(str(desk_png)) and desk_png.stat().st_size > 1000
        print(f"desk screenshot: {desk_png}")
        assert "4111" not in driver.page_source  # the private ticket's text is not on the desk

        click_and_wait(driver.find_element(By.LINK_TEXT, "Tickets"), EC.presence_of_element_located((By.ID, "ticket-list")))
        click_and_wait(driver.find_element(By.LINK_TEXT, ref), EC.presence_of_element_located((By.ID, "ticket-ref")))
        assert driver.find_element(By.ID, "ticket-ref").text == ref
        driver.find_element(By.ID, "reply-text").send_keys(REPLY)
        click_and_wait(driver.find_element(By.ID, "reply-send"), EC.presence_of_element_located((By.ID, "done")))
        assert "Reply queued" in driver.find_element(By.ID, "done").text
        driver.save_screenshot(str(artifacts_dir / "ticket.png"))
        (row,) = reply_rows(rt)
        assert row.status == "queued" and REPLY in row.body_text and app.sent() == [row.id]
        assert "agent_reply" in driver.page_source or "reply" in driver.find_element(By.ID, "follow-ups").text

        # The same form without its CSRF token (as a forged cross-site form would arrive)
        driver.execute_script("document.querySelector('#reply-form input[name=csrf_token]').remove()")
        driver.find_element(By.ID, "reply-text").send_keys("forged")
        click_and_wait(driver.find_element(By.ID, "reply-send"), EC.presence_of_element_located((By.ID, "notice")))
        assert "did not come from this console" in driver.find_element(By.ID, "notice").text
        assert len(reply_rows(rt)) == 1 and len(app.sent()) == 1

        # What the workers do with the id: the reply leaves by the file backend
        assert send_batch(rt, app.sent()) == {row.id: "sent"}
        (sent,) = (tmp_path / "data" / "outbox").glob("*.eml")
        message = email.message_from_bytes(sent.read_bytes(), policy=policy.default)
        assert message["To"] == "Alice <alice@example.com>" and ref in message["Subject"]
        assert "请清除缓存后重试" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    rt.dispose()
