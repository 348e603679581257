"""Security costs: encryption at rest against the same store in clear, key rotation, and a
backup verified by a restore into a scratch store.

Both stores are embedded (Qdrant Edge) in a temporary folder, filled with the same synthetic
trade memories (text vectors from the hashing embedder, so that only the store and the
cipher are timed). The encrypted one seals each memory's text, messages, data and key with
AES-256-GCM on write and opens them on read; filters and vectors are in clear on both.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Figure, Latency, progress, samples, timed

BUDGET_SECONDS = 150
WRITE_RATIO_TARGET = 1.5  # encrypted write time over clear
READ_RATIO_TARGET = 1.5  # encrypted filtered search (top 50, decrypted) over clear
VERIFY_TARGET = 30.0  # seconds to back up and verify 10k memories


def _records(count: int) -> list[object]:
    from freqtrade_mem0.models import MemoryKind, MemoryRecord, MemoryType, RunMode

    start = datetime(2024, 1, 1, tzinfo=UTC)
    pairs = ("BTC/USDT", "ETH/USDT", "ADA/USDT", "XRP/USDT", "DOT/USDT")
    return [
        MemoryRecord(
            key=f"bench-security|{i}",
            kind=MemoryKind.TRADE,
            type=MemoryType.LIVE,
            text=f"{pairs[i % 5]} long closed {((i * 37) % 21 - 10) / 4:+.2f}% by roi (trade {i})",
            strategy=("Alpha", "Beta")[i % 2],
            pair=pairs[i % 5],
            side="long",
            mode=RunMode.DRY_RUN,
            timestamp=start + timedelta(minutes=5 * i),
            metrics={"profit": ((i * 37) % 21 - 10) / 4},
            exit_reason="roi",
            data={"open_rate": 1.0 + i, "close_rate": 1.01 + i, "trade_id": i},
        )
        for i in range(count)
    ]


def run(quick: bool = False) -> list[Figure]:
    """Write, read, rotate, back up and verify, encrypted and in clear."""
    from freqtrade_mem0 import backup
    from freqtrade_mem0.backup_check import verify_by_restore
    from freqtrade_mem0.config import Settings
    from freqtrade_mem0.embedding import HashingEmbedder
    from freqtrade_mem0.memory import Memory
    from freqtrade_mem0.security.crypto import KeyRing, new_key_spec
    from freqtrade_mem0.stores.encrypted import EncryptedStore

    count = 2_000 if quick else 5_000
    queries = 50 if quick else 150
    records = _records(count)
    key_one, key_two = new_key_spec("k1"), new_key_spec("k2")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-security-") as scratch:
        root = Path(scratch)
        clear = Memory.open(str(root / "clear"), embedder=HashingEmbedder())
        sealed = Memory.open(
            str(root / "sealed"),
            settings=Settings(encryption_keys=key_one),
            embedder=HashingEmbedder(),
        )
        try:
            clear_s = timed(lambda: clear.remember(records))
            sealed_s = timed(lambda: sealed.remember(records))
            progress(f"{count:,} writes: clear {clear_s:.2f} s, encrypted {sealed_s:.2f} s")

            def search(memory: Memory) -> Latency:
                terms = iter(["pair:ETH/USDT", "strategy:Beta AND profit:>0"] * queries)
                return Latency.of(
                    samples(lambda: memory.search(next(terms), limit=50), queries, warmup=5)
                )

            clear_read, sealed_read = search(clear), search(sealed)
            progress(
                f"filtered search p50: clear {clear_read.p50:.2f} ms, "
                f"encrypted {sealed_read.p50:.2f} ms"
            )

            store = sealed.store
            assert isinstance(store, EncryptedStore)
            store.ring = KeyRing.parse(f"{key_two},{key_one}")
            rotate_s = timed(store.rotate)
            progress(f"rotation of {count:,}: {rotate_s:.2f} s")

            made_at = root / "backups"
            backup_s = timed(lambda: backup.create_backup(sealed, made_at, name="b"))
            verify_s = timed(lambda: verify_by_restore(made_at / "b", store.ring))
            clear_backup_s = timed(lambda: backup.create_backup(clear, made_at, name="c"))
            clear_verify_s = timed(lambda: verify_by_restore(made_at / "c"))
            progress(
                f"backup + verify: encrypted {backup_s + verify_s:.2f} s, "
                f"clear {clear_backup_s + clear_verify_s:.2f} s"
            )
        finally:
            clear.close()
            sealed.close()

    size = f"{count // 1000}k memories"
    figures += [
        Figure(
            f"encrypted write, {size}",
            "memories/s",
            count / sealed_s,
            better="higher",
            peer="the same store in clear",
            peer_value=count / clear_s,
            note=f"target: at most {WRITE_RATIO_TARGET}x the clear write time; batches of 256",
        ),
        Figure(
            f"encrypted filtered search p50, top 50 decrypted, {size}",
            "ms",
            sealed_read.p50,
            target=clear_read.p50 * READ_RATIO_TARGET,
            peer="the same store in clear",
            peer_value=clear_read.p50,
            note=f"{queries} queries; the target is {READ_RATIO_TARGET}x the clear figure",
        ),
        Figure(
            f"key rotation, {size}",
            "memories/s",
            count / rotate_s,
            better="higher",
            peer="encrypted write",
            peer_value=count / sealed_s,
            note="every memory opened with the old key and sealed with the new, in batches",
        ),
        Figure(
            f"encrypted backup + verification by restore, {size}",
            "s",
            backup_s + verify_s,
            target=VERIFY_TARGET,
            peer="the same in clear",
            peer_value=clear_backup_s + clear_verify_s,
            note="verification restores into a scratch store and compares count and checksum",
        ),
    ]
    return figures
