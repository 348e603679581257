"""The service's settings (file < environment < flags), `freqtrade-mem0 serve`, and the
deployment files (no Docker engine here: what can be checked without one is)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from freqtrade_mem0.cli import cli
from freqtrade_mem0.errors import ConfigError
from freqtrade_mem0.service import load_service_settings
from tests.conftest import REPO


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_service_settings()
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.location() == str(tmp_path / "user_data" / "mem0")
    assert settings.notify_targets == {}
    assert (tmp_path / "user_data" / "mem0-backups").is_dir()


def test_the_environment_of_the_issue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "MEM0_HOST": "127.0.0.1",
        "MEM0_PORT": "9000",
        "QDRANT_URL": "http://qdrant:6333/",
        "CONTROLLER_URL": "http://controller:8000",
        "N8N_WEBHOOK_URL": "http://n8n:5678/webhook/mem0",
        "MEM0_BACKUP_DIR": str(tmp_path / "backups"),
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_service_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 9000)
    assert settings.location() == "qdrant+http://qdrant:6333"
    assert settings.notify_targets == {
        "n8n": "http://n8n:5678/webhook/mem0",
        "controller": "http://controller:8000/api/v1/notify",
    }


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_file_then_environment_then_flags(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {"port": 7000, "host": "10.0.0.1", "backup_dir": str(tmp_path / "b")}
    path = tmp_path / f"service{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"service": values}))
    elif suffix == ".yaml":
        path.write_text(yaml.safe_dump(values))
    else:
        path.write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items()))
    assert load_service_settings(path).port == 7000
    monkeypatch.setenv("MEM0_PORT", "7100")
    settings = load_service_settings(path)
    assert (settings.port, settings.host) == (7100, "10.0.0.1")
    assert load_service_settings(path, port=7200, host=None).port == 7200


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"port": 70000}, "port"),
        ({"controller_url": "controller:8000"}, "controller_url"),
        ({"notify_filter": "profit:>lots"}, "notify_filter"),
        ({"notify_filter": "good trades"}, "notify_filter"),
        ({"store": "http://other:8080"}, "store"),
        ({"embedder": "bert"}, "embedder"),
        ({"prot": 8080}, "prot"),
    ],
)
def test_bad_settings_are_named(values: dict[str, Any], named: str, tmp_path: Path) -> None:
    values.setdefault("backup_dir", str(tmp_path))
    with pytest.raises(ConfigError, match=named):
        load_service_settings(**values)


def test_a_bad_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "service.json"
    path.write_text("{port: 1")
    with pytest.raises(ConfigError, match="does not parse"):
        load_service_settings(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_service_settings(tmp_path / "missing.yaml")


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `serve` hands to uvicorn (uvicorn itself does not run)."""
    import uvicorn

    calls: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        calls.update(kwargs, app=app)
        calls["state"] = app.state.mem0

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


def test_serve_builds_the_app_from_its_flags(served: dict[str, Any], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "--embedder",
            "hashing",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "8123",
            "--data-dir",
            str(tmp_path / "store"),
            "--backup-dir",
            str(tmp_path / "backups"),
            "--controller-url",
            "http://controller:8000",
            "--insecure-no-auth",  # a loopback address: allowed
        ],
    )
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("127.0.0.1", 8123)
    state = served["state"]
    assert state.settings.location() == str(tmp_path / "store")
    assert state.notifier.status()["controller"]["url"] == "http://controller:8000/api/v1/notify"
    assert (tmp_path / "store" / "store.json").exists()  # opened (and closed) by serve


def test_serve_refuses_bad_settings_with_exit_code_2(served: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--n8n-webhook-url", "n8n"])
    assert result.exit_code == 2
    assert "port" in result.output
    assert "n8n_webhook_url" in result.output
    assert not served


def dockerfile_env(text: str) -> dict[str, str]:
    """The variables the `ENV` instructions of a Dockerfile set."""
    env = {}
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line.removeprefix("ENV ")):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def test_the_image_runs_the_serve_command_the_tests_run(
    served: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    [cmd] = [line for line in dockerfile.splitlines() if line.startswith("CMD ")]
    argv = json.loads(cmd.removeprefix("CMD "))
    assert argv[:2] == ["freqtrade-mem0", "serve"]
    for name, value in dockerfile_env(dockerfile).items():
        if name.startswith("MEM0_"):  # the image's settings, with its volume under tmp_path
            monkeypatch.setenv(name, value.replace("/data", str(tmp_path)))
    monkeypatch.setenv("MEM0_EMBEDDER", "hashing")  # the image's default is the real model
    # The first step of a deployment (docs/security.md): an admin key in the volume.
    made = CliRunner().invoke(cli, ["keys", "create", "--name", "ops", "--role", "admin"])
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(cli, argv[1:], prog_name=argv[0])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("0.0.0.0", 8080)
    assert served["state"].settings.location() == str(tmp_path / "mem0")


def test_compose_runs_mem0_beside_qdrant() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert {"mem0", "qdrant"} <= set(compose["services"])
    mem0 = compose["services"]["mem0"]
    assert mem0["build"] == "."
    environment = mem0["environment"]
    assert environment["QDRANT_URL"] == "http://qdrant:6333"
    for name in ("MEM0_HOST", "MEM0_PORT", "CONTROLLER_URL", "N8N_WEBHOOK_URL"):
        assert name in environment
    assert "qdrant" in mem0["depends_on"]
    assert compose["services"]["qdrant"]["image"].startswith("qdrant/qdrant:v")
