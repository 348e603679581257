"""Fuzzing the published OpenAPI description with schemathesis: valid and invalid requests for
every operation. No answer may be a 5xx, every answer must match what the description says,
and a refused request (4xx) must leave the stored memories as they were."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.service import create_app
from freqtrade_mem0.service.state import MemoryProvider
from tests.factories import trade
from tests.service_helpers import service_settings

pytestmark = pytest.mark.integration

# Authentication has tests of its own (test_security_*); here every operation runs unguarded.
LIMITS = {"max_body_bytes": 256 * 1024, "insecure_no_auth": True}
# Built at import to parametrise the test; it opens no store until a request needs one, and
# the fixture below gives it one in a temporary folder first.
UNUSED = Path(tempfile.gettempdir()) / "freqtrade-mem0-fuzz-unused"
APP = create_app(service_settings(UNUSED, **LIMITS))
schemathesis.serializer.alias("application/x-ndjson", "text/plain")  # `POST /import` bodies


def published_schema(*phases: str) -> schemathesis.BaseSchema:
    """What `/openapi.json` publishes, tested by the given phases, in-process (ASGI)."""
    loaded = schemathesis.openapi.from_dict(APP.openapi())
    loaded.app = APP
    for phase in ("examples", "coverage", "fuzzing"):
        loaded.config.phases.get_by_name(name=phase).enabled = phase in phases
    return loaded


# Random valid and invalid requests, a few per operation (every run).
schema = published_schema("examples", "fuzzing")
# Systematic boundary values, missing and wrong-typed fields, other methods: ~2,000 requests.
coverage = published_schema("coverage")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module", autouse=True)
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Memory]:
    root = tmp_path_factory.mktemp("fuzz")
    memory = Memory.open(str(root / "store"), embedder=HashingEmbedder())
    memory.remember([trade(i) for i in range(10)])
    state = APP.state.mem0
    state.memories = MemoryProvider(memory=memory)
    state.settings = service_settings(root, **LIMITS)
    yield memory
    memory.close()
    assert not UNUSED.exists()


def stored_state(memory: Memory) -> str:
    """A digest of every stored memory."""
    digest = hashlib.sha256()
    for record in sorted(memory.iterate(), key=lambda r: r.id):
        digest.update(record.model_dump_json().encode())
    return digest.hexdigest()


def call_and_check(case: schemathesis.Case, store: Memory) -> None:
    before = stored_state(store)
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    if 400 <= response.status_code < 500:
        assert stored_state(store) == before, f"{case.method} {case.path} changed stored data"


@schema.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_published_api_holds_under_fuzzing(case: schemathesis.Case, store: Memory) -> None:
    call_and_check(case, store)


@pytest.mark.slow
@coverage.parametrize()
@settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_published_api_holds_at_its_boundaries(case: schemathesis.Case, store: Memory) -> None:
    call_and_check(case, store)
