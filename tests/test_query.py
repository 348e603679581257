"""The query language: syntax to AST, errors with positions, builders, evaluation, rendering."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import qdrant_edge as qe
from qdrant_client import models as qm

from freqtrade_mem0.errors import OperationalError, QuerySyntaxError
from freqtrade_mem0.models import RunMode
from freqtrade_mem0.query import (
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
    evaluate,
    not_,
    or_,
    parse,
    to_edge_filter,
    to_lucene,
    to_qdrant_filter,
)


def day(d: int, month: int = 1, hour: int = 0) -> datetime:
    return datetime(2024, month, d, hour, tzinfo=UTC)


def profit(**bounds: float) -> Range:
    return Range("metrics.profit", **bounds)


PARSED: list[Any] = [
    pytest.param(
        "strategy:MyStrategy AND profit:>10.0",
        And((Match("strategy", "MyStrategy"), profit(gt=10.0))),
        id="seed-query",
    ),
    pytest.param("profit:>=10", profit(gte=10.0), id="gte"),
    pytest.param("profit:<10", profit(lt=10.0), id="lt"),
    pytest.param("profit:<=10", profit(lte=10.0), id="lte"),
    pytest.param("profit:>-1.5", profit(gt=-1.5), id="negative-after-gt"),
    pytest.param("profit:<= -0.5", profit(lte=-0.5), id="negative-after-space"),
    pytest.param("profit:-1.5", profit(gte=-1.5, lte=-1.5), id="negative-equality"),
    pytest.param("profit:10", profit(gte=10.0, lte=10.0), id="number-equality"),
    pytest.param("profit:[-5 TO 0]", profit(gte=-5.0, lte=0.0), id="negative-range"),
    pytest.param("profit:{-5 TO -.5}", profit(gt=-5.0, lt=-0.5), id="exclusive-range"),
    pytest.param("profit:[1 TO 2}", profit(gte=1.0, lt=2.0), id="mixed-range"),
    pytest.param("profit:{1 TO 2]", profit(gt=1.0, lte=2.0), id="mixed-range-2"),
    pytest.param("profit:[* TO 2]", profit(lte=2.0), id="open-low"),
    pytest.param("profit:{1 TO *]", profit(gt=1.0), id="open-high"),
    pytest.param("profit:[* TO *]", profit(), id="has-value"),
    pytest.param("metrics.rsi_14:>1e-3", Range("metrics.rsi_14", gt=0.001), id="any-metric"),
    pytest.param("win_rate:0.5", Range("metrics.win_rate", gte=0.5, lte=0.5), id="bare-metric"),
    pytest.param(
        "timestamp:[2024-01-01 TO 2024-06-27]",
        Range("timestamp", gte=day(1), lt=day(28, 6)),
        id="date-range-includes-last-day",
    ),
    pytest.param(
        "timestamp:{2024-01-01 TO 2024-06-27}",
        Range("timestamp", gte=day(2), lt=day(27, 6)),
        id="date-range-exclusive",
    ),
    pytest.param(
        "timestamp:{2024-01-01 TO 2024-01-05]",
        Range("timestamp", gte=day(2), lt=day(6)),
        id="date-range-mixed",
    ),
    pytest.param("timestamp:2024-01-01", Range("timestamp", gte=day(1), lt=day(2)), id="day"),
    pytest.param("timestamp:>2024-01-01", Range("timestamp", gte=day(2)), id="after-day"),
    pytest.param("timestamp:>=2024-01-01", Range("timestamp", gte=day(1)), id="from-day"),
    pytest.param("timestamp:<2024-01-01", Range("timestamp", lt=day(1)), id="before-day"),
    pytest.param("timestamp:<=2024-01-01", Range("timestamp", lt=day(2)), id="until-day"),
    pytest.param("timestamp:[* TO 2024-01-01]", Range("timestamp", lt=day(2)), id="open-day"),
    pytest.param(
        "timestamp:>2024-01-01T10:00:00Z", Range("timestamp", gt=day(1, hour=10)), id="instant"
    ),
    pytest.param(
        "timestamp:[2024-01-01T10:00:00+02:00 TO 2024-01-02T00:00:00-05:30}",
        Range("timestamp", gte=day(1, hour=8), lt=day(2, hour=5) + timedelta(minutes=30)),
        id="offsets",
    ),
    pytest.param(
        "created_at:<2024-01-01T10:00", Range("created_at", lt=day(1, hour=10)), id="naive-is-utc"
    ),
    pytest.param(
        'timestamp:"2024-01-01T12:00:00.5+02:00"',
        Range(
            "timestamp",
            gte=day(1, hour=10) + timedelta(milliseconds=500),
            lte=day(1, hour=10) + timedelta(milliseconds=500),
        ),
        id="quoted-instant-equality",
    ),
    pytest.param('pair:"ADA/BTC"', Match("pair", "ADA/BTC"), id="quoted"),
    pytest.param("pair:ADA/BTC", Match("pair", "ADA/BTC"), id="bare-pair"),
    pytest.param("pair:BTC/USDT:USDT", Match("pair", "BTC/USDT:USDT"), id="futures-pair"),
    pytest.param('strategy:"My \\"big\\" one"', Match("strategy", 'My "big" one'), id="escapes"),
    pytest.param("strategy:my\\ strategy", Match("strategy", "my strategy"), id="escaped-space"),
    pytest.param("strategy:mystrategy", Match("strategy", "mystrategy"), id="case-kept"),
    pytest.param('pair:"a*"', Match("pair", "a*"), id="quoted-star-is-literal"),
    pytest.param(
        "pair:(ADA/BTC OR ETH/BTC)",
        MatchAny("pair", ("ADA/BTC", "ETH/BTC")),
        id="field-group",
    ),
    pytest.param(
        "tags:(roi AND fast)", And((Match("tags", "roi"), Match("tags", "fast"))), id="and-group"
    ),
    pytest.param(
        "profit:(1 OR >5)",
        Or((profit(gte=1.0, lte=1.0), profit(gt=5.0))),
        id="numeric-group",
    ),
    pytest.param("NOT pair:x", Not(Match("pair", "x")), id="not"),
    pytest.param("-pair:x", Not(Match("pair", "x")), id="minus"),
    pytest.param("+pair:x", Match("pair", "x"), id="plus"),
    pytest.param("NOT NOT pair:x", Match("pair", "x"), id="double-not"),
    pytest.param("pair:x OR side:long", Or((Match("pair", "x"), Match("side", "long"))), id="or"),
    pytest.param(
        "pair:x side:long", And((Match("pair", "x"), Match("side", "long"))), id="implicit-and"
    ),
    pytest.param(
        "pair:x AND (side:long OR NOT tags:stop)",
        And((Match("pair", "x"), Or((Match("side", "long"), Not(Match("tags", "stop")))))),
        id="nested",
    ),
    pytest.param(
        "(pair:x AND side:long) AND mode:live",
        And((Match("pair", "x"), Match("side", "long"), Match("mode", "live"))),
        id="flattened",
    ),
]


@pytest.mark.parametrize(("query", "where"), PARSED)
def test_syntax_parses_to_the_expected_filter(query: str, where: Node) -> None:
    assert parse(query) == ParsedQuery(where, "")


@pytest.mark.parametrize(
    ("query", "where", "text"),
    [
        ("", None, ""),
        ("   ", None, ""),
        ("rsi oversold", None, "rsi oversold"),
        ("rsi oversold strategy:X", Match("strategy", "X"), "rsi oversold"),
        ('"sharp drop" after strategy:X news', Match("strategy", "X"), "sharp drop after news"),
        ("(oversold AND pair:x) bounce", Match("pair", "x"), "oversold bounce"),
        ("+oversold -pair:x", Not(Match("pair", "x")), "oversold"),
    ],
)
def test_free_text_becomes_the_semantic_part(query: str, where: Node | None, text: str) -> None:
    assert parse(query) == ParsedQuery(where, text)


ERRORS: list[Any] = [
    pytest.param("proft:>1", "did you mean 'profit'?", 0, id="typo"),
    pytest.param("strategy:x AND Pair:y", "did you mean 'pair'?", 15, id="case"),
    pytest.param("metric.profit:1", "did you mean 'metrics.profit'?", 0, id="dotted-typo"),
    pytest.param("rsi:>30", "written 'metrics.rsi'", 0, id="unknown-metric"),
    pytest.param("metrics.a-b:1", "bad metric name 'a-b'", 0, id="metric-name"),
    pytest.param("profit:abc", "profit needs a number, not 'abc'", 7, id="not-a-number"),
    pytest.param("profit:>inf", "needs a number", 8, id="infinite"),
    pytest.param("profit:1_000", "needs a number", 7, id="underscores"),
    pytest.param("timestamp:2024-02-30", "bad date '2024-02-30'", 10, id="bad-date"),
    pytest.param("timestamp:yesterday", "needs a date", 10, id="not-a-date"),
    pytest.param("timestamp:[2024-01-01 TO soon]", "not 'soon'", 25, id="bad-bound"),
    pytest.param("pair:ADA*", "wildcards", 5, id="star"),
    pytest.param("pair:AD?/BTC", "wildcards", 5, id="question-mark"),
    pytest.param("pair:x~", "fuzzy", 5, id="fuzzy"),
    pytest.param("pair:x^2", "boosts", 5, id="boost"),
    pytest.param("pair:/A.*/", "regular expressions", 5, id="regex"),
    pytest.param('"a b"~2', "proximity", 0, id="proximity"),
    pytest.param("pair:>x", "keyword field", 5, id="keyword-comparison"),
    pytest.param("side:[a TO b]", "keyword field", 5, id="keyword-range"),
    pytest.param(">5", "needs a field", 0, id="fieldless-range"),
    pytest.param("pair:(a OR side:b)", "inside the value of another field", 11, id="nested"),
    pytest.param("(pair:x", "ends too early", 7, id="unclosed-paren"),
    pytest.param("pair:x)", "unexpected ')'", 6, id="stray-paren"),
    pytest.param('pair:"x', "unclosed quote", 5, id="unclosed-quote"),
    pytest.param("pair:'x'", "double quotes", 5, id="single-quotes"),
    pytest.param("profit:[1 TO]", "unexpected ']'", 12, id="missing-bound"),
    pytest.param("NOT oversold", "under OR or NOT", 4, id="negated-text"),
    pytest.param("pair:x OR oversold", "under OR or NOT", 10, id="alternative-text"),
    pytest.param("-oversold strategy:x", "under OR or NOT", 1, id="prohibited-text"),
    pytest.param("profit:>-1.5 AND proft:1", "did you mean", 17, id="position-after-minus"),
    pytest.param(
        "timestamp:>2024-01-01T00:00:00+02:00 AND foo:1",
        "unknown field 'foo'",
        41,
        id="position-after-offset",
    ),
    pytest.param("pair:a\ue000", "unsupported character", 6, id="private-use"),
]


@pytest.mark.parametrize(("query", "message", "position"), ERRORS)
def test_errors_name_the_problem_and_its_position(query: str, message: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query)
    assert message in str(caught.value)
    assert caught.value.position == position
    assert caught.value.query == query
    assert isinstance(caught.value, OperationalError)


def test_error_message_points_at_the_problem() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("strategy:x AND proft:>1")
    assert str(caught.value).splitlines()[1:] == [
        "  strategy:x AND proft:>1",
        "                 ^",
    ]


# -- builders -----------------------------------------------------------------------------


def test_builders_resolve_fields_like_queries() -> None:
    assert eq("strategy", "X") == Match("strategy", "X")
    assert any_of("mode", (RunMode.LIVE, "dry_run")) == MatchAny("mode", ("live", "dry_run"))
    assert type(any_of("mode", [RunMode.LIVE]).values[0]) is str
    assert between("profit", gt=1) == profit(gt=1.0)
    assert between("metrics.custom", lte=2.5) == Range("metrics.custom", lte=2.5)
    assert between("win_rate") == Range("metrics.win_rate")


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"gt": date(2024, 1, 1)}, Range("timestamp", gte=day(2))),
        ({"gte": date(2024, 1, 1)}, Range("timestamp", gte=day(1))),
        ({"lt": date(2024, 1, 1)}, Range("timestamp", lt=day(1))),
        ({"lte": date(2024, 1, 1)}, Range("timestamp", lt=day(2))),
        ({"lte": "2024-01-01"}, Range("timestamp", lt=day(2))),
        ({"lt": datetime(2024, 1, 1, 10)}, Range("timestamp", lt=day(1, hour=10))),
        (
            {"gt": datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))},
            Range("timestamp", gt=day(1, hour=10)),
        ),
    ],
)
def test_between_dates_are_whole_days_and_times_utc(
    bounds: dict[str, Any], expected: Range
) -> None:
    assert between("timestamp", **bounds) == expected


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: eq("profit", "1"), QuerySyntaxError),
        (lambda: eq("nope", "1"), QuerySyntaxError),
        (lambda: any_of("timestamp", ["x"]), QuerySyntaxError),
        (lambda: between("strategy", gt=1), QuerySyntaxError),
        (lambda: between("proft", gt=1), QuerySyntaxError),
        (lambda: eq("pair", 5), TypeError),  # type: ignore[arg-type]
        (lambda: between("profit", gt=True), TypeError),
        (lambda: between("profit", gt="1"), TypeError),
        (lambda: between("timestamp", gt=1.0), TypeError),
        (lambda: between("profit", gt=float("nan")), ValueError),
        (lambda: between("profit", gt=1, gte=2), ValueError),
        (lambda: between("timestamp", lt="tomorrow"), QuerySyntaxError),
        (lambda: Range("timestamp", gt=day(1), lt=2.0), ValueError),
        (lambda: Range("timestamp", gt=1.0), ValueError),
        (lambda: Range("metrics.profit", gt=day(1)), ValueError),
        (lambda: Range("pair", gt=1.0), ValueError),
        (lambda: Range("timestamp", gt=datetime(2024, 1, 1)), ValueError),
        (lambda: And(()), ValueError),
        (lambda: Or(()), ValueError),
    ],
)
def test_builders_refuse_wrong_fields_and_values(call: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        call()


def test_combinators_drop_absent_conditions_and_flatten() -> None:
    a, b, c = eq("pair", "a"), eq("pair", "b"), eq("side", "long")
    assert and_() is None
    assert and_(None, None) is None
    assert and_(a, None) == a
    assert and_(a, and_(b, c)) == And((a, b, c))
    assert or_(or_(a, b), None, c) == Or((a, b, c))
    assert and_(or_(a, b), c) == And((Or((a, b)), c))
    assert not_(None) is None
    assert not_(a) == Not(a)
    assert not_(not_(a)) == a


# -- evaluation ---------------------------------------------------------------------------

PAYLOAD = {
    "strategy": "Alpha",
    "pair": None,
    "tags": ["roi", "fast"],
    "timestamp": "2024-01-01T10:00:00Z",
    "metrics": {"profit": -1.5, "flag": True, "label": "high"},
}


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (Match("strategy", "Alpha"), True),
        (Match("strategy", "alpha"), False),
        (Match("side", "long"), False),
        (Not(Match("side", "long")), True),
        (Match("pair", "x"), False),
        (Not(Match("pair", "x")), True),
        (Match("tags", "fast"), True),
        (Not(Match("tags", "fast")), False),
        (MatchAny("tags", ("stop", "roi")), True),
        (MatchAny("strategy", ()), False),
        (profit(lt=-1.0), True),
        (profit(gt=-1.5), False),
        (profit(), True),
        (Range("metrics.drawdown"), False),
        (Not(Range("metrics.drawdown", gt=0.0)), True),
        (Range("metrics.flag", gte=0.0), False),
        (Range("metrics.label"), False),
        (Range("timestamp", gte=day(1, hour=10), lt=day(2)), True),
        (Range("timestamp", gt=day(1, hour=10)), False),
        (Range("created_at"), False),
        (And((Match("strategy", "Alpha"), Not(Match("tags", "stop")))), True),
        (Or((Match("strategy", "Beta"), profit(gt=0.0))), False),
        (None, True),
    ],
)
def test_evaluate_follows_qdrant_semantics(node: Node | None, expected: bool) -> None:
    assert evaluate(node, PAYLOAD) is expected


# -- rendering and translation ------------------------------------------------------------

RENDERED: list[Any] = [
    pytest.param(None, "", id="none"),
    pytest.param(Match("pair", "ADA/BTC"), "pair:ADA/BTC", id="bare"),
    pytest.param(Match("pair", "BTC/USDT:USDT"), 'pair:"BTC/USDT:USDT"', id="colon"),
    pytest.param(Match("strategy", 'My "x" \\'), 'strategy:"My \\"x\\" \\\\"', id="escapes"),
    pytest.param(Match("exit_reason", "OR"), 'exit_reason:"OR"', id="reserved-word"),
    pytest.param(Match("enter_tag", "-5"), 'enter_tag:"-5"', id="leading-minus"),
    pytest.param(MatchAny("pair", ("a", "b c")), 'pair:(a OR "b c")', id="any"),
    pytest.param(profit(gt=-1.5), "profit:>-1.5", id="gt"),
    pytest.param(profit(lte=2.0), "profit:<=2.0", id="lte"),
    pytest.param(profit(gte=1.0, lte=1.0), "profit:1.0", id="equality"),
    pytest.param(Range("metrics.x", gte=0.0, lt=1e-05), "metrics.x:[0.0 TO 1e-05}", id="range"),
    pytest.param(profit(), "profit:[* TO *]", id="has-value"),
    pytest.param(
        Range("timestamp", gt=day(1), lte=day(2) + timedelta(microseconds=1)),
        "timestamp:{2024-01-01T00:00:00Z TO 2024-01-02T00:00:00.000001Z]",
        id="times",
    ),
    pytest.param(
        And((Match("pair", "a"), Or((Match("side", "long"), Not(profit(gt=0.0)))))),
        "pair:a AND (side:long OR NOT profit:>0.0)",
        id="nested",
    ),
    pytest.param(
        Not(And((Match("pair", "a"), Match("side", "long")))),
        "NOT (pair:a AND side:long)",
        id="not-group",
    ),
]


@pytest.mark.parametrize(("node", "text"), RENDERED)
def test_rendered_queries_parse_back_to_the_same_filter(node: Node | None, text: str) -> None:
    assert to_lucene(node) == text
    assert parse(text).where == node


def test_empty_alternatives_render_as_a_query_that_matches_nothing() -> None:
    where = parse(to_lucene(MatchAny("pair", ()))).where
    assert not evaluate(where, {"pair": ""})
    assert not evaluate(where, {"pair": "x"})
    assert not evaluate(where, {})


def test_no_filter_translates_to_none() -> None:
    assert to_edge_filter(None) is None
    assert to_qdrant_filter(None) is None


def test_qdrant_filter_shape() -> None:
    node = and_(eq("pair", "a"), not_(any_of("side", ["long"])), between("timestamp", lt=day(1)))
    assert to_qdrant_filter(node) == qm.Filter(
        must=[
            qm.FieldCondition(key="pair", match=qm.MatchValue(value="a")),
            qm.FieldCondition(key="timestamp", range=qm.DatetimeRange(lt=day(1))),
        ],
        must_not=[qm.FieldCondition(key="side", match=qm.MatchAny(any=["long"]))],
    )
    assert to_qdrant_filter(eq("pair", "a")) == qm.Filter(
        must=[qm.FieldCondition(key="pair", match=qm.MatchValue(value="a"))]
    )
    assert to_qdrant_filter(or_(between("profit", gt=1), not_(eq("pair", "a")))) == qm.Filter(
        should=[
            qm.FieldCondition(key="metrics.profit", range=qm.Range(gt=1.0)),
            qm.Filter(must_not=[qm.FieldCondition(key="pair", match=qm.MatchValue(value="a"))]),
        ]
    )


def test_edge_filter_carries_the_same_conditions() -> None:
    edge = to_edge_filter(and_(eq("pair", "a"), not_(between("timestamp", lt=day(1)))))
    assert isinstance(edge, qe.Filter)
    assert len(edge.must or []) == 1
    assert len(edge.must_not or []) == 1
    assert edge.must_not is not None
    condition = edge.must_not[0]
    assert isinstance(condition, qe.FieldCondition)
    assert condition.key == "timestamp"
