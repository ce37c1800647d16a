"""The documentation stays true: commands it quotes exist, rota fields it names exist.

* Every ``callrouter …`` command quoted in ``docs/*.md`` and ``README.md`` (code blocks and
  inline code) names real subcommands and real options of the CLI.
* The Vietnamese rota guide names only fields of the rota model, mentions every one of them,
  and each of its YAML examples is valid: whole rotas as they stand, fragments once put in
  place of the same sections of ``config/rota.example.yaml``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from pydantic import BaseModel

from callrouter.cli import cli
from callrouter.rota import parse_rota
from callrouter.rota.model import Rota

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted((REPO / "docs").glob("*.md"))
GUIDE = REPO / "docs" / "huong-dan-lich-truc.md"
EXAMPLE_ROTA = REPO / "config" / "rota.example.yaml"

FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
# a shell command starting with callrouter: at the start of a line (after an optional "$ "
# prompt), after a pipe or "&&", or as a path ending in /bin/callrouter
COMMAND = re.compile(r"(?:^\s*(?:\$\s+)?|[|&]\s*|/bin/)callrouter((?:\s+[^|&#\s]+)+)")


def _commands(text: str) -> list[str]:
    found: list[str] = []
    for block in FENCE.findall(text):
        for line in block.splitlines():
            found += [m.group(1).strip() for m in COMMAND.finditer(line)]
    prose = FENCE.sub("", text)
    for span in INLINE.findall(prose):
        match = COMMAND.match(span)
        if match:
            found.append(match.group(1).strip())
    return found


def _check_command(args: str) -> None:
    # "[--json]" in a usage line is the option --json
    tokens = [t.strip("[]") for t in shlex.split(args)]
    tokens = [t for t in tokens if t]
    command: click.Command = cli
    path = ["callrouter"]
    while isinstance(command, click.Group) and tokens and not tokens[0].startswith("-"):
        name = tokens.pop(0)
        sub = command.get_command(click.Context(command), name)  # lazy groups load here
        assert sub is not None, f"`{' '.join(path)} {name}`: no such command"
        command, path = sub, [*path, name]
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    options |= {"-h", "--help"}
    if command is cli:
        options.add("--version")
    for token in tokens:
        if token.startswith("-") and len(token) > 1:
            option = token.split("=", 1)[0]
            assert option in options, f"`{' '.join(path)}` has no option {option}"


def _quoted_commands() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path in [*DOCS, REPO / "README.md"]:
        out += [(path.name, c) for c in _commands(path.read_text(encoding="utf-8"))]
    return out


def test_docs_quote_callrouter_commands_at_all() -> None:
    """The extraction works (the docs quote many commands), so the next test means something."""
    quoted = {c.split()[0] for _, c in _quoted_commands()}
    assert {"rota", "db", "report", "serve", "web"} <= quoted


@pytest.mark.parametrize(("doc", "command"), _quoted_commands())
def test_every_quoted_command_exists_with_its_options(doc: str, command: str) -> None:
    _check_command(command)


def test_a_made_up_command_or_option_is_caught() -> None:
    with pytest.raises(AssertionError, match="no such command"):
        _check_command("rota frobnicate")
    with pytest.raises(AssertionError, match="no option --colour"):
        _check_command("rota who --colour red")


# ------------------------------------------------------------------------- the rota guide


def _model_fields(model: type[BaseModel], seen: set[str]) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for sub in _nested_models(info.annotation):
            if sub.__name__ not in seen:
                seen.add(sub.__name__)
                names |= _model_fields(sub, seen)
    return names


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _nested_models(arg)]


ALL_FIELDS = _model_fields(Rota, set())
ROTA_FIELDS = ALL_FIELDS - {"version"}  # computed; the guide says not to write it
# values the guide quotes in inline code beside field names
VALUES = {
    "_",
    "lan",
    "own",
    "holiday",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
    "true",
    "closed",
    "normal",
    "shifts",
    "message",
    "sequential",
    "simultaneous",
    "rotate",
    "landline",
    "mobile",
}


def _yaml_keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        keys = {str(k) for k in node}
        for value in node.values():
            keys |= _yaml_keys(value)
        return keys
    if isinstance(node, list):
        return {k for item in node for k in _yaml_keys(item)}
    return set()


def _guide_yaml_blocks() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    return re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M)


def test_every_key_in_the_guides_examples_is_a_rota_field() -> None:
    keys: set[str] = set()
    for block in _guide_yaml_blocks():
        keys |= _yaml_keys(yaml.safe_load(block))
    assert keys, "no YAML examples found"
    assert keys - ROTA_FIELDS == set()


def test_every_field_named_inline_in_the_guide_is_a_rota_field() -> None:
    prose = FENCE.sub("", GUIDE.read_text(encoding="utf-8"))
    named = {s for s in INLINE.findall(prose) if re.fullmatch(r"[a-z_]+", s)}
    assert named - ALL_FIELDS - VALUES == set()


def test_the_guide_shows_every_rota_field() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    shown = {f for f in ROTA_FIELDS if f"`{f}`" in text or f"{f}:" in text}
    assert ROTA_FIELDS - shown == set()


def _sections(text: str) -> dict[str, str]:
    """Top-level sections of a rota file, by key, each with its lines."""
    sections: dict[str, str] = {}
    key = "#"
    for line in text.splitlines(keepends=True):
        match = re.match(r"([a-z_]+):", line)
        if match:
            key = match.group(1)
        sections[key] = sections.get(key, "") + line
    return sections


@pytest.mark.parametrize("index", range(len(_guide_yaml_blocks())))
def test_every_yaml_example_of_the_guide_is_a_valid_rota_or_section(index: int) -> None:
    block = _guide_yaml_blocks()[index]
    if "numbers:" in block and "officers:" in block:
        text = block
    else:
        sections = _sections(EXAMPLE_ROTA.read_text(encoding="utf-8"))
        sections.update({k: v for k, v in _sections(block).items() if k != "#"})
        text = "".join(sections.values())
    parse_rota(text, f"{GUIDE.name} example {index + 1}")
