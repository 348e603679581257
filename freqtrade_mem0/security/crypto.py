"""Encryption at rest: AES-256-GCM (the `cryptography` package) with named keys.

A key ring is an ordered list of named 256-bit keys, written `<id>:<base64>` and separated by
commas or new lines; the first encrypts, all decrypt, so a key can be rotated while data
encrypted with the old one is still read. Every ciphertext names its key id and a short key
fingerprint, so a missing key or a different key under the same name is reported as such,
never returned as garbage.

Two uses:

- `KeyRing.seal` / `KeyRing.open`: one value (a memory's secret fields), bound by its
  associated data to where it belongs (the memory's id and strategy), so it cannot be moved
  to another memory unnoticed;
- `freqtrade_mem0.security.files`: a file (a backup, an export) as a sequence of sealed
  chunks, numbered, the last one marked, so reordering or truncation is detected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freqtrade_mem0.errors import ConfigError, EncryptionError

KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
KEY_BYTES = 32
NONCE_BYTES = 12


def _aesgcm(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:
        raise ConfigError(
            "encryption needs the cryptography package: pip install 'freqtrade-mem0[server]'"
        ) from exc
    return AESGCM(key)


def fingerprint(key: bytes) -> str:
    """A short public name of a key's value (tells two keys apart, reveals nothing)."""
    return hashlib.sha256(b"freqtrade-mem0 key fingerprint\0" + key).hexdigest()[:12]


def new_key_spec(key_id: str) -> str:
    """A new random key as `<id>:<base64>` (what `encryption_keys` holds)."""
    if not KEY_ID.fullmatch(key_id):
        raise ConfigError(f"key id {key_id!r}: letters, digits, _ and -, up to 32")
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


@dataclass(frozen=True)
class NamedKey:
    """One key of a ring (its value is never shown in `repr`)."""

    id: str
    value: bytes = field(repr=False)
    fingerprint: str = ""
    cipher: Any = field(default=None, repr=False, compare=False)


class KeyRing:
    """Named keys: the first encrypts, every one decrypts.

    Args:
        keys: (id, 32-byte key) pairs, the active one first.

    Raises:
        ConfigError: no keys, a duplicate id, or a key that is not 32 bytes.
    """

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        named: list[NamedKey] = []
        for key_id, value in keys:
            if not KEY_ID.fullmatch(key_id):
                raise ConfigError(f"encryption key id {key_id!r}: letters, digits, _ and -")
            if len(value) != KEY_BYTES:
                raise ConfigError(
                    f"encryption key {key_id!r} has {len(value)} bytes; AES-256 needs "
                    f"{KEY_BYTES} (make one with `freqtrade-mem0 encryption new-key`)"
                )
            named.append(NamedKey(key_id, value, fingerprint(value), _aesgcm(value)))
        if not named:
            raise ConfigError("no encryption keys given")
        ids = [k.id for k in named]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"encryption key ids must differ: {ids}")
        self._keys = {k.id: k for k in named}
        self.active = named[0]

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """A ring from `<id>:<base64>[,<id>:<base64>...]` (commas or new lines).

        Raises:
            ConfigError: naming the malformed entry (by position, never by value).
        """
        pairs = []
        entries = [e.strip() for e in re.split(r"[,\n]", spec) if e.strip()]
        entries = [e for e in entries if not e.startswith("#")]
        for number, entry in enumerate(entries, start=1):
            key_id, sep, encoded = entry.partition(":")
            try:
                if not sep:
                    raise ValueError("no ':'")
                value = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (ValueError, binascii.Error):
                raise ConfigError(
                    f"encryption key {number} is not <id>:<base64 of 32 bytes>"
                ) from None
            pairs.append((key_id.strip(), value))
        return cls(pairs)

    @classmethod
    def from_file(cls, path: str | Path) -> KeyRing:
        """A ring from a file of `<id>:<base64>` lines (`#` comments allowed).

        Raises:
            ConfigError: the file cannot be read or holds a malformed key.
        """
        try:
            return cls.parse(Path(path).expanduser().read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read the encryption key file {path}: {exc}") from exc

    @property
    def ids(self) -> list[str]:
        """The key ids, the active one first."""
        return list(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active.id!r}, ids={self.ids})"

    def key(self, key_id: str, key_fingerprint: str | None, what: str) -> NamedKey:
        """The key that encrypted something.

        Raises:
            EncryptionError: the ring has no such key, or a different key under its name.
        """
        found = self._keys.get(key_id)
        if found is None:
            raise EncryptionError(
                f"{what} is encrypted with key {key_id!r}, which is not among the configured "
                f"encryption keys ({', '.join(self.ids)})"
            )
        if key_fingerprint is not None and key_fingerprint != found.fingerprint:
            raise EncryptionError(
                f"{what} is encrypted with another key named {key_id!r} (fingerprint "
                f"{key_fingerprint}, the configured one is {found.fingerprint}): a wrong key"
            )
        return found

    def seal(self, plaintext: bytes, aad: bytes) -> dict[str, Any]:
        """Encrypt with the active key: an envelope naming the key, nonce and ciphertext."""
        nonce = os.urandom(NONCE_BYTES)
        key = self.active
        return {
            "v": 1,
            "kid": key.id,
            "kf": key.fingerprint,
            "n": base64.b64encode(nonce).decode(),
            "ct": base64.b64encode(key.cipher.encrypt(nonce, plaintext, aad)).decode(),
        }

    def open(self, envelope: dict[str, Any], aad: bytes, what: str) -> bytes:
        """Decrypt an envelope `seal` made.

        Raises:
            EncryptionError: unknown or wrong key, or altered data.
        """
        try:
            key = self.key(str(envelope["kid"]), envelope.get("kf"), what)
            nonce = base64.b64decode(envelope["n"], validate=True)
            ciphertext = base64.b64decode(envelope["ct"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise EncryptionError(f"{what}: the encrypted part is malformed") from None
        return _decrypt(key, nonce, ciphertext, aad, what)


def _decrypt(key: NamedKey, nonce: bytes, ciphertext: bytes, aad: bytes, what: str) -> bytes:
    from cryptography.exceptions import InvalidTag

    try:
        plaintext: bytes = key.cipher.decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise EncryptionError(
            f"cannot decrypt {what} with key {key.id!r}: the data was altered or moved"
        ) from None
    return plaintext


def ring_from(keys: Any, key_file: str | Path | None) -> KeyRing | None:
    """The key ring settings name: `keys` (a `SecretStr` or str) or a key file; None: neither.

    Raises:
        ConfigError: both given, or a malformed key.
    """
    secret = keys.get_secret_value() if hasattr(keys, "get_secret_value") else keys
    if secret is not None and key_file:
        raise ConfigError("give encryption_keys or encryption_key_file, not both")
    if key_file:
        return KeyRing.from_file(key_file)
    if secret is None:
        return None
    if not str(secret).strip():
        raise ConfigError("encryption_keys is empty; leave it out to store memories in clear")
    return KeyRing.parse(str(secret))
