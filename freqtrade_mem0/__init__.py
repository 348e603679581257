"""freqtrade-mem0: a trading memory for Freqtrade strategies.

Strategies remember every trade with the market conditions around it, and every backtest's
metrics, and recall them point-in-time: "in conditions like now, how did my trades do?"
"""

from freqtrade_mem0.config import Settings, load_settings
from freqtrade_mem0.embedding import Embedder, HashingEmbedder, MiniLMEmbedder
from freqtrade_mem0.errors import (
    ConfigError,
    Mem0Error,
    NotFoundError,
    OperationalError,
    QuerySyntaxError,
    StoreLockedError,
    StoreUnavailableError,
    TemporaryError,
)
from freqtrade_mem0.memory import Hit, Memory
from freqtrade_mem0.mixin import Mem0Mixin
from freqtrade_mem0.models import MemoryCreate, MemoryKind, MemoryRecord, MemoryType, RunMode
from freqtrade_mem0.query import parse as parse_query
from freqtrade_mem0.recall import RecallResult

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Embedder",
    "HashingEmbedder",
    "Hit",
    "Mem0Error",
    "Mem0Mixin",
    "Memory",
    "MemoryCreate",
    "MemoryKind",
    "MemoryRecord",
    "MemoryType",
    "MiniLMEmbedder",
    "NotFoundError",
    "OperationalError",
    "QuerySyntaxError",
    "RecallResult",
    "RunMode",
    "Settings",
    "StoreLockedError",
    "StoreUnavailableError",
    "TemporaryError",
    "__version__",
    "load_settings",
    "parse_query",
]
