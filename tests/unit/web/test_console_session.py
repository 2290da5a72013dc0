"""Console session cookies: signed, bound to one desk's key, expiring, tamper-evident;
and the token format checked before any lookup."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from intake.access import tokens
from intake.access.tokens import Caller, effective
from intake.crypto import Vault, generate_key
from intake.web.auth import SESSION_SECONDS, Auth


def auth(key: str | None = None) -> Auth:
    rt: Any = SimpleNamespace(vault=Vault([key or generate_key()]))
    return Auth(rt)


CALLER = Caller(7, "agent", frozenset({"read"}))


def test_a_session_names_its_token_until_it_expires() -> None:
    a = auth()
    value = a.session_value(CALLER)
    assert a.session_token_id(value) == 7
    assert a.session_token_id(value, now=time.time() + SESSION_SECONDS + 5) is None
    assert a.session_token_id(a.session_value(CALLER, now=time.time() + 3600)) is None  # from the future


def test_tampered_or_foreign_sessions_are_refused() -> None:
    key = generate_key()
    a = auth(key)
    value = a.session_value(CALLER)
    version, token_id, issued, nonce, signature = value.split(".")
    forged = [
        f"{version}.8.{issued}.{nonce}.{signature}",  # another token id, same signature
        f"{version}.{token_id}.{int(issued) + 1}.{nonce}.{signature}",  # extended
        value[:-1] + ("0" if value[-1] != "0" else "1"),
        auth().session_value(CALLER),  # another desk's key
        "", "v1", "v1.7", "v1.7.1.2.3", value + "x" * 10_000, "v1.7.1.0000000000000000." + "0" * 64,
        f"v1.{'9' * 40}.{issued}.{nonce}.{signature}", "\x00" * 100, "Ω" * 50,
    ]
    for value in forged:
        assert a.session_token_id(value) is None, value[:80]
    assert auth(key).session_token_id(a.session_value(CALLER)) == 7  # every process of the desk agrees


@pytest.mark.parametrize("presented", [
    "", "itk_", "Bearer", "x" * 100_000, "itk_" + "0" * 12 + "_" + "A" * 42,
    "itk_" + "0" * 12 + "_" + "A" * 44, "itk_ZZZZZZZZZZZZ_" + "A" * 43, "itk_000000000000_" + "A" * 42 + "%",
    "itk_000000000000_" + "A" * 43 + "\n", "' OR 1=1 --", "itk_%_%",
])
def test_malformed_tokens_never_reach_the_database(presented: str) -> None:
    rt: Any = SimpleNamespace(sessions=None)  # any lookup would fail loudly
    assert tokens.authenticate(rt, presented) is None


def test_scopes_and_what_they_imply() -> None:
    assert effective(["read"]) == {"read"}
    assert effective(["write"]) == {"read", "write"}
    assert effective(["admin"]) == {"read", "write", "admin"}  # not private
    assert effective(["private"]) == {"read", "private"}
    assert effective(["write", "private"]) == {"read", "write", "private"}
    assert effective(["root"]) == frozenset()
