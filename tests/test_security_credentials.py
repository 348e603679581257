"""API keys (hashed on disk, shown once, revocable), JWT (issued, verified, edge cases), the
refusal to start without credentials or with a weak secret, and the CLI that manages them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner

from freqtrade_mem0.cli import cli
from freqtrade_mem0.errors import AuthenticationError, ConfigError
from freqtrade_mem0.security.keys import KeyFile
from freqtrade_mem0.security.principal import Role
from freqtrade_mem0.security.tokens import TokenVerifier, issue_token
from freqtrade_mem0.service import create_app, load_service_settings
from tests.security_helpers import SECRET, TOKENS, rsa_keys, token, unsigned
from tests.service_helpers import service_settings

# -- API keys ------------------------------------------------------------------------------


def test_keys_are_stored_only_as_hashes_with_private_permissions(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys.json")
    entry, key = keys.create("bot-1", "writer", ["MyStrategy"])
    text = (tmp_path / "keys.json").read_text()
    assert key not in text
    assert key.split("_")[2] not in text
    assert entry.hash in text and entry.hash.startswith("sha256:")
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    principal = keys.authenticate(key)
    assert (principal.role, principal.strategies) == (Role.WRITER, frozenset({"MyStrategy"}))


def test_unknown_malformed_and_revoked_keys_are_refused(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "keys.json")
    entry, key = keys.create("bot-1", "admin")
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    with pytest.raises(AuthenticationError, match="unknown API key"):
        keys.authenticate(forged)
    with pytest.raises(AuthenticationError, match="malformed"):
        keys.authenticate("not-a-key")
    # A second handle on the file (another process: the service) sees the revocation.
    service_view = KeyFile(tmp_path / "keys.json")
    assert service_view.authenticate(key).role is Role.ADMIN
    keys.revoke(entry.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        service_view.authenticate(key)


@pytest.mark.parametrize(
    ("name", "role", "strategies", "message"),
    [
        ("", "admin", None, "key name"),
        ("bot", "root", None, "root"),
        ("bot", "reader", [], "empty strategy list"),
        ("bot", "reader", ["My Strategy"], "not a strategy name"),
    ],
)
def test_bad_key_requests_are_named(
    tmp_path: Path, name: str, role: str, strategies: list[str] | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        KeyFile(tmp_path / "keys.json").create(name, role, strategies)


def test_the_keys_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    path = str(tmp_path / "keys.json")
    made = runner.invoke(
        cli, ["keys", "create", "--name", "bot-1", "--role", "writer", "--strategy", "S",
              "--keys-file", path, "--json"]
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    created = json.loads(made.output)
    assert created["key"].startswith("fm0_")
    listed = runner.invoke(cli, ["keys", "list", "--keys-file", path, "--json"])
    [entry] = json.loads(listed.output)
    assert (entry["name"], entry["role"], entry["strategies"]) == ("bot-1", "writer", ["S"])
    assert "hash" not in entry and created["key"] not in listed.output
    revoked = runner.invoke(cli, ["keys", "revoke", created["id"], "--keys-file", path])
    assert revoked.exit_code == 0
    assert runner.invoke(cli, ["keys", "revoke", "0000000000", "--keys-file", path]).exit_code == 3


# -- JWT -----------------------------------------------------------------------------------


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier(algorithm="HS256", key=SECRET)


def test_an_issued_token_verifies(verifier: TokenVerifier) -> None:
    made = issue_token(
        key=SECRET,
        algorithm="HS256",
        role="writer",
        subject="bot-1",
        expires_in_seconds=60,
        strategies=["MyStrategy"],
    )
    principal = verifier.verify(made)
    assert principal.subject == "jwt:bot-1"
    assert (principal.role, principal.strategies) == (Role.WRITER, frozenset({"MyStrategy"}))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("jwt-expired", "expired"),
        ("jwt-not-yet-valid", "not valid yet"),
        ("jwt-issued-in-the-future", "not valid yet"),
        ("jwt-wrong-key", "signature does not verify"),
        ("jwt-alg-none", "alg none"),
        ("jwt-no-exp", "'exp'"),
        ("jwt-bad-role", "root"),
        ("jwt-other-audience", "aud"),
    ],
)
def test_bad_tokens_are_refused_and_say_why(
    verifier: TokenVerifier, name: str, message: str
) -> None:
    with pytest.raises(AuthenticationError, match=message):
        verifier.verify(TOKENS[name]())


def test_clock_skew_is_tolerated_up_to_the_leeway(verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert verifier.verify(token(exp=now - 10, iat=now - 100, nbf=now - 100))  # 10 s < 30 s
    assert verifier.verify(token(nbf=now + 10))
    with pytest.raises(AuthenticationError, match="expired"):
        verifier.verify(token(exp=now - 31, iat=now - 100, nbf=now - 100))
    with pytest.raises(ConfigError, match="0 to 60"):
        TokenVerifier(algorithm="HS256", key=SECRET, leeway_seconds=3600)


def hs256_by_hand(claims: dict[str, object], secret: bytes) -> str:
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = part(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{part(signature)}"


def test_rs256_and_algorithm_confusion(tmp_path: Path) -> None:
    private, public = rsa_keys(tmp_path)
    verifier = TokenVerifier(algorithm="RS256", key=public.read_text())
    good = issue_token(
        key=private.read_text(), algorithm="RS256", role="reader", subject="n8n",
        expires_in_seconds=60,
    )  # fmt: skip
    assert verifier.verify(good).role is Role.READER
    # The classic attack: HS256 "signed" with the public key as the secret (made by hand:
    # PyJWT itself refuses to make one).
    forged = hs256_by_hand(
        {"sub": "x", "role": "admin", "exp": int(time.time()) + 60, "aud": "freqtrade-mem0"},
        public.read_bytes(),
    )
    with pytest.raises(AuthenticationError, match="accepts RS256 only"):
        verifier.verify(forged)
    with pytest.raises(AuthenticationError, match="alg none"):
        verifier.verify(unsigned())
    with pytest.raises(AuthenticationError, match="accepts HS256 only"):
        TokenVerifier(algorithm="HS256", key=SECRET).verify(good)
    with pytest.raises(ConfigError, match="public key"):
        TokenVerifier(algorithm="RS256", key=private.read_text())


def test_the_token_command(monkeypatch: pytest.MonkeyPatch, verifier: TokenVerifier) -> None:
    monkeypatch.setenv("MEM0_JWT_SECRET", SECRET)
    made = CliRunner().invoke(
        cli, ["token", "--role", "reader", "--strategy", "S", "--expires", "2h"]
    )
    assert made.exit_code == 0, made.output
    claims = jwt.decode(
        made.output.strip(), SECRET, algorithms=["HS256"], audience="freqtrade-mem0"
    )
    assert claims["exp"] - claims["iat"] == 7200
    assert verifier.verify(made.output.strip()).strategies == frozenset({"S"})
    monkeypatch.setenv("MEM0_JWT_SECRET", "changeme")
    refused = CliRunner().invoke(cli, ["token", "--role", "admin"])
    assert refused.exit_code == 2
    assert "well-known" in refused.output


# -- refusing to start ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret", ["", "secret", "changeme", "CHANGEME", "short-but-random-1", "a" * 40]
)
def test_an_empty_default_or_weak_jwt_secret_stops_the_start(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigError, match="jwt_secret"):
        load_service_settings(backup_dir=tmp_path, jwt_secret=secret)


def test_no_credentials_no_start(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, keys_file=tmp_path / "none.json")
    with pytest.raises(ConfigError, match="no credentials are configured"):
        create_app(settings)
    open_on_loopback = service_settings(tmp_path, insecure_no_auth=True)
    assert create_app(open_on_loopback)
    on_the_network = service_settings(tmp_path, insecure_no_auth=True, host="0.0.0.0")
    with pytest.raises(ConfigError, match="loopback"):
        create_app(on_the_network)
    jwt_only = service_settings(tmp_path, keys_file=tmp_path / "none.json", jwt_secret=SECRET)
    assert create_app(jwt_only)
