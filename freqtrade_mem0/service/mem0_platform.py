"""Mem0's platform API in terms of this package's memories: entities, filters, answers.

mem0ai's `MemoryClient` speaks to a Mem0 platform; the service answers the same calls
(`freqtrade_mem0.service.routes.mem0_platform`). This module does the mapping.

Entities:

- `agent_id` is the strategy (as in the `mem0` store backend);
- `run_id` is the run;
- `user_id` and `app_id` become the tags `user:<id>` and `app:<id>` (indexed, filterable).

Filters (`{"AND": [{"agent_id": "MyStrategy"}, {"profit": {"gt": 0}}]}`) become the query
AST: `AND`/`OR`/`NOT`, and per field a value (equality), `"*"` (any value), or one of `eq, ne,
gt, gte, lt, lte, in, nin, contains`. Fields are the entities above, `created_at`,
`updated_at` (the time the information became known, `timestamp`), this package's own fields
(`pair`, `profit`, ...; `metadata.<field>` names them too). `"*"` is Mem0's wildcard, any value
or none, so it filters nothing. Anything else is refused with a message, never silently
ignored: free-form metadata is not indexed.

Memories are stored verbatim (`infer=False`): this service runs no LLM.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from freqtrade_mem0.errors import InvalidMemoryError, QuerySyntaxError
from freqtrade_mem0.models import (
    MemoryCreate,
    MemoryMetadata,
    MemoryRecord,
    Message,
    format_validation_error,
)
from freqtrade_mem0.query.nodes import (
    Node,
    Not,
    and_,
    any_of,
    between,
    eq,
    field_kind,
    or_,
    resolve_field,
)

USER_TAG = "user:"
APP_TAG = "app:"
HISTORY = "mem0_history"  # a memory's ADD/UPDATE events, kept in its (encrypted) data
_TAGGED = {"user_id": USER_TAG, "app_id": APP_TAG}
_FIELDS = {"agent_id": "strategy", "run_id": "run_id", "updated_at": "timestamp"}
_RANGES = {"gt", "gte", "lt", "lte"}
_OPERATORS = {"eq", "ne", "in", "nin", "contains", *_RANGES}


# -- filters -------------------------------------------------------------------------------------


def to_query(filters: Any) -> Node | None:
    """A Mem0 filter dict as the query AST (None: no filter).

    Raises:
        QuerySyntaxError: an unknown field or operator, or a value of the wrong kind; the
            message names it.
    """
    if filters is None or filters == {}:
        return None
    if not isinstance(filters, dict):
        raise QuerySyntaxError(f"filters must be an object, not {type(filters).__name__}")
    nodes: list[Node | None] = []
    for key, value in filters.items():
        if key in ("AND", "OR"):
            children = [to_query(child) for child in _list_of_filters(key, value)]
            join = and_ if key == "AND" else or_
            nodes.append(join(*children))
        elif key == "NOT":
            inner = and_(*(to_query(child) for child in _list_of_filters(key, value)))
            nodes.append(Not(inner) if inner is not None else None)
        elif key == "metadata" and isinstance(value, dict):
            nodes.extend(_condition(name, condition) for name, condition in value.items())
        else:
            nodes.append(_condition(key, value))
    return and_(*nodes)


def _list_of_filters(key: str, value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list) or not value:
        raise QuerySyntaxError(f"{key} takes a non-empty list of filters")
    return value


def _condition(name: str, condition: Any) -> Node | None:
    if isinstance(condition, dict):
        unknown = set(condition) - _OPERATORS
        if unknown:
            raise QuerySyntaxError(
                f"filter {name}: unknown operator {sorted(unknown)[0]!r}; use one of "
                f"{', '.join(sorted(_OPERATORS))}"
            )
        return and_(*(_operator(name, op, value) for op, value in condition.items()))
    if condition == "*":
        _field(name)  # an unknown field is still an error
        return None  # Mem0's wildcard: any value, or none
    if isinstance(condition, list):
        return _operator(name, "in", condition)
    return _operator(name, "eq", condition)


def _operator(name: str, op: str, value: Any) -> Node | None:
    if op in _RANGES:
        field = _field(name)
        if field_kind(field) == "keyword":
            raise QuerySyntaxError(f"filter {name}: {op} needs a numeric or datetime field")
        try:
            return between(field, **{op: value})
        except (TypeError, ValueError) as exc:
            raise QuerySyntaxError(f"filter {name}: {exc}") from exc
    if op in ("in", "nin"):
        if not isinstance(value, list):
            raise QuerySyntaxError(f"filter {name}: {op} takes a list")
        node = or_(*(_equals(name, item) for item in value)) if value else any_of("strategy", ())
        return Not(node) if op == "nin" and node is not None else node
    if op == "contains":
        if _field(name) != "tags" and name not in _TAGGED:
            raise QuerySyntaxError(
                f"filter {name}: contains works on tags only (no substring search on fields); "
                "use eq or in"
            )
        return _equals(name, value)
    node = _equals(name, value)
    return Not(node) if op == "ne" else node


def _equals(name: str, value: Any) -> Node:
    if name in _TAGGED:
        return eq("tags", _TAGGED[name] + _text(name, value))
    field = _field(name)
    if field_kind(field) == "keyword":
        return eq(field, _text(name, value))
    try:
        return between(field, gte=value, lte=value)
    except (TypeError, ValueError) as exc:
        raise QuerySyntaxError(f"filter {name}: {exc}") from exc


def _field(name: str) -> str:
    if name in _TAGGED:
        return "tags"
    return resolve_field(_FIELDS.get(name, name.removeprefix("metadata.")))


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise QuerySyntaxError(f"filter {name}: expected a string, not {value!r}")
    return str(value)


# -- memories ------------------------------------------------------------------------------------


def entity_filter(params: dict[str, Any]) -> Node | None:
    """The memories of the entities named in `params` (user_id, agent_id, run_id, app_id)."""
    names = ("user_id", "agent_id", "run_id", "app_id")
    return and_(*(_equals(name, params[name]) for name in names if params.get(name)))


def record_from_add(body: dict[str, Any], default_strategy: str | None) -> MemoryRecord:
    """The memory a `MemoryClient.add` call describes.

    Args:
        body: the request (`messages`, `agent_id`, `user_id`, `run_id`, `app_id`, `metadata`,
            `timestamp` in Unix seconds, ...).
        default_strategy: the strategy when neither `agent_id` nor `metadata.strategy` names
            one (a credential limited to one strategy).

    Raises:
        InvalidMemoryError: the messages are missing or malformed, no strategy is named,
            `infer` is asked for, or the metadata does not validate; the message names it.
    """
    if body.get("infer"):
        raise InvalidMemoryError(
            "infer: this service stores messages verbatim and runs no LLM; send infer=False"
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidMemoryError("messages: a non-empty list of {role, content} is required")
    metadata = dict(body.get("metadata") or {})
    strategy = body.get("agent_id") or metadata.pop("strategy", None) or default_strategy
    if not strategy:
        raise InvalidMemoryError(
            "agent_id: name the strategy this memory belongs to (agent_id, or metadata.strategy)"
        )
    tags = list(metadata.pop("tags", []) or [])
    for name, prefix in _TAGGED.items():
        if body.get(name):
            tags.append(prefix + str(body[name]))
    metadata.setdefault("type", "analysis")
    metadata["timestamp"] = _timestamp(body.get("timestamp"), metadata.get("timestamp"))
    metadata["tags"] = tags
    if body.get("run_id"):
        metadata["run_id"] = str(body["run_id"])
    metadata["strategy"] = str(strategy)
    try:
        create = MemoryCreate.model_validate({"messages": messages, "metadata": metadata})
    except ValidationError as exc:
        raise InvalidMemoryError(format_validation_error(exc)) from exc
    return create.to_record()


def _timestamp(unix: Any, given: Any) -> str:
    if unix is not None:
        if isinstance(unix, bool) or not isinstance(unix, int | float):
            raise InvalidMemoryError(f"timestamp: Unix seconds expected, not {unix!r}")
        return datetime.fromtimestamp(unix, UTC).isoformat()
    if given is not None:
        return str(given)
    return datetime.now(UTC).isoformat()


def updated(record: MemoryRecord, body: dict[str, Any]) -> MemoryRecord:
    """The record after a `MemoryClient.update` (text, metadata, timestamp); same id.

    Metadata keys that are this package's fields (`pair`, `metrics`, ...) replace them; others
    join the free-form data. The change is added to the memory's history.

    Raises:
        InvalidMemoryError: nothing to change, or a change that does not validate.
    """
    text, metadata, unix = body.get("text"), body.get("metadata"), body.get("timestamp")
    if text is None and metadata is None and unix is None:
        raise InvalidMemoryError("give text, metadata or timestamp to update")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidMemoryError("metadata: an object is expected")
    fields = record.model_dump()
    fields["data"] = dict(record.data)
    for name, value in (metadata or {}).items():
        if name in ("key", "strategy", HISTORY):
            raise InvalidMemoryError(f"metadata.{name} cannot be changed by an update")
        if name in MemoryMetadata.model_fields:  # as the wire format reads metadata
            fields[name] = value
        else:
            fields["data"][name] = value
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            raise InvalidMemoryError("text: a non-empty string is expected")
        fields["text"] = text
        fields["messages"] = (Message(role="user", content=text),)
    if unix is not None:
        fields["timestamp"] = _timestamp(unix, None)
    now = datetime.now(UTC).isoformat()
    history = list(fields["data"].get(HISTORY, []))
    history.append({"event": "UPDATE", "old": record.text, "new": fields["text"], "at": now})
    fields["data"][HISTORY] = history
    fields["data"]["updated_at"] = now
    try:
        return MemoryRecord.model_validate(fields)
    except ValidationError as exc:
        raise InvalidMemoryError(format_validation_error(exc)) from exc


def as_mem0(record: MemoryRecord, score: float | None = None) -> dict[str, Any]:
    """A memory as Mem0's API answers it."""
    metadata = record.to_public().metadata
    metadata.pop(HISTORY, None)
    updated_at = metadata.pop("updated_at", None) or record.created_at.isoformat()
    answer: dict[str, Any] = {
        "id": record.id,
        "memory": record.text,
        "user_id": _tag(record, USER_TAG),
        "agent_id": record.strategy,
        "app_id": _tag(record, APP_TAG),
        "run_id": record.run_id,
        "metadata": metadata,
        "categories": [t for t in record.tags if not t.startswith((USER_TAG, APP_TAG))],
        "created_at": record.created_at.isoformat(),
        "updated_at": updated_at,
    }
    if score is not None:
        answer["score"] = score
    return answer


def _tag(record: MemoryRecord, prefix: str) -> str | None:
    return next((t.removeprefix(prefix) for t in record.tags if t.startswith(prefix)), None)


def history_of(record: MemoryRecord) -> list[dict[str, Any]]:
    """Mem0's history of a memory: its ADD, then each UPDATE, oldest first."""
    events = [{"event": "ADD", "old": None, "new": None, "at": record.created_at.isoformat()}]
    events.extend(record.data.get(HISTORY, []))
    first_text = events[1]["old"] if len(events) > 1 else record.text
    events[0]["new"] = first_text
    return [
        {
            "id": f"{record.id}-{number}",
            "memory_id": record.id,
            "event": event["event"],
            "old_memory": event["old"],
            "new_memory": event["new"],
            "created_at": event["at"],
            "updated_at": event["at"],
            "user_id": _tag(record, USER_TAG),
            "agent_id": record.strategy,
        }
        for number, event in enumerate(events)
    ]
