"""Encryption at rest: ciphertext in the store (and nowhere plaintext on disk), filters and
vectors still working, a wrong key reported as such, rotation while reads go on, encrypted
backups and exports, and the service's rotation route."""

from __future__ import annotations

import base64
import gzip
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from freqtrade_mem0 import backup
from freqtrade_mem0.cli import cli
from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import ConfigError, EncryptionError
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.query import Match, MatchAny, and_, eq, not_, or_
from freqtrade_mem0.security.crypto import KeyRing, new_key_spec
from freqtrade_mem0.security.files import FILE_MAGIC
from freqtrade_mem0.service import create_app
from freqtrade_mem0.stores import StoredPoint
from freqtrade_mem0.stores.encrypted import ENVELOPE, EncryptedStore
from tests.factories import trade
from tests.service_helpers import admin_client, running, service_settings

K1, K2 = new_key_spec("k1"), new_key_spec("k2")
SENTINEL = "zanzibarquokka"  # a word that appears in no file unless a memory put it there


def secret_trade(i: int, strategy: str = "Alpha") -> object:
    return trade(i, text=f"{SENTINEL} {i}: losing long after a volume spike", strategy=strategy)


def open_memory(path: Path, keys: str | None) -> Memory:
    settings = Settings(encryption_keys=keys) if keys else Settings()
    return Memory.open(str(path), settings=settings, embedder=HashingEmbedder())


@pytest.fixture
def encrypted(tmp_path: Path) -> Iterator[Memory]:
    memory = open_memory(tmp_path / "store", K1)
    memory.remember([secret_trade(i) for i in range(30)])  # type: ignore[misc]
    yield memory
    memory.close()


def test_the_store_holds_ciphertext_and_no_plaintext_reaches_the_disk(
    tmp_path: Path, encrypted: Memory
) -> None:
    store = encrypted.store
    assert isinstance(store, EncryptedStore)
    [raw] = store.inner.retrieve([trade(3).id])
    assert ENVELOPE in raw.payload and raw.payload[ENVELOPE]["kid"] == "k1"
    assert {"text", "messages", "data", "key"}.isdisjoint(raw.payload)
    assert raw.payload["strategy"] == "Alpha"  # indexed fields stay in clear
    assert SENTINEL not in repr(raw.payload)
    encrypted.close()
    for path in (tmp_path / "store").rglob("*"):
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path


def test_filters_sorting_and_vectors_still_work(encrypted: Memory) -> None:
    assert encrypted.get(trade(4).id).text.startswith(SENTINEL)
    hits = encrypted.search("pair:ETH/BTC AND profit:>0", limit=100)
    assert hits and all(h.record.pair == "ETH/BTC" and h.record.metrics["profit"] > 0 for h in hits)
    by_meaning = encrypted.search(f'"{SENTINEL} 7 losing long after a volume spike"', limit=1)
    assert by_meaning[0].record.key == trade(7).key
    assert encrypted.stats()["total"] == 30


def test_texts_never_reach_the_store_beneath_in_a_filter(encrypted: Memory) -> None:
    """A re-run asks for the vectors of texts stored already; an encrypted store holds only
    their ciphertext, and a filter would carry them in clear to the store beneath it."""
    store = encrypted.store
    assert isinstance(store, EncryptedStore)
    filters: list[object] = []
    scroll = store.inner.scroll

    def recording_scroll(where: object = None, **kwargs: object) -> object:
        filters.append(where)
        return scroll(where, **kwargs)  # type: ignore[arg-type]

    store.inner.scroll = recording_scroll  # type: ignore[method-assign]
    rerun = [
        trade(i, text=f"{SENTINEL} {i}: losing long after a volume spike", key=f"r|{i}")
        for i in range(3)
    ]
    encrypted.remember(rerun, reuse_where=eq("strategy", "Alpha"))
    assert all(SENTINEL not in repr(where) for where in filters)
    assert encrypted.stored_text_vectors([rerun[0].text], None) == {}
    assert encrypted.get(rerun[0].id).text == rerun[0].text


