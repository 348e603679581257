"""The mem0 backend beyond the contract: Mem0's own API sees our memories, offline, verbatim.

Every test runs the real mem0ai `Memory` (its Qdrant store, history database and local MiniLM
embedder). The one stand-in is the LLM of the `infer` test, a local class that answers as an
extracting LLM would, since this suite runs without network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from mem0.llms.base import LLMBase

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import ConfigError, StoreLockedError
from freqtrade_mem0.memory import Memory
from tests.conftest import REPO
from tests.factories import trade

VERBATIM = "BTC/USDT long closed +12.3456% after 1234.5 minutes; stake 0.00012345 BTC"
ROUNDED_FACT = "The BTC/USDT long made about 12% profit"


def open_mem0(folder: Path, **section: Any) -> Memory:
    """A memory on the mem0 backend in a folder, with the fast embedder on our side."""
    settings = Settings(mem0=section)
    return Memory.open(f"mem0:{folder}", settings=settings, embedder=HashingEmbedder())


def mem0_of(memory: Memory) -> Any:
    """The mem0ai `Memory` under a memory on the mem0 backend."""
    return memory.store.mem0  # type: ignore[attr-defined]


@pytest.fixture
def mem0_memory(tmp_path: Path) -> Iterator[Memory]:
    opened = open_mem0(tmp_path / "mem0")
    yield opened
    opened.close()


def test_infer_false_keeps_numbers_verbatim(mem0_memory: Memory) -> None:
    record = trade(1, text=VERBATIM, metrics={"profit": 12.3456, "duration": 1234.5})
    mem0_memory.remember(record)
    mem0 = mem0_of(mem0_memory)
    stored = mem0.get(record.id)
    assert stored["memory"] == VERBATIM
    assert stored["metadata"]["metrics"] == {"profit": 12.3456, "duration": 1234.5}
    assert stored["agent_id"] == "Alpha"
    assert stored["run_id"] == "run-1"
    listed = mem0.get_all(filters={"agent_id": "Alpha", "pair": "ETH/BTC"})["results"]
    assert [m["id"] for m in listed] == [record.id]
    assert mem0_memory.get(record.id) == record


def test_history_records_add_update_delete_once_each(mem0_memory: Memory) -> None:
    record = trade(2)
    mem0_memory.remember([record, record])
    mem0_memory.remember(record)  # identical: no new history row
    mem0_memory.remember(trade(2, text="rewritten note"))
    mem0_memory.delete(record.id)
    history = mem0_of(mem0_memory).history(record.id)
    assert [(h["event"], h["new_memory"]) for h in history] == [
        ("ADD", record.text),
        ("UPDATE", "rewritten note"),
        ("DELETE", None),
    ]


def test_memories_mem0_writes_itself_stay_out_of_our_view(mem0_memory: Memory) -> None:
    mem0_memory.remember(trade(1))
    mem0 = mem0_of(mem0_memory)
    mem0.add([{"role": "user", "content": "likes BTC"}], agent_id="Alpha", infer=False)
    assert len(mem0.get_all(filters={"agent_id": "Alpha"})["results"]) == 2
    assert mem0_memory.count() == 1
    assert [r.key for r in mem0_memory.iterate()] == [trade(1).key]


def test_post_filter_pages_past_rejected_candidates(mem0_memory: Memory) -> None:
    # Only every 25th memory has a win rate; "has a value" is evaluated after retrieval.
    records = [
        trade(i, metrics={"profit": 1.0, **({"win_rate": 0.5} if i % 25 == 0 else {})})
        for i in range(125)
    ]
    mem0_memory.remember(records)
    wanted = {r.id for r in records if "win_rate" in r.metrics}
    query = "quiet market win_rate:[* TO *]"
    assert {h.record.id for h in mem0_memory.search(query, limit=5)} == wanted
    assert {h.record.id for h in mem0_memory.search(query, limit=3)} < wanted
    assert mem0_memory.count("win_rate:[* TO *]") == 5
    newest = mem0_memory.search("win_rate:[* TO *]", limit=4)
    assert [h.record.key for h in newest] == [f"test-trade|{i}" for i in (100, 75, 50, 25)]
    assert mem0_memory.stats("win_rate:[* TO *]")["by_pair"] == {
        "ADA/BTC": 2,
        "ETH/BTC": 2,
        "LTC/BTC": 1,
    }


def test_a_local_store_takes_writes_from_another_thread(mem0_memory: Memory) -> None:
    # The outbox delivers from its own thread, with the store opened in the main one.
    worker = ThreadPoolExecutor(max_workers=1)
    worker.submit(mem0_memory.remember, [trade(5), trade(6)]).result()
    worker.shutdown()
    assert mem0_memory.count() == 2


def test_a_second_opener_is_told_the_store_is_locked(tmp_path: Path) -> None:
    first = open_mem0(tmp_path / "mem0")
    try:
        with pytest.raises(StoreLockedError, match="open in another process"):
            open_mem0(tmp_path / "mem0")
    finally:
        first.close()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"infer": True}, "needs an LLM"),
        ({"vector_store": {"provider": "chroma"}}, "qdrant vector store"),
        (
            {"vector_store": {"config": {"embedding_model_dims": 1536}}},
            "embedding_model_dims is 1536",
        ),
        ({"infer": "sometimes"}, "mem0.mem0.infer"),
        ({"embedder": {"provider": "nonesuch"}}, "invalid mem0 settings"),
    ],
)
def test_settings_mistakes_are_config_errors(
    tmp_path: Path, section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        open_mem0(tmp_path / "mem0", **section)


class RoundingLLM(LLMBase):
    """Answers as Mem0's extraction LLM does, rounding the numbers like real ones often do."""

    def generate_response(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
        return json.dumps({"memory": [{"text": ROUNDED_FACT}]})


def test_infer_keeps_the_record_and_adds_facts_beside_it(tmp_path: Path) -> None:
    record = trade(4, text=VERBATIM)
    llm = {"provider": "openai", "config": {"api_key": "sk-never-used"}}
    with open_mem0(tmp_path / "mem0", infer=True, llm=llm) as memory:
        mem0 = mem0_of(memory)
        mem0.llm = RoundingLLM()  # in place of the configured one: no network here
        memory.remember(record)
        found = mem0.get_all(filters={"agent_id": "Alpha"})["results"]
        facts = [m for m in found if m["id"] != record.id]
        assert [f["memory"] for f in facts] == [ROUNDED_FACT]
        assert facts[0]["metadata"]["source_id"] == record.id
        assert memory.get(record.id) == record
        assert memory.count() == 1
        memory.delete(record.id)
        assert mem0.get_all(filters={"agent_id": "Alpha"})["results"] == []


OFFLINE_RUN = """
import os, socket, sys

def refuse(*args, **kwargs):
    raise OSError("network access attempted")

socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import MiniLMEmbedder
from freqtrade_mem0.memory import Memory
from tests.factories import trade

note = trade(10, key="spike", text="ETH/BTC long stopped out at -3.25% after a volume spike")
with Memory.open(f"mem0:{sys.argv[1]}", settings=Settings(), embedder=MiniLMEmbedder()) as m:
    m.remember([trade(i) for i in range(5)] + [note])
    assert m.search("stop loss after a volume spike", limit=1)[0].record.id == note.id
    # Mem0's own search embeds with its own MiniLM and finds what the facade wrote.
    mem0_hits = m.store.mem0.search("volume spike", filters={"agent_id": "Alpha"}, top_k=1)
    assert mem0_hits["results"][0]["id"] == note.id

import mem0.memory.telemetry as telemetry
assert os.environ["MEM0_TELEMETRY"] == "False"
assert telemetry.MEM0_TELEMETRY is False and telemetry.client_telemetry.posthog is None
print("offline ok")
"""


@pytest.mark.integration
def test_starts_and_runs_offline_with_telemetry_off(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MEM0_TELEMETRY", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    env["MEM0_DIR"] = str(tmp_path / "mem0-home")  # mem0ai keeps an anonymous id there
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_RUN, str(tmp_path / "store")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "offline ok" in done.stdout
