"""Settings: the `"mem0"` section of a freqtrade config, and `MEM0_*` / `QDRANT_*` variables.

Environment variables win over the config file (as `FREQTRADE__*` variables do in freqtrade),
so an operator can point every bot at a server without editing strategies' configs. Settings are
built by `load_settings()` when needed and passed on; nothing is read at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from freqtrade_mem0.errors import ConfigError
from freqtrade_mem0.models import RunMode, format_validation_error

if TYPE_CHECKING:
    from freqtrade_mem0.security.crypto import KeyRing

DEFAULT_STORE_DIR = "mem0"


class OutboxSettings(BaseModel):
    """Delivery of writes from a running strategy."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None,
        description="folder of the durable outbox (live/dry); default: `<user_data>/mem0-outbox`",
    )
    batch_size: int = Field(default=256, ge=1, le=10_000, description="memories per delivery")
    flush_interval_seconds: float = Field(
        default=5.0, gt=0, description="a live/dry bot delivers at most this often"
    )
    retry_max_seconds: float = Field(
        default=300.0, gt=0, description="longest wait between retries while the store is down"
    )


class RecallSettings(BaseModel):
    """Defaults for `mem0_recall`."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=50, ge=1, le=10_000, description="neighbours per recall")
    half_life_days: float | None = Field(
        default=90.0, gt=0, description="time decay of a memory's weight (None: no decay)"
    )
    min_n_eff: float = Field(
        default=8.0, ge=0, description="effective sample size below which recall is insufficient"
    )
    max_dissimilarity: float = Field(
        default=0.5,
        gt=0,
        description="nearest-neighbour distance over the typical distance between two memories "
        "above which recall is insufficient",
    )
    scope: Literal["run", "strategy", "all"] | None = Field(
        default=None,
        description="which memories recall sees; default: `run` in simulated modes, "
        "`strategy` live/dry",
    )
    prior_strength: float = Field(
        default=10.0, ge=0, description="pseudo-trades of the strategy's own win rate in shrinkage"
    )


class Settings(BaseSettings):
    """Everything freqtrade-mem0 reads from the `"mem0"` config section or the environment."""

    model_config = SettingsConfigDict(
        env_prefix="MEM0_", env_nested_delimiter="__", extra="forbid", populate_by_name=True
    )

    store: str = Field(
        default="",
        description="where memories live: a folder (embedded Qdrant Edge, the default), "
        "`:memory:`, `qdrant+http(s)://host:6333`, `http(s)://` of a memory service, "
        "or `mem0:` (the mem0ai library)",
    )
    collection: str = Field(
        default="freqtrade_mem0", min_length=1, description="collection name on a Qdrant server"
    )
    qdrant_url: str | None = Field(
        default=None,
        validation_alias="QDRANT_URL",
        description="a Qdrant server; used when `store` is empty",
    )
    qdrant_api_key: SecretStr | None = Field(default=None, validation_alias="QDRANT_API_KEY")
    url: str | None = Field(
        default=None,
        description="a memory service (`freqtrade-mem0 serve`); used when `store` is empty",
    )
    api_key: SecretStr | None = Field(default=None, description="API key for the memory service")
    ca_bundle: str | None = Field(
        default=None, description="CA certificates to verify the memory service's TLS certificate"
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="network timeout per request")
    encryption_keys: SecretStr | None = Field(
        default=None,
        description="encrypt memories at rest (embedded or Qdrant store), backups and exports: "
        "`<id>:<base64 key>`, comma-separated, the first encrypts "
        "(`freqtrade-mem0 encryption new-key`)",
    )
    encryption_key_file: str | None = Field(
        default=None,
        description="a file of `<id>:<base64 key>` lines, instead of `encryption_keys`",
    )
    embedder: Literal["minilm", "hashing"] = Field(
        default="minilm",
        description="text embedder: `minilm` (all-MiniLM-L6-v2, local) or `hashing` (tests)",
    )
    enabled: bool = Field(default=True, description="false turns the mixin into a no-op")
    write_modes: list[RunMode] = Field(
        default_factory=lambda: [RunMode.LIVE, RunMode.DRY_RUN, RunMode.BACKTEST],
        description="run modes that write memories (not hyperopt or analysis, by default)",
    )
    performance_interval_minutes: float = Field(
        default=60.0, ge=0, description="live/dry performance memory interval (0: never)"
    )
    market_fingerprint: bool = Field(
        default=True, description="store the market fingerprint with each trade"
    )
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    recall: RecallSettings = Field(default_factory=RecallSettings)
    mem0: dict[str, Any] = Field(
        default_factory=dict, description="configuration for the `mem0` backend (mem0ai's own)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the config file, as FREQTRADE__* variables do.
        return env_settings, init_settings

    def key_ring(self) -> KeyRing | None:
        """The encryption keys, or None when memories are kept in clear.

        Raises:
            ConfigError: both sources given, or a malformed key.
        """
        from freqtrade_mem0.security.crypto import ring_from

        return ring_from(self.encryption_keys, self.encryption_key_file)

    def location(self, user_data_dir: str | Path | None = None) -> str:
        """The store location these settings select."""
        if self.store:
            return self.store
        if self.url:
            return self.url
        if self.qdrant_url:
            return "qdrant+" + self.qdrant_url
        return str((Path(user_data_dir or "user_data") / DEFAULT_STORE_DIR).resolve())


def load_settings(section: Mapping[str, Any] | None = None) -> Settings:
    """Validate a `"mem0"` config section (plus the environment) into `Settings`.

    Args:
        section: the `"mem0"` section of a freqtrade config, or None.

    Raises:
        ConfigError: naming each invalid field and what is wrong with it.
    """
    if section is not None and not isinstance(section, Mapping):
        raise ConfigError(
            f'the "mem0" config section must be an object, not {type(section).__name__}'
        )
    values = dict(section or {})
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(
            "invalid mem0 settings: " + format_validation_error(exc, "mem0.")
        ) from exc
