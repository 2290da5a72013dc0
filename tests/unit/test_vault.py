"""The vault's sealed form: AES-256-GCM with an authenticated header, and the Fernet tokens
earlier versions wrote still open. Hostile tokens (cut, flipped, foreign, garbage, huge)
raise InvalidToken and nothing else."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.fernet import Fernet

from intake.crypto import VERSION, InvalidToken, Vault, generate_key


def test_a_sealed_value_opens_and_carries_no_clear_text() -> None:
    vault = Vault([generate_key()])
    secret = "我的银行卡 6222 0212 3456 7890 密码 abc123".encode()
    token = vault.encrypt(secret)
    assert token[:1] == VERSION and secret not in token and b"6222" not in token
    assert len(token) == len(secret) + 1 + 4 + 12 + 16  # no base64: a quarter smaller than Fernet
    assert vault.decrypt(token) == secret
    assert vault.encrypt(secret) != token  # a fresh nonce every time
    assert vault.decrypt(vault.encrypt(b"")) == b""


def test_a_fernet_token_of_an_earlier_version_still_opens_under_any_configured_key() -> None:
    old, new = generate_key(), generate_key()
    token = Fernet(old.encode()).encrypt(b"sealed by an earlier version")
    assert Vault([old]).decrypt(token) == b"sealed by an earlier version"
    assert Vault([new, old]).decrypt(token) == b"sealed by an earlier version"
    with pytest.raises(InvalidToken):
        Vault([new]).decrypt(token)


def test_rotation_reseals_under_the_primary_in_the_current_form() -> None:
    old, new = generate_key(), generate_key()
    for token in (Vault([old]).encrypt(b"mail"), Fernet(old.encode()).encrypt(b"mail")):
        rotated = Vault([new, old]).rotate(token)
        assert rotated[:1] == VERSION and Vault([new]).decrypt(rotated) == b"mail"
        with pytest.raises(InvalidToken):
            Vault([old]).decrypt(rotated)
    assert Vault([new, old]).decrypt(Vault([old]).encrypt(b"kept")) == b"kept"  # before rotation


def test_ascii_form_for_text_columns() -> None:
    key = generate_key()
    vault = Vault([key])
    sealed = vault.seal_ascii("私密 reply".encode())
    assert sealed.isascii() and "私密" not in sealed
    assert vault.open_ascii(sealed) == "私密 reply".encode()
    legacy = Fernet(key.encode()).encrypt(b"older follow-up").decode("ascii")
    assert vault.open_ascii(legacy) == b"older follow-up"
    assert vault.open_ascii(vault.rotate_ascii(legacy)) == b"older follow-up"
    for garbage in ("", "not base64 at all!", "AAAA", "gAAAAAbroken", "é"):
        with pytest.raises(InvalidToken):
            vault.open_ascii(garbage)


@pytest.mark.parametrize("position", [0, 1, 4, 5, 16, 17, -1])
def test_any_flipped_byte_is_refused(position: int) -> None:
    vault = Vault([generate_key()])
    token = bytearray(vault.encrypt(b"the raw mail"))
    token[position] ^= 0x01
    with pytest.raises(InvalidToken):
        vault.decrypt(bytes(token))


def test_foreign_cut_and_garbage_tokens_are_refused() -> None:
    vault = Vault([generate_key()])
    token = vault.encrypt(b"the raw mail")
    hostile = [b"", VERSION, token[:5], token[:17], token[:32], token[:-1],
               Vault([generate_key()]).encrypt(b"the raw mail"), os.urandom(64), VERSION + os.urandom(4096),
               b"gAAAAA" + b"A" * 100, base64.urlsafe_b64encode(token)]
    for bad in hostile:
        with pytest.raises(InvalidToken):
            vault.decrypt(bad)


def test_a_large_capture_round_trips() -> None:
    vault = Vault([generate_key(), generate_key()])
    data = os.urandom(1 << 20) * 8  # 8 MB, the size of a mail with attachments
    assert vault.decrypt(vault.encrypt(data)) == data


def test_key_checks_seal_under_the_primary() -> None:
    old, new = generate_key(), generate_key()
    check = Vault([new, old]).encrypt(b"intake key check")
    assert Vault([new]).decrypt(check) == b"intake key check"
    with pytest.raises(InvalidToken):
        Vault([old]).decrypt(check)
