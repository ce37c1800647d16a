"""An answer as a clerk writes it, checked before it is saved (web form or Markdown file)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from callrouter.errors import ConfigError

MAX_TITLE = 300
MAX_SOURCE = 300
MAX_BODY = 20_000


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
