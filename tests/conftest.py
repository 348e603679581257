"""Shared fixtures: a memory on every backend, fast embedder by default."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.memory import Memory

if TYPE_CHECKING:
    from tests.service_helpers import RunningService

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MEM0_TELEMETRY", "False")

REPO = Path(__file__).resolve().parent.parent
# Real freqtrade result files shipped with the tests (see tests/data/README.md).
TEST_DATA = REPO / "tests" / "data"
BACKENDS = ["edge", "qdrant-memory", "mem0", "http"]


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
    if backend == "mem0":  # mem0ai's Memory on a local Qdrant folder, offline
        return f"mem0:{tmp_path / 'mem0'}"
    raise ValueError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """A memory service on 127.0.0.1 (uvicorn in a thread, embedded store), for the session."""
    from tests.service_helpers import memory_service

    with memory_service(tmp_path_factory.mktemp("service")) as running:
        yield running


@pytest.fixture
def memory(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Memory]:
    """An empty memory on each backend, with the fast hashing embedder."""
    settings = Settings()
    if backend == "http":  # the session's service, emptied for each test
        from tests.service_helpers import ADMIN_KEY

        location = request.getfixturevalue("service").url
        settings = Settings(api_key=ADMIN_KEY)
    else:
        location = location_for(backend, tmp_path)
    opened = Memory.open(location, settings=settings, embedder=HashingEmbedder())
    if backend == "http":
        opened.store.delete_where(None)
    yield opened
    opened.close()


@pytest.fixture
def edge_memory(tmp_path: Path) -> Iterator[Memory]:
    """An empty embedded memory."""
    opened = Memory.open(str(tmp_path / "store"), settings=Settings(), embedder=HashingEmbedder())
    yield opened
    opened.close()
