"""The configuration reference, rendered from the settings models so that it cannot drift.

A mkdocs hook (see `hooks:` in mkdocs.yml): in every page, a line

    <!-- settings-reference: freqtrade_mem0.config:Settings MEM0_ -->

becomes one table per section of that model (key, type, default, environment variable,
description), and

    <!-- settings-example: freqtrade_mem0.config:Settings -->

a JSON `"mem0"` section holding every default. Defaults come from the model, never from the
environment of the build. A line `<!-- query-fields -->` becomes the table of the fields the
query language knows, from the same tables the parser reads. Run `python docs/gen_config.py`
to print the reference.
"""

from __future__ import annotations

import enum
import importlib
import json
import re
import types
from pathlib import PurePath
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

FIELDS_MARKER = re.compile(r"^<!-- query-fields -->$", re.M)
MARKER = re.compile(r"^<!-- settings-(reference|example): ([\w.]+):(\w+)(?: (\w+))? -->$", re.M)


def load(target: str, name: str) -> type[BaseModel]:
    """The model class `module:Name`."""
    model = getattr(importlib.import_module(target), name)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{target}:{name} is not a pydantic model")
    return model


def type_name(annotation: Any) -> str:
    """A type as a reader of a JSON config thinks of it."""
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in get_args(annotation))
    if origin in (Union, types.UnionType):
        parts = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(parts) < len(get_args(annotation))
        text = " or ".join(type_name(a) for a in parts)
        return f"{text} or `null`" if optional else text
    if origin in (list, tuple, set, frozenset):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict or annotation is dict:
        return "object"
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return "one of " + ", ".join(f"`{json.dumps(m.value)}`" for m in annotation)
        if issubclass(annotation, SecretStr):
            return "string (secret)"
        if issubclass(annotation, PurePath):
            return "path"
        if issubclass(annotation, BaseModel):
            return "object"
        return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
            annotation, annotation.__name__
        )
    return str(annotation).replace("typing.", "")


def default_of(field: FieldInfo) -> Any:
    """The field's default as JSON would carry it (`PydanticUndefined` when required)."""
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return value
    if isinstance(value, BaseModel):
        return defaults(type(value))
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, SecretStr):
        return "********"
    if isinstance(value, PurePath):
        return str(value)
    return value


def defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Every default of a model, nested sections included (required fields left out)."""
    out = {}
    for name, field in model.model_fields.items():
        value = default_of(field)
        if value is not PydanticUndefined:
            out[name] = value
    return out


def constraints(field: FieldInfo) -> str:
    """Bounds from the field's metadata: "≥ 1, ≤ 10000"."""
    words = []
    for item in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if isinstance(item, getattr(annotated_types, attr.capitalize())):
                words.append(f"{sign} {getattr(item, attr)}")
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            length = item.min_length
            words.append("not empty" if length == 1 else f"at least {length} characters")
    return ", ".join(words)


def nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def env_name(field: FieldInfo, path: list[str], prefix: str) -> str:
    """The variable that sets a field: its alias (the capitalised one of several), or PREFIX +
    path joined by `__`."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        names = [choice for choice in alias.choices if isinstance(choice, str)]
        if names:
            return next((name for name in names if name.isupper()), names[0].upper())
    return prefix + "__".join(part.upper() for part in path)


def first_line(doc: str | None) -> str:
    """The first line of a docstring ("" without one)."""
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default_text(field: FieldInfo) -> str:
    value = default_of(field)
    if value is PydanticUndefined:
        return "required"
    if nested_model(field.annotation) is not None:
        return "see below"
    if isinstance(field.annotation, type) and issubclass(field.annotation, SecretStr):
        return "none" if value is None else "set"
    if value == "":
        return '`""` (unset)'
    return f"`{json.dumps(value)}`"


def reference(model: type[BaseModel], prefix: str = "MEM0_", heading: int = 3) -> str:
    """One table per section of a model, top level first."""
    sections: list[tuple[list[str], type[BaseModel]]] = [([], model)]
    out: list[str] = []
    while sections:
        path, section = sections.pop(0)
        nested = any(nested_model(f.annotation) for f in model.model_fields.values())
        if path:
            out += [f"{'#' * heading} `{'.'.join(path)}`", "", first_line(section.__doc__), ""]
        elif nested:
            out += [f"{'#' * heading} Top level", ""]
        out += [
            "| key | type | default | environment variable | description |",
            "|---|---|---|---|---|",
        ]
        for name, field in section.model_fields.items():
            key = ".".join([*path, name])
            sub = nested_model(field.annotation)
            if sub is not None:
                sections.append(([*path, name], sub))
            description = field.description or (first_line(sub.__doc__) if sub else "")
            if sub is not None:
                description += f" (section [`{key}`](#{key.replace('.', '')}))"
            description = "; ".join(part for part in (description, constraints(field)) if part)
            env = env_name(field, [*path, name], prefix)
            out.append(
                f"| `{key}` | {_cell(type_name(field.annotation))} | {_cell(_default_text(field))}"
                f" | `{env}` | {_cell(description)} |"
            )
        out.append("")
    return "\n".join(out)


def example(model: type[BaseModel]) -> str:
    """A JSON `"mem0"` section with every default."""
    body = json.dumps(defaults(model), indent=4)
    return f'```json\n{{\n    "mem0": {body.replace(chr(10), chr(10) + "    ")}\n}}\n```\n'


def expand(markdown: str) -> str:
    """Replace every settings marker in a page."""

    def replace(match: re.Match[str]) -> str:
        kind, target, name, prefix = match.groups()
        model = load(target, name)
        if kind == "example":
            return example(model)
        return reference(model, prefix or "MEM0_")

    markdown = MARKER.sub(replace, markdown)
    return FIELDS_MARKER.sub(lambda _: query_fields(), markdown)


def query_fields() -> str:
    """The fields of the query language, by kind."""
    from freqtrade_mem0.models import (
        DATETIME_FIELDS,
        INDEXED_METRICS,
        KEYWORD_FIELDS,
        KNOWN_METRICS,
    )

    def names(items: tuple[str, ...]) -> str:
        return ", ".join(f"`{name}`" for name in items)

    return "\n".join(
        [
            "| kind | fields | values |",
            "|---|---|---|",
            f"| keyword | {names(KEYWORD_FIELDS)} | matched exactly, case-sensitive; a list "
            "(`tags`) matches when any element does |",
            f"| datetime | {names(DATETIME_FIELDS)} | a date (a whole UTC day) or an ISO-8601 "
            "time; without an offset a time is UTC |",
            f"| number | {names(KNOWN_METRICS)} | written bare (`profit:>1`); they live under "
            "`metrics.` |",
            "| number | `metrics.<name>` | any other metric a memory carries "
            "(`metrics.rsi_entry:<30`) |",
            "",
            f"Indexed, so fast on large stores: {names(INDEXED_METRICS)} and every keyword and "
            "datetime field; other metrics filter too, only slower.",
            "",
        ]
    )


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """mkdocs hook: expand the markers of a page."""
    return expand(markdown)


if __name__ == "__main__":
    from freqtrade_mem0.config import Settings

    print(reference(Settings))
    print(example(Settings))