def test_a_wrong_or_missing_key_is_a_clear_error(tmp_path: Path, encrypted: Memory) -> None:
    encrypted.close()
    with (
        open_memory(tmp_path / "store", new_key_spec("k1")) as other_k1,
        pytest.raises(EncryptionError, match=r"another key named 'k1'.*wrong key"),
    ):
        other_k1.get(trade(1).id)
    with (
        open_memory(tmp_path / "store", K2) as only_k2,
        pytest.raises(EncryptionError, match="key 'k1', which is not among"),
    ):
        only_k2.search("strategy:Alpha")
    with (
        open_memory(tmp_path / "store", None) as no_key,
        pytest.raises(EncryptionError, match="encrypted at rest; configure its key"),
    ):
        no_key.get(trade(1).id)


def test_an_envelope_moved_to_another_memory_is_detected(encrypted: Memory) -> None:
    store = encrypted.store
    assert isinstance(store, EncryptedStore)
    first, second = store.inner.retrieve([trade(1).id, trade(2).id], with_vectors=True)
    moved = {**second.payload, ENVELOPE: first.payload[ENVELOPE]}
    store.inner.upsert([StoredPoint(second.id, moved, second.vectors)])
    with pytest.raises(EncryptionError, match="altered or moved"):
        encrypted.get(second.id)


def test_rotation_re_encrypts_while_reads_go_on(tmp_path: Path) -> None:
    memory = open_memory(tmp_path / "store", K1)
    memory.remember([secret_trade(i) for i in range(600)])  # type: ignore[misc]
    store = memory.store
    assert isinstance(store, EncryptedStore)
    store.ring = KeyRing.parse(f"{K2},{K1}")  # k2 encrypts from now on; k1 still decrypts
    failures: list[BaseException] = []
    reads = 0
    done = threading.Event()

    def read_all_the_time() -> None:
        nonlocal reads
        while not done.is_set():
            try:
                for i in (1, 299, 598):
                    assert (
                        memory.get(trade(i).id).text
                        == f"{SENTINEL} {i}: losing long after a volume spike"
                    )
                assert len(memory.search("strategy:Alpha", limit=50)) == 50
                reads += 1
                time.sleep(0.002)  # a busy reader, not one that starves the rotation of the GIL
            except BaseException as exc:  # reported below
                failures.append(exc)
                return

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    result = store.rotate(batch_size=64, hold=lambda: _slow_hold())
    done.set()
    reader.join()
    assert not failures, failures
    assert reads > 0
    assert (result.scanned, result.reencrypted) == (600, 600)
    assert store.key_usage() == {"k2": 600}
    memory.close()
    with open_memory(tmp_path / "store", K2) as after:  # the old key can go now
        assert after.count() == 600
        assert after.get(trade(5).id).text.startswith(SENTINEL)


class _slow_hold:
    """Holds a little per batch, so reads interleave with the rotation."""

    def __enter__(self) -> None:
        time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        return None


def test_backups_are_encrypted_and_need_the_key(tmp_path: Path, encrypted: Memory) -> None:
    info = backup.create_backup(encrypted, tmp_path / "backups")
    data = (info.path / backup.DATA).read_bytes()
    assert data.startswith(FILE_MAGIC)
    assert info.encrypted_with == "k1"
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(data)
    assert backup.verify_backup(info.path, KeyRing.parse(K1)).count == 30
    with pytest.raises(EncryptionError, match="is encrypted; configure its key"):
        backup.verify_backup(info.path)
    with pytest.raises(EncryptionError, match="not among"):
        backup.verify_backup(info.path, KeyRing.parse(K2))
    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 1
    (info.path / backup.DATA).write_bytes(bytes(tampered))
    with pytest.raises(EncryptionError, match="altered"):
        backup.verify_backup(info.path, KeyRing.parse(K1))


