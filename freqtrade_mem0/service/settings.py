"""Settings of the memory service: a config file, the environment and command-line flags.

Later sources win: built-in defaults, then the config file (JSON, YAML or TOML, keys named as
the fields below), then the environment (`MEM0_HOST`, `MEM0_PORT`, `QDRANT_URL`,
`CONTROLLER_URL`, `N8N_WEBHOOK_URL`, and `MEM0_<FIELD>` for the rest), then flags.
`load_service_settings` validates them all at start and names every field that is wrong.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from freqtrade_mem0.errors import ConfigError, QuerySyntaxError
from freqtrade_mem0.models import format_validation_error

MIB = 1024 * 1024


def _url(value: str | None, name: str) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
        raise ValueError(f"{name} must be an http:// or https:// URL, not {value!r}")
    return value.rstrip("/")


class ServiceSettings(BaseSettings):
    """Everything `freqtrade-mem0 serve` reads."""

    model_config = SettingsConfigDict(
        env_prefix="MEM0_", extra="forbid", populate_by_name=True, validate_default=True
    )

    host: str = Field(default="0.0.0.0", min_length=1, description="address to listen on")
    port: int = Field(default=8080, ge=1, le=65535, description="port to listen on")
    store: str = Field(
        default="",
        description="store location (a folder, `:memory:`, `qdrant+http(s)://...`); empty: "
        "`QDRANT_URL` if set, else the embedded store in `data_dir`",
    )
    data_dir: Path = Field(
        default=Path("user_data/mem0"), description="the embedded store's folder"
    )
    qdrant_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("qdrant_url", "QDRANT_URL"),
        description="a Qdrant server (absent: the embedded Qdrant Edge store)",
    )
    qdrant_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("qdrant_api_key", "QDRANT_API_KEY"),
        description="API key of the Qdrant server",
    )
    collection: str = Field(
        default="freqtrade_mem0", min_length=1, description="collection on a Qdrant server"
    )
    embedder: Literal["minilm", "hashing"] = Field(
        default="minilm", description="text embedder: `minilm` (real) or `hashing` (tests)"
    )
    controller_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("controller_url", "CONTROLLER_URL"),
        description="the controller; new memories are POSTed to `<it>/api/v1/notify`",
    )
    n8n_webhook_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("n8n_webhook_url", "N8N_WEBHOOK_URL"),
        description="an n8n webhook that receives new memories",
    )
    notify_filter: str = Field(
        default="",
        description="which new memories are announced: a query (`type:backtest OR "
        "profit:>5`); empty: all",
    )
    notify_retries: int = Field(default=5, ge=0, le=100, description="retries per event")
    notify_backoff_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="first retry delay; doubles per retry"
    )
    notify_backoff_max_seconds: float = Field(
        default=60.0, gt=0, le=86400, description="longest delay between two attempts"
    )
    notify_timeout_seconds: float = Field(
        default=5.0, gt=0, le=300, description="seconds per delivery attempt"
    )
    notify_queue_size: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="events waiting per target before new ones are dropped (and counted)",
    )
    backup_dir: Path = Field(
        default=Path("user_data/mem0-backups"), description="folder of backups (`POST /backup`)"
    )
    max_body_bytes: int = Field(
        default=8 * MIB, ge=1024, description="largest request body (413 above it)"
    )
    max_import_bytes: int = Field(
        default=1024 * MIB, ge=1024, description="largest body of `POST /import`"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        default="info", description="uvicorn's log level"
    )
    # -- security (docs/security.md) ---------------------------------------------------------
    keys_file: Path = Field(
        default=Path("user_data/mem0-keys.json"),
        description="API keys (hashes only), managed by `freqtrade-mem0 keys`",
    )
    jwt_algorithm: Literal["HS256", "RS256"] = Field(
        default="HS256", description="the one JWT algorithm accepted"
    )
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 secret (32+ random bytes); absent: no HS256 tokens"
    )
    jwt_public_key_file: Path | None = Field(
        default=None, description="RS256: the issuer's public key (PEM)"
    )
    jwt_issuer: str | None = Field(default=None, description="the `iss` tokens must carry")
    jwt_audience: str = Field(
        default="freqtrade-mem0", min_length=1, description="the `aud` tokens must carry"
    )
    jwt_leeway_seconds: float = Field(
        default=30.0, ge=0, le=60, description="clock skew tolerated on exp, nbf and iat"
    )
    insecure_no_auth: bool = Field(
        default=False,
        description="serve without authentication (loopback addresses only; development)",
    )
    public_docs: bool = Field(
        default=False, description="serve /docs and /openapi.json without credentials"
    )
    ssl_certfile: Path | None = Field(default=None, description="TLS certificate chain (PEM)")
    ssl_keyfile: Path | None = Field(default=None, description="TLS private key (PEM)")
    encryption_keys: SecretStr | None = Field(
        default=None,
        description="encrypt memories at rest and backups: `<id>:<base64 key>`, comma-separated, "
        "the first encrypts (`freqtrade-mem0 encryption new-key`)",
    )
    encryption_key_file: Path | None = Field(
        default=None, description="a file of `<id>:<base64 key>` lines, instead"
    )
    backup_interval_minutes: float = Field(
        default=0.0, ge=0, description="make a backup this often (0: never)"
    )
    backup_retention: int = Field(
        default=7, ge=1, le=10_000, description="scheduled backups kept (older ones removed)"
    )
    backup_verify: bool = Field(
        default=True,
        description="verify each scheduled backup by restoring it into a scratch store",
    )

    @field_validator("controller_url", "n8n_webhook_url", "qdrant_url", mode="before")
    @classmethod
    def _check_url(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or "url"
        return _url(value, name) if isinstance(value, str) or value is None else value

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str) -> str:
        from freqtrade_mem0.stores import backend_of

        value = value.strip()
        if value:
            backend = backend_of(value)
            if backend == "http":
                raise ValueError("the service cannot keep its memories in another memory service")
        return value

    @field_validator("notify_filter")
    @classmethod
    def _check_filter(cls, value: str) -> str:
        from freqtrade_mem0.query import parse

        try:
            parsed = parse(value)
        except QuerySyntaxError as exc:
            raise ValueError(str(exc)) from exc
        if parsed.text:
            raise ValueError(f"use field terms only, not free text ({parsed.text!r})")
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _check_jwt_secret(cls, value: SecretStr | None) -> SecretStr | None:
        from freqtrade_mem0.security.tokens import check_secret

        if value is not None:
            try:
                check_secret(value.get_secret_value())
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("ssl_certfile", "ssl_keyfile", "jwt_public_key_file", "encryption_key_file")
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _check_security(self) -> ServiceSettings:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("TLS needs both ssl_certfile and ssl_keyfile")
        if self.jwt_algorithm == "RS256" and self.jwt_secret is not None:
            raise ValueError("jwt_secret is for HS256; RS256 verifies with jwt_public_key_file")
        if self.jwt_algorithm == "HS256" and self.jwt_public_key_file is not None:
            raise ValueError("jwt_public_key_file needs jwt_algorithm RS256")
        from freqtrade_mem0.security.crypto import ring_from

        try:
            ring_from(self.encryption_keys, self.encryption_key_file)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    def location(self) -> str:
        """The store location these settings select."""
        if self.store:
            return self.store
        if self.qdrant_url:
            return "qdrant+" + self.qdrant_url
        return str(self.data_dir.expanduser().resolve())

    @property
    def notify_targets(self) -> dict[str, str]:
        """Where new memories are announced: target name to URL."""
        targets = {}
        if self.n8n_webhook_url:
            targets["n8n"] = self.n8n_webhook_url
        if self.controller_url:
            targets["controller"] = self.controller_url + "/api/v1/notify"
        return targets


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in a JSON, YAML or TOML file (a `"service"` section, or the whole file).

    Raises:
        ConfigError: the file cannot be read or parsed, or is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)
        elif path.suffix == ".toml":
            raw = tomllib.loads(text)
        else:
            raw = json.loads(text)
    except Exception as exc:  # each parser raises its own error type; all mean "malformed"
        raise ConfigError(f"config {path} does not parse: {exc}") from exc
    if isinstance(raw, Mapping) and isinstance(raw.get("service"), Mapping):
        raw = raw["service"]
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config {path} must hold a mapping of settings")
    return dict(raw)


def load_service_settings(
    config_file: str | Path | None = None, **overrides: Any
) -> ServiceSettings:
    """Validate the service's settings: defaults < config file < environment < `overrides`.

    Args:
        config_file: a JSON, YAML or TOML file of settings.
        **overrides: values from command-line flags; None means "not given".

    Raises:
        ConfigError: naming each invalid setting and what is wrong with it.
    """
    values = read_config_file(config_file) if config_file is not None else {}
    try:
        from_env = ServiceSettings()
        values.update({name: getattr(from_env, name) for name in from_env.model_fields_set})
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = ServiceSettings(**values)
    except ValidationError as exc:
        raise ConfigError("invalid service settings: " + format_validation_error(exc)) from exc
    try:
        settings.backup_dir.expanduser().mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"backup_dir {settings.backup_dir}: {exc.strerror or exc}") from exc
    return settings
