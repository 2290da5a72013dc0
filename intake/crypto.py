"""Encryption at rest for raw captures and private text (Fernet / MultiFernet).

Keys come from INTAKE_ENCRYPTION_KEY (comma-separated, newest first). On the embedded
default a key is generated once into `<data_dir>/secret.key` (mode 0600) so one machine
runs with no setup; production sets the variable.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["Vault", "InvalidToken", "generate_key"]


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


class Vault:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in keys])
        self._ids = [hashlib.sha256(k.encode("ascii")).hexdigest()[:16] for k in keys]
        self._primary = Fernet(keys[0].encode("ascii"))
        self._primary_key = keys[0].encode("ascii")

    def seal_with_primary(self, data: bytes) -> bytes:
        return self._primary.encrypt(data)

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
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"intake/" + purpose.encode("utf-8"))
        return hkdf.derive(self._primary_key)

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        return self._fernet.decrypt(token)

    def encrypt_text(self, text: str) -> bytes:
        return self.encrypt(text.encode("utf-8"))

    def decrypt_text(self, token: bytes) -> str:
        return self.decrypt(token).decode("utf-8")

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the primary (first) key."""
        return self._fernet.rotate(token)
