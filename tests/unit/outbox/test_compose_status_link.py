"""The status link in acknowledgements and status notices: in every e-mail and SMS when
given, absent when not, and an SMS that cannot fit it goes without it rather than failing."""

from __future__ import annotations

import datetime as dt

import pytest

from intake.channels.sms import sms_size
from intake.outbox.compose import LANGUAGES, Composer, response_time
from intake.settings import DEFAULTS_DIR

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)
URL = "https://help-center.example-platform.com/status/AbCdEfGhIjKlMnOpQrStUv_-"


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(DEFAULTS_DIR / "templates")


def context(composer: Composer, lang: str, private: bool, **more: object) -> dict[str, object]:
    return {"ref": "TK-7QX2M9", "private": private,
            "department": composer.department_name("technical_support", lang),
            "response_time": response_time(NOW + dt.timedelta(hours=4), NOW, lang),
            "status": composer.status_name("open", lang), "status_code": "open", **more}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", ["ack", "status"])
@pytest.mark.parametrize("private", [False, True])
def test_link_in_every_mail_and_sms(composer: Composer, lang: str, kind: str, private: bool) -> None:
    ctx = context(composer, lang, private, status_url=URL)
    mail = composer.email(kind, lang, ctx, "")
    assert URL in mail.text and f'href="{URL}"' in (mail.html or "")
    sms = composer.sms(kind, lang, ctx)
    assert URL in sms.text and "TK-7QX2M9" in sms.text and sms_size(sms.text).segments <= 2
    if lang == "en":
        assert sms_size(sms.text).encoding == "gsm7"
    plain = composer.sms(kind, lang, context(composer, lang, private))
    assert "/status/" not in plain.text and "/status/" not in composer.email(kind, lang, context(composer, lang, private), "").text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_sms_without_room_for_the_link_goes_without_it(composer: Composer, lang: str) -> None:
    long_url = "https://" + "x" * 150 + ".example.com/status/AbCdEfGhIjKlMnOpQrStUv_-"
    sms = composer.sms("ack", lang, context(composer, lang, True, status_url=long_url))
    assert "TK-7QX2M9" in sms.text and "/status/" not in sms.text
    assert long_url in composer.email("ack", lang, context(composer, lang, True, status_url=long_url), "").text
