"""The answer book as Markdown files with front matter: import (validated) and export.

One file per answer::

    ---
    id: 12                      # absent for a new answer
    version: 3                  # optional: the version the file was exported from
    title: Lịch tiêm chủng mở rộng
    topic: tiem_chung           # a code of the topics list
    source: Công văn số 123/SYT-NVY ngày 01/11/2026
    agreed_on: 2026-11-01
    valid_until: 2026-12-31     # optional
    ---
    The answer's text (Markdown).

The front matter is validated like the rota (``file:line:column: field: message``, every
problem of every file at once); files must be UTF-8. Nothing is written unless every file
is right: a bad file never replaces the running book. The import then writes in one
database transaction: a file whose answer changed since it was exported (its ``version``),
or any failure half-way, rolls every file back.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.answers.book import MAX_BODY, MAX_SOURCE, MAX_TITLE, AnswerDraft, check_draft
from callrouter.answers.fold import fold
from callrouter.errors import AnswerFileError
from callrouter.rota.loader import parse_config_model, read_config_file
from callrouter.store.answers import (
    AnswerConflict,
    StoredAnswer,
    answer_on,
    edit_answer,
    insert_answer,
)

MAX_FILES = 5000
_FENCE = "---"


class FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int | None = Field(default=None, ge=1)
    version: int | None = Field(default=None, ge=1)
    title: Annotated[str, Field(min_length=1, max_length=MAX_TITLE)]
    topic: str
    source: Annotated[str, Field(min_length=1, max_length=MAX_SOURCE)]
    agreed_on: date
    valid_until: date | None = None


@dataclass(frozen=True)
class AnswerFile:
    path: Path
    answer_id: int | None
    draft: AnswerDraft
    version: int | None = None


def parse_answer_file(path: Path, topics: Mapping[str, str]) -> AnswerFile:
    """One file, or :class:`AnswerFileError` with every problem (file:line:column)."""
    text, _ = read_config_file(path, AnswerFileError)
    source = str(path)
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if not lines or lines[0].strip() != _FENCE:
        raise AnswerFileError(source, [f"{source}:1:1: tệp phải bắt đầu bằng dòng '---'"])
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == _FENCE)
    except StopIteration:
        raise AnswerFileError(
            source, [f"{source}:1:1: thiếu dòng '---' đóng phần khai báo đầu tệp"]
        ) from None
    # A blank first line keeps the YAML's line numbers the file's.
    front_text = "\n" + "\n".join(lines[1:end])
    body = "\n".join(lines[end + 1 :]).strip()

    def check(data: Any) -> list[tuple[tuple[str | int, ...], str]]:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if not isinstance(data, dict):
            return problems
        topic = data.get("topic")
        if isinstance(topic, str) and topic not in topics:
            choices = ", ".join(f"{code} ({label})" for code, label in topics.items())
            problems.append((("topic",), f"lĩnh vực {topic!r} không có trong danh sách: {choices}"))
        try:
            agreed = date.fromisoformat(str(data.get("agreed_on")))
            until = date.fromisoformat(str(data.get("valid_until")))
        except ValueError:
            return problems  # absent or not a date: the model says so
        if until < agreed:
            problems.append(
                (
                    ("valid_until",),
                    f"hiệu lực đến {until:%d/%m/%Y} trước ngày thống nhất {agreed:%d/%m/%Y}",
                )
            )
        return problems

    front = parse_config_model(front_text, source, FrontMatter, AnswerFileError, check)
    draft = AnswerDraft(
        title=front.title,
        topic=front.topic,
        body=body,
        source=front.source,
        agreed_on=front.agreed_on,
        valid_until=front.valid_until,
    )
    body_line = end + 2
    problems = [
        f"{source}:{body_line if field == 'body' else 2}:1: {field}: {message}"
        for field, message in check_draft(draft, topics)
        if field not in {"topic", "valid_until"}  # reported above at their lines
    ]
    if problems:
        raise AnswerFileError(source, problems)
    if front.version is not None and front.id is None:
        raise AnswerFileError(
            source, [f"{source}:2:1: version: chỉ dùng cùng với id (câu trả lời đã có)"]
        )
    return AnswerFile(path=path, answer_id=front.id, draft=draft, version=front.version)


def read_book(directory: Path, topics: Mapping[str, str]) -> list[AnswerFile]:
    """Every ``*.md`` file of ``directory``, or one error listing every problem of every file."""
    paths = sorted(directory.glob("*.md"))
    if not directory.is_dir():
        raise AnswerFileError(str(directory), [f"{directory}: không phải một thư mục"])
    if not paths:
        raise AnswerFileError(str(directory), [f"{directory}: không có tệp .md nào"])
    if len(paths) > MAX_FILES:
        raise AnswerFileError(str(directory), [f"{directory}: quá {MAX_FILES} tệp"])
    problems: list[str] = []
    files: list[AnswerFile] = []
    seen: dict[int, Path] = {}
    for path in paths:
        try:
            item = parse_answer_file(path, topics)
        except AnswerFileError as exc:
            problems.extend(exc.problems)
            continue
        if item.answer_id is not None:
            if item.answer_id in seen:
                problems.append(
                    f"{path}:2:1: id: {item.answer_id} đã dùng trong {seen[item.answer_id].name}"
                )
            seen[item.answer_id] = path
        files.append(item)
    if problems:
        raise AnswerFileError(str(directory), problems)
    return files


async def import_book(
    engine: AsyncEngine,
    directory: Path,
    topics: Mapping[str, str],
    *,
    account: str,
    now: datetime,
) -> tuple[int, int, int]:
    """Check every file, then save them all in one transaction: (created, new versions,
    unchanged). Any problem leaves the book as it was."""
    files = read_book(directory, topics)
    async with engine.begin() as conn:
        current: dict[int, StoredAnswer] = {}
        problems: list[str] = []
        for item in files:
            if item.answer_id is None:
                continue
            stored = await answer_on(conn, item.answer_id)
            if stored is None:
                problems.append(f"{item.path}:2:1: id: không có câu trả lời số {item.answer_id}")
                continue
            current[item.answer_id] = stored
            if (
                item.version is not None
                and item.version != stored.version
                and stored.draft != item.draft
            ):
                problems.append(
                    f"{item.path}:2:1: version: tệp được xuất từ phiên bản {item.version} nhưng "
                    f"câu trả lời số {item.answer_id} đã có phiên bản {stored.version} "
                    f"(do {stored.updated_by} lưu); hãy xuất lại rồi sửa"
                )
        if problems:
            raise AnswerFileError(str(directory), problems)
        created = edited = unchanged = 0
        for item in files:
            if item.answer_id is None:
                await insert_answer(conn, item.draft, account=account, now=now)
                created += 1
                continue
            before = current[item.answer_id]
            if before.draft == item.draft:
                unchanged += 1
                continue
            try:
                await edit_answer(
                    conn,
                    item.answer_id,
                    item.draft,
                    expected_version=before.version,
                    account=account,
                    now=now,
                )
            except AnswerConflict as exc:
                # Someone saved it between the read above and this write: all is rolled back.
                raise AnswerFileError(str(directory), [f"{item.path}:2:1: id: {exc}"]) from None
            edited += 1
    return created, edited, unchanged


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(title)).strip("-")[:60] or "cau-tra-loi"


def _yaml_text(value: str) -> str:
    """A one-line YAML string, quoted (a title may hold ': ' or '#')."""
    flat = " ".join(unicodedata.normalize("NFC", value).split())
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_answer(answer: StoredAnswer) -> str:
    d = answer.draft
    lines = [
        _FENCE,
        f"id: {answer.id}",
        f"version: {answer.version}",
        f"title: {_yaml_text(d.title)}",
        f"topic: {d.topic}",
        f"source: {_yaml_text(d.source)}",
        f"agreed_on: {d.agreed_on.isoformat()}",
    ]
    if d.valid_until is not None:
        lines.append(f"valid_until: {d.valid_until.isoformat()}")
    return "\n".join([*lines, _FENCE, d.body[:MAX_BODY], ""])


def export_book(answers: list[StoredAnswer], directory: Path) -> list[Path]:
    """One UTF-8 file per answer (``0012-lich-tiem-chung.md``); the paths written.

    ``directory`` must hold no ``*.md`` file yet: an older export's file for a renamed
    answer would otherwise sit beside the new one and the next import would refuse both."""
    if directory.exists() and not directory.is_dir():
        raise AnswerFileError(str(directory), [f"{directory}: không phải một thư mục"])
    if directory.is_dir() and any(directory.glob("*.md")):
        raise AnswerFileError(
            str(directory),
            [f"{directory}: thư mục đã có tệp .md; hãy xuất vào một thư mục trống"],
        )
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for answer in answers:
        path = directory / f"{answer.id:04d}-{_slug(answer.draft.title)}.md"
        path.write_text(render_answer(answer), encoding="utf-8")
        written.append(path)
    return written
