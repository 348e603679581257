"""The docs: code examples run, links resolve, the reference matches the code, the site builds.

Convention for fenced ```python blocks in README.md, docs/*.md and bench/README.md: each is
compiled; a block right after the line `<!-- docs-test: run -->` is a complete program and runs
in a subprocess, in an empty folder, with the hashing embedder (`MEM0_EMBEDDER=hashing`) and no
other MEM0_* / QDRANT_* variables; `<!-- docs-test: skip -->` exempts a block that is not meant
to be Python as written. ```json blocks parse (a `"key": value` fragment is read inside `{}`).
Links are checked without a network: relative paths must exist and their anchors must be
headings of the target page; external links are only collected and checked for form.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from urllib.parse import urlparse

import pytest
from markdown.extensions.toc import slugify  # type: ignore[import-untyped]

from freqtrade_mem0 import errors
from freqtrade_mem0.config import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
PAGES = sorted([REPO / "README.md", REPO / "bench" / "README.md", *DOCS.glob("*.md")])
LINKED_PAGES = sorted([REPO / "README.md", *DOCS.glob("*.md")])
MARKER = re.compile(r"^<!-- docs-test: (run|skip) -->$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Block:
    """A fenced code block of a markdown file."""

    path: Path
    line: int
    language: str
    code: str
    mode: str  # "run", "skip" or "compile"

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks(path: Path, text: str | None = None) -> list[Block]:
    """Every fenced block of a file (or of `text`, the file as rendered), with its language and
    test mode."""
    found = []
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence, language = opening.groups()
        previous = next((ln.strip() for ln in reversed(lines[:index]) if ln.strip()), "")
        marker = MARKER.match(previous)
        body = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][len(indent) :] if lines[index].startswith(indent) else "")
            index += 1
        start = index - len(body)
        mode = marker.group(1) if marker else "compile"
        found.append(Block(path, start, language.lower(), "\n".join(body) + "\n", mode))
        index += 1
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]
PYTHON = [b for b in ALL_BLOCKS if b.language in ("python", "py") and b.mode != "skip"]
RUNNABLE = [b for b in PYTHON if b.mode == "run"]


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_examples_compile(block: Block) -> None:
    compile(block.code, block.id, "exec")


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_runnable_examples_run(block: Block, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEM0_", "QDRANT_"))}
    env.update(MEM0_EMBEDDER="hashing", MEM0_TELEMETRY="False", HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-c", block.code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{block.id} failed:\n{done.stdout}\n{done.stderr}"


def test_there_are_runnable_examples() -> None:
    assert len(RUNNABLE) >= 3


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_json_examples_parse(page: Path) -> None:
    for block in blocks(page, expand_page(page)):  # generated examples included
        if block.language != "json":
            continue
        try:
            json.loads(block.code)
        except json.JSONDecodeError:
            json.loads("{" + block.code + "}")  # a fragment such as `"mem0": {...}`


# -- the generated reference ----------------------------------------------------------------


@cache
def gen_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config", DOCS / "gen_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expand_page(path: Path) -> str:
    """A page as mkdocs renders it: the generated sections filled in."""
    text = path.read_text(encoding="utf-8")
    return str(gen_config().expand(text)) if path.parent == DOCS else text


def leaf_fields(model: type, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    out: list[tuple[tuple[str, ...], object]] = []
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        sub = gen_config().nested_model(field.annotation)
        out += leaf_fields(sub, (*path, name)) if sub else [((*path, name), field)]
    return out


def documented_models() -> list[tuple[type, str]]:
    """The settings models configuration.md renders, with their variable prefixes."""
    raw = (DOCS / "configuration.md").read_text(encoding="utf-8")
    found = []
    for match in gen_config().MARKER.finditer(raw):
        kind, target, name, prefix = match.groups()
        if kind == "reference":
            found.append((gen_config().load(target, name), prefix or "MEM0_"))
    return found


def test_configuration_reference_lists_every_setting_and_variable() -> None:
    models = documented_models()
    assert Settings in [model for model, _ in models]
    page = expand_page(DOCS / "configuration.md")
    assert "<!-- settings-" not in page
    for model, prefix in models:
        for path, field in leaf_fields(model):
            key = ".".join(path)
            env = gen_config().env_name(field, list(path), prefix)
            assert f"| `{key}` |" in page, key
            assert f"`{env}`" in page, env


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("recall", "k"), "7", 7),
        (("outbox", "batch_size"), "9", 9),
        (("embedder",), "hashing", "hashing"),
        (("qdrant_url",), "http://qdrant:6333", "http://qdrant:6333"),
        (("write_modes",), '["live"]', ["live"]),
    ],
)
def test_documented_variables_set_their_fields(
    path: tuple[str, ...], value: str, expected: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = dict(leaf_fields(Settings))
    monkeypatch.setenv(gen_config().env_name(fields[path], list(path), "MEM0_"), value)
    found: object = load_settings({})
    for part in path:
        found = getattr(found, part)
    assert found == expected


def test_query_fields_table_is_generated() -> None:
    page = expand_page(DOCS / "query-language.md")
    assert "<!-- query-fields -->" not in page
    assert "`exit_reason`" in page and "`win_rate`" in page


# -- troubleshooting --------------------------------------------------------------------------


def test_every_exception_has_a_troubleshooting_section() -> None:
    page = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    headings = {m.group(2) for line in page.splitlines() if (m := HEADING.match(line))}
    classes = [
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, Exception)
        and value.__module__ == errors.__name__
    ]
    assert classes
    for name in classes:
        assert name in page, f"{name} is not mentioned in docs/troubleshooting.md"
        if name not in ("Mem0Error", "OperationalError", "TemporaryError"):
            assert name in headings, f"docs/troubleshooting.md has no '## {name}' section"


def message_fragments(node: ast.expr) -> list[str]:
    """The literal parts of a message: a string, an f-string's text, a `+` of them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        ]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return message_fragments(node.left) + message_fragments(node.right)
    return []


