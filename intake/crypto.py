"""Encryption at rest for raw captures and private text.

Keys come from INTAKE_ENCRYPTION_KEY (comma-separated Fernet keys, newest first). On the
embedded default a key is generated once into `<data_dir>/secret.key` (mode 0600) so one
machine runs with no setup; production sets the variable.

Sealed values are AES-256-GCM (the `cryptography` package's AESGCM) under a key derived
from each configured key with HKDF: version byte 0x01, a 4-byte key id, a 12-byte random
nonce, then ciphertext and tag; the version and key id are authenticated with it. Binary,
with no base64 and no second MAC pass, this costs a tenth of a Fernet token's time and
three quarters of its bytes, which counts on every captured mail (written once, read back
by processing). Values sealed as Fernet tokens by earlier versions still open (MultiFernet
over the same keys), and `intake keys rotate` rewrites them in the current form. Text
columns take the sealed value in url-safe base64 (`seal_ascii` / `open_ascii`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["Vault", "InvalidToken", "generate_key"]


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


VERSION = b"\x01"  # a Fernet token starts with b"gAAAAA": the first byte tells the two apart
_HEADER = 1 + 4  # version, key id
_NONCE = 12
_TAG = 16


def _hkdf(secret: bytes, info: bytes) -> bytes:
    """32 bytes derived from `secret` for the use `info` names (HKDF-SHA256, no salt)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


class Vault:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in keys])  # validates every key
        self._ids = [hashlib.sha256(k.encode("ascii")).hexdigest()[:16] for k in keys]
        self._primary_key = keys[0].encode("ascii")
        self._ciphers: dict[bytes, list[AESGCM]] = {}
        for n, key in enumerate(keys):
            aead = _hkdf(base64.urlsafe_b64decode(key.encode("ascii")), b"intake/seal/aes-256-gcm")
            header = VERSION + hashlib.sha256(b"intake/seal/key-id" + aead).digest()[:4]
            cipher = AESGCM(aead)
            if n == 0:  # `encrypt` always seals under the primary key
                self._header, self._cipher = header, cipher
            self._ciphers.setdefault(header, []).append(cipher)

    @classmethod
    def from_settings(cls, encryption_key: str, data_dir: Path,
                      may_create: Callable[[], bool] = lambda: True) -> "Vault":
        """Raises SettingsError naming the variable or the key file, never echoing a key.
        Without INTAKE_ENCRYPTION_KEY the key file is read, and made only when `may_create()`
        says the database is brand new."""
        from intake.settings import SettingsError

        keys = [k.strip() for k in encryption_key.split(",") if k.strip()]
        source = "INTAKE_ENCRYPTION_KEY"
        if not keys:
            key_file = data_dir / "secret.key"
            source = str(key_file)
            if not key_file.exists() and not may_create():
                raise SettingsError(
                    f"{key_file}: no key file, and the database is not a new one (it holds sealed data, or "
                    "cannot be reached): restore the key file or set INTAKE_ENCRYPTION_KEY (a key is "
                    "only made for a new, empty database)")
            try:
                if not key_file.exists():
                    data_dir.mkdir(parents=True, exist_ok=True)
                    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "w") as handle:
                        handle.write(generate_key() + "\n")
                keys = [k.strip() for k in key_file.read_text().split(",") if k.strip()]
            except (OSError, UnicodeDecodeError) as exc:
                raise SettingsError(f"INTAKE_DATA_DIR: cannot use the key file {key_file} "
                                    f"({type(exc).__name__})") from None
        try:
            return cls(keys)
        except (ValueError, TypeError):
            raise SettingsError(f"{source}: not a valid Fernet key (32 url-safe base64 bytes; "
                                "`intake keys generate` makes one)") from None

    def fingerprints(self) -> list[str]:
        """A short public id of each key (not the key): which keys a key check was sealed by."""
        return list(self._ids)

    def derive(self, purpose: str) -> bytes:
        """A 32-byte secret for `purpose` (CSRF tokens, session cookies), derived from the
        primary key with HKDF: every process of one desk derives the same secret without a
        second setting, and no purpose's secret reveals the key or another purpose's."""
        return _hkdf(self._primary_key, b"intake/" + purpose.encode("utf-8"))

    def encrypt(self, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return self._header + nonce + self._cipher.encrypt(nonce, data, self._header)

    def decrypt(self, token: bytes) -> bytes:
        """Raises InvalidToken for a value no configured key opens, or not a sealed value."""
        if token[:1] != VERSION:
            return self._fernet.decrypt(token)  # sealed by an earlier version (or not sealed)
        header, nonce, sealed = token[:_HEADER], token[_HEADER:_HEADER + _NONCE], token[_HEADER + _NONCE:]
        if len(sealed) < _TAG:
            raise InvalidToken
        for cipher in self._ciphers.get(bytes(header), ()):
            try:
                return cipher.decrypt(nonce, sealed, header)
            except InvalidTag:
                continue
        raise InvalidToken

    def encrypt_text(self, text: str) -> bytes:
        return self.encrypt(text.encode("utf-8"))

    def decrypt_text(self, token: bytes) -> str:
        return self.decrypt(token).decode("utf-8")

    def seal_ascii(self, data: bytes) -> str:
        """A sealed value for a text column: url-safe base64 of `encrypt`."""
        return base64.urlsafe_b64encode(self.encrypt(data)).decode("ascii")

    def open_ascii(self, value: str) -> bytes:
        """What `seal_ascii` sealed (or an earlier version's Fernet token)."""
        if value.startswith("gAAAAA"):  # a Fernet token is url-safe base64 already
            return self.decrypt(value.encode("ascii"))
        try:
            token = base64.urlsafe_b64decode(value.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise InvalidToken from None
        return self.decrypt(token)

    def rotate(self, token: bytes) -> bytes:
        """Re-seal under the primary (first) key, in the current form."""
        return self.encrypt(self.decrypt(token))

    def rotate_ascii(self, value: str) -> str:
        return self.seal_ascii(self.open_ascii(value))
