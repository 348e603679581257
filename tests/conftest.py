"""Shared fixtures: a memory on every backend, fast embedder by default."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.memory import Memory

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MEM0_TELEMETRY", "False")

REPO = Path(__file__).resolve().parent.parent
# Real freqtrade result files shipped with the tests (see tests/data/README.md).
TEST_DATA = REPO / "tests" / "data"
BACKENDS = ["edge", "qdrant-memory"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up an operator's MEM0_* / QDRANT_* settings."""
    for name in list(os.environ):
        if name.startswith(("MEM0_", "QDRANT_")) and name != "MEM0_TELEMETRY":
            monkeypatch.delenv(name)


def location_for(backend: str, tmp_path: Path) -> str:
    """A fresh store location for a backend."""
    if backend == "edge":
        return str(tmp_path / "store")
    if backend == "qdrant-memory":
        return ":memory:"
    raise ValueError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def memory(backend: str, tmp_path: Path) -> Iterator[Memory]:
    """An empty memory on each backend, with the fast hashing embedder."""
    opened = Memory.open(
        location_for(backend, tmp_path), settings=Settings(), embedder=HashingEmbedder()
    )
    yield opened
    opened.close()


@pytest.fixture
def edge_memory(tmp_path: Path) -> Iterator[Memory]:
    """An empty embedded memory."""
    opened = Memory.open(str(tmp_path / "store"), settings=Settings(), embedder=HashingEmbedder())
    yield opened
    opened.close()
