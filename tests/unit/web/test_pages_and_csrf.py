"""The shared page pieces: language choice, CSRF tokens bound to their cookie, derived secrets."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from intake.crypto import Vault, generate_key
from intake.web.csrf import COOKIE, Csrf
from intake.web.pages import SECURITY_HEADERS, Pages, language
from intake.settings import DEFAULTS_DIR


def request(headers: dict[str, str] | None = None, query: str = "") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw,
                    "query_string": query.encode()})


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("en-GB,en;q=0.9", "en"),
    ("fr-FR, zh-TW;q=0.5", "zh"),
    ("en;q=0.2, zh;q=0.9", "zh"),
    ("de, fr", "en"),
    ("zh;q=abc, en;q=0.1", "en"),
    ("", "en"),
])
def test_language_from_accept_language(header: str, expected: str) -> None:
    assert language(request({"Accept-Language": header})) == expected


def test_lang_parameter_wins_and_huge_header_is_cut() -> None:
    assert language(request({"Accept-Language": "en"}, "lang=zh")) == "zh"
    assert language(request({"Accept-Language": "x, " * 200_000 + "zh"})) == "en"


def test_csrf_token_is_bound_to_its_cookie() -> None:
    csrf = Csrf(b"k" * 32)
    token, cookie = csrf.token(request())
    assert cookie is not None
    with_cookie = request({"Cookie": f"{COOKIE}={cookie}"})
    assert csrf.token(with_cookie) == (token, None)
    assert csrf.valid(with_cookie, token)
    assert not csrf.valid(request(), token)  # no cookie
    other, other_cookie = csrf.token(request())
    assert not csrf.valid(with_cookie, other)  # a token made for another client
    assert not csrf.valid(with_cookie, None)
    assert not csrf.valid(with_cookie, token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not csrf.valid(request({"Cookie": f"{COOKIE}=short"}), token)
    assert not Csrf(b"x" * 32).valid(with_cookie, token)  # another desk's secret


def test_derived_secrets_differ_per_purpose_and_are_stable() -> None:
    key = generate_key()
    vault = Vault([key, generate_key()])
    assert vault.derive("csrf") == Vault([key]).derive("csrf")
    assert vault.derive("csrf") != vault.derive("session")
    assert len(vault.derive("csrf")) == 32 and key.encode() not in vault.derive("csrf")


def test_pages_escape_and_carry_security_headers(tmp_path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "probe.html").write_text(
        '{% extends "_base.html" %}{% block content %}{{ value }} {{ t("language") }}{% endblock %}')
    response = Pages(tmp_path).render("probe.html", "zh", value="<script>alert(1)</script>")
    body = bytes(response.body).decode()
    assert "&lt;script&gt;" in body and "<script>" not in body
    assert "中文" in body and 'lang="zh-CN"' in body
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert (DEFAULTS_DIR / "templates" / "web" / "static" / "intake.css").is_file()
