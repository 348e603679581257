"""Encrypted files (backups, exports): a sequence of AES-256-GCM chunks under one named key.

Layout: `FILE_MAGIC`, a JSON header line (key id, key fingerprint), then per chunk a 4-byte
length, a nonce and the ciphertext. Each chunk's associated data is the header, its number
and whether it is the last, so chunks cannot be reordered, dropped or cut off unnoticed. A
reader tells an encrypted file from a clear one by its first bytes.
"""

from __future__ import annotations

import io
import json
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from freqtrade_mem0.errors import EncryptionError
from freqtrade_mem0.security.crypto import NONCE_BYTES, KeyRing

FILE_MAGIC = b"FM0ENC1\n"
CHUNK_BYTES = 1 << 20


class EncryptingWriter(io.RawIOBase):
    """A binary file that seals what is written to it, a chunk at a time.

    `close()` writes the last chunk; it does not close `raw`.
    """

    def __init__(self, raw: IO[bytes], ring: KeyRing, chunk_bytes: int = CHUNK_BYTES) -> None:
        super().__init__()
        self._raw = raw
        self._ring = ring
        self._chunk = chunk_bytes
        self._buffer = bytearray()
        self._index = 0
        header = {"kid": ring.active.id, "kf": ring.active.fingerprint, "alg": "AES-256-GCM"}
        self._header = json.dumps(header, sort_keys=True).encode() + b"\n"
        raw.write(FILE_MAGIC + self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = bytes(data)
        self._buffer += view
        while len(self._buffer) > self._chunk:
            self._emit(bytes(self._buffer[: self._chunk]), last=False)
            del self._buffer[: self._chunk]
        return len(view)

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._raw.flush()
        super().close()

    def _emit(self, plaintext: bytes, *, last: bool) -> None:
        nonce = os.urandom(NONCE_BYTES)
        aad = _chunk_aad(self._header, self._index, last)
        sealed = self._ring.active.cipher.encrypt(nonce, plaintext, aad)
        self._raw.write(struct.pack(">I", len(sealed)) + nonce + sealed)
        self._index += 1


class DecryptingReader(io.RawIOBase):
    """Reads back what `EncryptingWriter` wrote (`raw` positioned after `FILE_MAGIC`).

    Raises (on read):
        EncryptionError: a wrong or missing key, an altered, reordered or truncated file.
    """

    def __init__(self, raw: IO[bytes], ring: KeyRing, what: str) -> None:
        super().__init__()
        self._raw = raw
        self._what = what
        self._header = raw.readline(4096)
        try:
            header = json.loads(self._header)
            self._key = ring.key(str(header["kid"]), header.get("kf"), what)
        except (ValueError, KeyError, TypeError):
            raise EncryptionError(f"{what}: the encryption header is malformed") from None
        self._index = 0
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            self._pending = self._next_chunk()
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _next_chunk(self) -> bytes:
        prefix = self._raw.read(4 + NONCE_BYTES)
        if len(prefix) < 4 + NONCE_BYTES:
            raise EncryptionError(f"{self._what} is truncated (its last chunk is missing)")
        (length,) = struct.unpack(">I", prefix[:4])
        sealed = self._raw.read(length)
        if len(sealed) < length:
            raise EncryptionError(f"{self._what} is truncated (its last chunk is missing)")
        nonce = prefix[4:]
        for last in (False, True):
            aad = _chunk_aad(self._header, self._index, last)
            try:
                plaintext: bytes = self._key.cipher.decrypt(nonce, sealed, aad)
            except Exception:  # InvalidTag: try the other "last" flag, then give up
                continue
            self._index += 1
            if last:
                self._done = True
                if self._raw.read(1):
                    raise EncryptionError(f"{self._what} has data after its last chunk")
            return plaintext
        raise EncryptionError(
            f"cannot decrypt {self._what} with key {self._key.id!r}: the data was altered"
        )


def _chunk_aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if last else 0)


def is_encrypted_file(path: str | Path) -> bool:
    """Whether a file starts as `EncryptingWriter` output does."""
    with open(path, "rb") as handle:
        return handle.read(len(FILE_MAGIC)) == FILE_MAGIC


@contextmanager
def sealing(raw: IO[bytes], ring: KeyRing | None) -> Iterator[IO[bytes]]:
    """`raw` itself without a ring, else a writer that encrypts into it (finished on exit)."""
    if ring is None:
        yield raw
        return
    writer = EncryptingWriter(raw, ring)
    yield writer  # type: ignore[misc]  # a RawIOBase is a binary file
    writer.close()


def unsealing(raw: IO[bytes], ring: KeyRing | None, what: str) -> IO[bytes]:
    """A reader of `raw` that decrypts it if it is encrypted, or `raw` itself if not.

    Raises:
        EncryptionError: it is encrypted and there is no ring, or not the right key.
    """
    if raw.read(len(FILE_MAGIC)) != FILE_MAGIC:
        raw.seek(0)
        return raw
    if ring is None:
        raise EncryptionError(
            f"{what} is encrypted; configure its key (encryption_keys or encryption_key_file)"
        )
    return DecryptingReader(raw, ring, what)  # type: ignore[return-value]


@contextmanager
def encrypted_text(binary: IO[bytes], ring: KeyRing) -> Iterator[IO[str]]:
    """A text file whose UTF-8 bytes are encrypted into `binary` (an encrypted export)."""
    with sealing(binary, ring) as sink:
        text = io.TextIOWrapper(sink, encoding="utf-8", write_through=True)
        yield text
        text.flush()
        text.detach()


def text_lines(source: IO[str], ring: KeyRing | None, what: str) -> Iterator[str]:
    """The lines of a text file that may be an encrypted export (read through its key)."""
    binary = getattr(source, "buffer", None)
    peek = getattr(binary, "peek", None)
    if binary is None or peek is None or peek(len(FILE_MAGIC))[: len(FILE_MAGIC)] != FILE_MAGIC:
        yield from source
        return
    reader = unsealing(binary, ring, what)
    yield from io.TextIOWrapper(reader, encoding="utf-8")
