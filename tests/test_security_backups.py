"""Regular backups: made on a schedule, each verified by a restore into a scratch store, the
newest kept; and `freqtrade-mem0 backup` / `restore` on an embedded store and on the service."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from freqtrade_mem0 import backup
from freqtrade_mem0.backup_check import SCHEDULED, prune, verify_by_restore
from freqtrade_mem0.cli import cli
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import BackupError
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.service import create_app
from freqtrade_mem0.service.backup_schedule import BackupScheduler
from tests.factories import trade
from tests.service_helpers import (
    ADMIN_KEY,
    admin_client,
    memory_service,
    running,
    seed,
    service_settings,
)


def scheduled(folder: Path) -> list[str]:
    return [b.name for b in backup.list_backups(folder) if SCHEDULED.fullmatch(b.name)]


def test_the_schedule_backs_up_verifies_and_keeps_the_newest(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, backup_interval_minutes=0.005, backup_retention=2)
    app = create_app(settings)
    with running(app) as url, admin_client(url, timeout=30) as http:
        seed(http)
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while len(seen) < 4:
            assert time.monotonic() < deadline, f"only {seen} were made"
            last = http.get("/status").json()["backups"]["last"]
            if last and last["name"] not in seen:
                assert last["verified"] and last["error"] is None, last
                assert last["count"] == 3
                seen.append(last["name"])
            time.sleep(0.05)
        status = http.get("/status").json()["backups"]
        assert (status["interval_minutes"], status["retention"]) == (0.005, 2)
        metrics = http.get("/metrics").text
        assert "mem0_backup_last_success 1" in metrics
        assert "mem0_backup_last_memories 3" in metrics
    kept = scheduled(settings.backup_dir)  # the schedule has stopped with the service
    assert len(kept) == 2
    assert not set(seen[:-2]) & set(kept)  # each had two newer ones: pruned
    assert max(kept) >= seen[-1]  # names sort by time; newer ones may have come since


def test_a_backup_that_fails_verification_is_kept_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = service_settings(tmp_path, backup_retention=1)
    app = create_app(settings)
    with running(app) as url, admin_client(url) as http:
        seed(http)
        scheduler: BackupScheduler = app.state.mem0_backups
        good = scheduler.run_once()

        def broken(path: object, ring: object = None) -> None:
            raise BackupError("the restored memories differ from the backup")

        monkeypatch.setattr("freqtrade_mem0.service.backup_schedule.verify_by_restore", broken)
        bad = scheduler.run_once()
        assert "mem0_backup_last_success 0" in http.get("/metrics").text  # for an alert
    assert good.verified and not bad.verified
    assert bad.error is not None and "differ" in bad.error
    names = [b.name for b in backup.list_backups(settings.backup_dir)]
    assert f"failed-{bad.name}" in names  # kept for inspection
    assert good.name in names  # the last good one is not pruned by a failure


def test_verification_catches_a_damaged_backup(edge_memory: Memory, tmp_path: Path) -> None:
    edge_memory.remember([trade(i) for i in range(5)])
    made = backup.create_backup(edge_memory, tmp_path / "backups", name="b1")
    assert verify_by_restore(made.path).count == 5
    data = next(p for p in made.path.iterdir() if p.name != "manifest.json")
    data.write_bytes(data.read_bytes()[:-40])
    with pytest.raises(BackupError):
        verify_by_restore(made.path)


def test_prune_leaves_backups_made_by_hand(edge_memory: Memory, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    edge_memory.remember(trade(1))
    backup.create_backup(edge_memory, folder, name="by-hand")
    for second in range(3):
        backup.create_backup(edge_memory, folder, name=f"auto-20240101T00000{second}000000Z")
    assert prune(folder, 1) == ["auto-20240101T000001000000Z", "auto-20240101T000000000000Z"]
    assert sorted(b.name for b in backup.list_backups(folder)) == [
        "auto-20240101T000002000000Z",
        "by-hand",
    ]


def test_the_backup_and_restore_commands_on_an_embedded_store(tmp_path: Path) -> None:
    store, folder = tmp_path / "store", tmp_path / "backups"
    with Memory.open(str(store), embedder=HashingEmbedder()) as memory:
        memory.remember([trade(i) for i in range(6)])
    base = ["--store", str(store), "--embedder", "hashing"]
    runner = CliRunner()
    made = runner.invoke(cli, [*base, "backup", "--backup-dir", str(folder), "--name", "nightly"])
    assert made.exit_code == 0, made.output
    assert "backup nightly: 6 memories, verified by a restore" in made.output
    with Memory.open(str(store), embedder=HashingEmbedder()) as memory:
        memory.store.delete([trade(0).id, trade(1).id])
        memory.remember(trade(99))
    restored = runner.invoke(
        cli, [*base, "restore", "nightly", "--backup-dir", str(folder), "--replace", "--yes"]
    )
    assert restored.exit_code == 0, restored.output
    assert "restored 6 memories from nightly" in restored.output
    with Memory.open(str(store), embedder=HashingEmbedder()) as memory:
        assert sorted(r.key for r in memory.iterate()) == sorted(trade(i).key for i in range(6))
    missing = runner.invoke(cli, [*base, "restore", "nope", "--backup-dir", str(folder)])
    assert missing.exit_code == 3, missing.output
    optimised = runner.invoke(cli, [*base, "optimize"])
    assert optimised.exit_code == 0 and "1 segment(s)" in optimised.output, optimised.output


def test_the_backup_and_restore_commands_on_the_service(tmp_path: Path) -> None:
    with memory_service(tmp_path) as service, admin_client(service.url) as http:
        seed(http)
        runner = CliRunner(env={"MEM0_API_KEY": ADMIN_KEY})
        base = ["--store", service.url, "--embedder", "hashing"]
        made = runner.invoke(cli, [*base, "backup", "--json"])
        assert made.exit_code == 0, made.output
        assert '"verified": true' in made.output
        name = backup.list_backups(service.settings.backup_dir)[0].name
        http.post("/v1/store/delete-where", json={"where": ""}).raise_for_status()
        restored = runner.invoke(cli, [*base, "restore", name])
        assert restored.exit_code == 0, restored.output
        assert http.get("/stats").json()["total"] == 3
        refused = CliRunner(env={"MEM0_API_KEY": "wrong"}).invoke(cli, [*base, "restore", name])
        assert refused.exit_code == 5, refused.output
