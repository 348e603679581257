"""The query language: Lucene syntax parsed into one small typed AST.

The AST is evaluated in pure Python (`evaluate`) and translated for each store
(`to_edge_filter`, `to_qdrant_filter`, `to_mem0_filter`); tests prove that they agree. Code
that builds filters uses the builders (`eq`, `any_of`, `between`, `and_`, `or_`, `not_`),
which resolve field names as queries do (`profit` is `metrics.profit`).

Fields: keyword fields (`strategy`, `pair`, `tags`, ... matched exactly, case-sensitive; a
list such as `tags` matches when any element does), datetime fields (`timestamp`,
`created_at`) and numeric metrics (`profit` or `metrics.<name>`).
"""

from freqtrade_mem0.query.evaluate import evaluate
from freqtrade_mem0.query.filters import to_edge_filter, to_qdrant_filter
from freqtrade_mem0.query.mem0_filters import Mem0Translation, to_mem0_filter
from freqtrade_mem0.query.nodes import (
    And,
    Match,
    MatchAny,
    Node,
    Not,
    Or,
    ParsedQuery,
    Range,
    and_,
    any_of,
    between,
    eq,
    not_,
    or_,
    resolve_field,
)
from freqtrade_mem0.query.parser import parse
from freqtrade_mem0.query.render import to_lucene

__all__ = [
    "And",
    "Match",
    "MatchAny",
    "Mem0Translation",
    "Node",
    "Not",
    "Or",
    "ParsedQuery",
    "Range",
    "and_",
    "any_of",
    "between",
    "eq",
    "evaluate",
    "not_",
    "or_",
    "parse",
    "resolve_field",
    "to_edge_filter",
    "to_lucene",
    "to_mem0_filter",
    "to_qdrant_filter",
]
