"""Request parameters the routers share: filters of field terms, ages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException

from freqtrade_mem0.errors import QuerySyntaxError
from freqtrade_mem0.query import Node, parse

_AGE = re.compile(r"(\d{1,6})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def field_filter(query: str) -> Node | None:
    """The filter of a query that must not hold free text.

    Raises:
        QuerySyntaxError: the query does not parse, or has free text.
    """
    parsed = parse(query)
    if parsed.text:
        position = query.find(parsed.text.split()[0])
        raise QuerySyntaxError(
            f"only field terms are allowed here; free text {parsed.text!r} has no meaning",
            query,
            position if position >= 0 else None,
        )
    return parsed.where


def parse_age(value: str, now: datetime | None = None) -> datetime:
    """The cutoff an `older_than` value names: `30d`, `12h`, `90m`, `2w`, `3600s`, or a date
    or time (ISO 8601, UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    text = value.strip()
    try:
        if match := _AGE.fullmatch(text):
            return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
        cutoff = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise HTTPException(
            400, f"older_than={value!r}: use an age such as 30d, 12h, 2w, or an ISO date"
        ) from None
    return cutoff.replace(tzinfo=UTC) if cutoff.tzinfo is None else cutoff.astimezone(UTC)
