"""An answer as a clerk writes it, checked before it is saved (web form or Markdown file)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from callrouter.errors import ConfigError

MAX_TITLE = 300
MAX_SOURCE = 300
MAX_BODY = 20_000
MAX_PER_CASE = 10  # agreed answers one case may carry from the recording form
# Control characters other than tab and line breaks: PostgreSQL refuses NUL in text, and
# none of them is meant to be in an answer (a file saved by a broken editor).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class AnswerDraft:
    """The fields of one version of an answer."""

    title: str
    topic: str
    body: str
    source: str
    agreed_on: date
    valid_until: date | None = None


def check_draft(draft: AnswerDraft, topics: Mapping[str, str]) -> list[tuple[str, str]]:
    """(field, Vietnamese message) for each problem of ``draft``; empty when it may be saved."""
    problems: list[tuple[str, str]] = []
    for field, value, limit in (
        ("title", draft.title, MAX_TITLE),
        ("source", draft.source, MAX_SOURCE),
        ("body", draft.body, MAX_BODY),
    ):
        if not value.strip():
            problems.append((field, "không được để trống"))
        elif len(value) > limit:
            problems.append((field, f"dài {len(value)} ký tự, tối đa {limit}"))
        elif (bad := _CONTROL.search(value)) is not None:
            problems.append(
                (field, f"có ký tự điều khiển U+{ord(bad.group()):04X} ở vị trí {bad.start() + 1}")
            )
    if draft.topic not in topics:
        choices = ", ".join(f"{code} ({label})" for code, label in topics.items())
        problems.append(("topic", f"lĩnh vực {draft.topic!r} không có trong danh sách: {choices}"))
    if draft.valid_until is not None and draft.valid_until < draft.agreed_on:
        problems.append(
            (
                "valid_until",
                f"hiệu lực đến {draft.valid_until:%d/%m/%Y} trước ngày thống nhất "
                f"{draft.agreed_on:%d/%m/%Y}",
            )
        )
    return problems


def require_valid(
    draft: AnswerDraft, topics: Mapping[str, str], where: str = "câu trả lời"
) -> None:
    """Raise :class:`ConfigError` naming every problem of ``draft``."""
    problems = check_draft(draft, topics)
    if problems:
        raise ConfigError("; ".join(f"{where}: {field}: {msg}" for field, msg in problems))