def test_exports_are_encrypted_and_import_back(tmp_path: Path, encrypted: Memory) -> None:
    encrypted.close()
    runner = CliRunner(env={"MEM0_ENCRYPTION_KEYS": K1})
    base = ["--store", str(tmp_path / "store"), "--embedder", "hashing"]
    out = tmp_path / "export.jsonl"
    made = runner.invoke(cli, [*base, "export", "-o", str(out)])
    assert made.exit_code == 0, made.output
    assert out.read_bytes().startswith(FILE_MAGIC)
    assert SENTINEL.encode() not in out.read_bytes()
    other = ["--store", str(tmp_path / "copy"), "--embedder", "hashing"]
    assert runner.invoke(cli, [*other, "import", str(out)]).output.strip() == "imported 30"
    refused = CliRunner().invoke(cli, [*other, "import", str(out)])
    assert refused.exit_code == 2
    assert "is encrypted; configure its key" in refused.output


def test_bad_key_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="16 bytes"):
        KeyRing.parse("k1:" + base64.urlsafe_b64encode(b"x" * 16).decode())
    with pytest.raises(ConfigError, match="encryption key 1 is not"):
        KeyRing.parse("no-colon-here")
    with pytest.raises(ConfigError, match="must differ"):
        KeyRing.parse(f"{K1},{K1}")
    secret = K1.split(":")[1]
    assert secret not in repr(KeyRing.parse(K1)) and secret[:8] not in repr(KeyRing.parse(K1))


def test_the_service_encrypts_and_rotates_from_its_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.txt"
    key_file.write_text(K1 + "\n")
    settings = service_settings(tmp_path, encryption_key_file=key_file)
    with running(create_app(settings)) as url, admin_client(url, timeout=30) as http:
        memory = {
            "messages": [{"role": "system", "content": f"{SENTINEL}: a memory"}],
            "metadata": {"type": "live", "strategy": "S", "timestamp": "2024-01-01T00:00:00Z"},
        }
        http.post("/memory", json=memory).raise_for_status()
        status = http.get("/encryption/status", params={"count": "true"}).json()
        assert (status["active_key"], status["usage"]) == ("k1", {"k1": 1})
        key_file.write_text(f"# rotated\n{K2}\n{K1}\n")
        assert http.post("/encryption/rotate").status_code == 202
        deadline = time.monotonic() + 20
        while http.get("/encryption/status").json()["rotation"]["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status = http.get("/encryption/status", params={"count": "true"}).json()
        assert (status["active_key"], status["usage"]) == ("k2", {"k2": 1})
        assert status["rotation"]["error"] is None
        assert (
            http.get("/search").json()["results"][0]["messages"][0]["content"].startswith(SENTINEL)
        )


def test_the_service_without_encryption_says_so(service_url_plain: str) -> None:
    with httpx.Client(base_url=service_url_plain) as http:
        assert http.get("/encryption/status").json()["enabled"] is False
        refused = http.post("/encryption/rotate")
        assert refused.status_code == 400
        assert "not enabled" in refused.json()["detail"]


@pytest.fixture
def service_url_plain(tmp_path: Path) -> Iterator[str]:
    with running(create_app(service_settings(tmp_path, insecure_no_auth=True))) as url:
        yield url


def test_the_store_refuses_to_filter_or_count_on_an_encrypted_field(encrypted: Memory) -> None:
    store = encrypted.store
    assert isinstance(store, EncryptedStore)
    texts = MatchAny("text", (f"{SENTINEL} 3: losing long after a volume spike",))
    for attempt in (
        lambda: store.scroll(and_(eq("strategy", "Alpha"), texts)),
        lambda: store.count(not_(Match("key", "anything"))),
        lambda: store.delete_where(or_(eq("pair", "ETH/BTC"), texts)),
        lambda: store.facet("text"),
    ):
        with pytest.raises(EncryptionError, match="is encrypted in this store"):
            attempt()
    assert encrypted.count() == 30  # nothing was deleted