def comparable(text: str) -> str:
    """Text with quotes and backticks dropped and whitespace collapsed."""
    return " ".join(re.sub(r"[`'\"]", "", text).split())


def raised_messages() -> list[tuple[str, str]]:
    """(where, longest literal part) of every `raise <package error>("...")` in the package."""
    names = {n for n, v in vars(errors).items() if inspect.isclass(v) and issubclass(v, Exception)}
    found = []
    for path in sorted((REPO / "freqtrade_mem0").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name not in names:
                continue
            # Every argument: most errors take the message first, ResultFileError (path, reason).
            args = [*node.exc.args, *(k.value for k in node.exc.keywords)]
            parts = [comparable(f).strip(" .:;,(") for a in args for f in message_fragments(a)]
            parts = [part for part in parts if len(part) >= 12]
            if parts:  # messages made only of values (str(exc)) say nothing to document
                where = f"{path.relative_to(REPO)}:{node.lineno} {name}"
                found.append((where, max(parts, key=len)))
    return found


def test_every_error_message_is_in_troubleshooting() -> None:
    page = comparable((DOCS / "troubleshooting.md").read_text(encoding="utf-8"))
    messages = raised_messages()
    assert len(messages) > 20
    missing = [f"{where}: {text!r}" for where, text in messages if text not in page]
    assert not missing, "add these messages and their fix to docs/troubleshooting.md:\n" + (
        "\n".join(missing)
    )


# -- links ------------------------------------------------------------------------------------


def without_code(text: str) -> str:
    """The text with fenced blocks and inline code removed (links there are not links)."""
    out, fence = [], ""
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence:
            if line.strip().startswith(fence):
                fence = ""
            out.append("")
            continue
        if opening:
            fence = opening.group(2)
            out.append("")
            continue
        out.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(out)


@cache
def anchors(path: Path) -> frozenset[str]:
    """Heading ids of a page, as the toc extension makes them (duplicates get _1, _2 ...)."""
    seen: dict[str, int] = {}
    out = set()
    for line in without_code_keep_headings(expand_page(path)).splitlines():
        match = HEADING.match(line)
        if not match:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(2)).replace("`", "")
        slug = slugify(text, "-")
        if slug in seen:
            seen[slug] += 1
            slug = f"{slug}_{seen[slug]}"
        else:
            seen[slug] = 0
        out.add(slug)
    return frozenset(out)


def without_code_keep_headings(text: str) -> str:
    """Fenced blocks removed, inline code kept (headings may hold code spans)."""
    out, fence = [], ""
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence:
            fence = "" if line.strip().startswith(fence) else fence
            continue
        if opening:
            fence = opening.group(2)
            continue
        out.append(line)
    return "\n".join(out)


def links(path: Path) -> list[str]:
    return LINK.findall(without_code(expand_page(path)))


def is_external(target: str) -> bool:
    return bool(urlparse(target).scheme)


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_internal_links_resolve(page: Path) -> None:
    for target in links(page):
        if is_external(target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        assert resolved.exists(), f"{page.name}: link to missing {target}"
        if page.parent == DOCS:
            assert resolved.is_relative_to(DOCS), f"{page.name}: {target} leaves docs/"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.name}: no heading #{anchor} in {file_part}"


def test_external_links_are_well_formed() -> None:
    external = sorted({t for page in LINKED_PAGES for t in links(page) if is_external(t)})
    for url in external:
        parts = urlparse(url)
        assert parts.scheme in ("http", "https", "mailto"), url
        assert parts.netloc or parts.scheme == "mailto", url
    print("external links (not fetched):", *external, sep="\n  ")


def test_readme_links_into_the_docs() -> None:
    targets = links(REPO / "README.md")
    assert any(t.startswith("docs/") for t in targets), "README.md has no link into docs/"


# -- the site -------------------------------------------------------------------------------


@pytest.mark.slow
def test_site_builds_without_warnings(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING" not in output, output
    page = (tmp_path / "site" / "configuration" / "index.html").read_text(encoding="utf-8")
    assert "MEM0_RECALL__K" in page
