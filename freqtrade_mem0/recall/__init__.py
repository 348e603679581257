"""Recall: how past trades did in market conditions like now, point-in-time honest."""

from freqtrade_mem0.recall.frame import COLUMNS as FRAME_COLUMNS
from freqtrade_mem0.recall.frame import recall_frame
from freqtrade_mem0.recall.index import (
    Neighbour,
    RecallIndex,
    RecallResult,
    Scope,
    empty_result,
    scope_filter,
)

__all__ = [
    "FRAME_COLUMNS",
    "Neighbour",
    "RecallIndex",
    "RecallResult",
    "Scope",
    "empty_result",
    "recall_frame",
    "scope_filter",
]
