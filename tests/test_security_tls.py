"""TLS: the service on HTTPS with a certificate made in the test, and the `http` backend that
trusts only what it is told to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from freqtrade_mem0.config import Settings
from freqtrade_mem0.embedding import HashingEmbedder
from freqtrade_mem0.errors import ConfigError
from freqtrade_mem0.memory import Memory
from freqtrade_mem0.service import ServiceSettings, create_app
from tests.factories import trade
from tests.security_helpers import tls_files
from tests.service_helpers import ADMIN_KEY, running, service_settings


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS service; yields its URL and the CA that signed its certificate."""
    root = tmp_path_factory.mktemp("tls")
    ca, cert, key = tls_files(root)
    settings = service_settings(root, ssl_certfile=cert, ssl_keyfile=key)
    with running(create_app(settings), ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        yield url, ca


def test_the_http_backend_works_over_tls_with_the_ca_bundle(tls: tuple[str, Path]) -> None:
    url, ca = tls
    assert url.startswith("https://")
    settings = Settings(api_key=ADMIN_KEY, ca_bundle=str(ca))
    with Memory.open(url, settings=settings, embedder=HashingEmbedder()) as memory:
        memory.remember([trade(1), trade(2)])
        assert memory.get(trade(1).id).key == trade(1).key
        assert memory.count() >= 2


def test_a_certificate_not_trusted_is_a_clear_error(tls: tuple[str, Path]) -> None:
    url, _ = tls
    with pytest.raises(ConfigError, match=r"does not trust.*set ca_bundle"):
        Memory.open(url, settings=Settings(api_key=ADMIN_KEY), embedder=HashingEmbedder())


def test_plain_http_to_the_tls_port_gets_nothing(tls: tuple[str, Path]) -> None:
    url, ca = tls
    with pytest.raises(httpx.TransportError):
        httpx.get(url.replace("https://", "http://") + "/health", timeout=5)
    assert httpx.get(url + "/health", verify=str(ca)).status_code == 200


def test_tls_needs_both_files(tmp_path: Path) -> None:
    _, cert, _ = tls_files(tmp_path)
    with pytest.raises(ValueError, match="TLS needs both ssl_certfile and ssl_keyfile"):
        ServiceSettings(insecure_no_auth=True, embedder="hashing", ssl_certfile=cert)
