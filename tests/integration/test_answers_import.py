"""``callrouter answers import DIR --by`` and ``export DIR`` on SQLite and PostgreSQL: every
file is checked first, then all are written in one transaction; a bad or stale file changes
nothing, an unchanged book makes no version, a file not in UTF-8 is refused by name."""

from __future__ import annotations

import asyncio
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.answers.book import AnswerDraft
from callrouter.cli import cli
from callrouter.store.answers import create_answer, edit_answer, get_answer, versions
from callrouter.store.migrate import upgrade
from callrouter.store.models import answer_versions, answers

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)

NEW = """---
title: Giờ tiêm chủng ở trạm y tế xã
topic: tiem_chung
source: Công văn số 7/SYT ngày 02/11/2026
agreed_on: 2026-11-02
---
Buổi sáng từ 7 giờ 30.
"""


def _draft(title: str, body: str) -> AnswerDraft:
    return AnswerDraft(title, "tiem_chung", body, "Công văn số 1/SYT", date(2026, 11, 1))


async def _book(engine: AsyncEngine) -> tuple[int, int]:
    await upgrade(engine)
    first = await create_answer(
        engine, _draft("Lịch tiêm chủng mở rộng", "Ngày 25 hằng tháng."), account="an", now=NOW
    )
    second = await create_answer(
        engine, _draft("Thẻ bảo hiểm y tế", "Gia hạn tại bưu điện xã."), account="an", now=NOW
    )
    return first, second


async def _cli(*args: str) -> Result:
    # The command runs its own event loop: off this test's loop, in a thread.
    return await asyncio.to_thread(CliRunner().invoke, cli, ["answers", *args])


async def _counts(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        n_answers = (await conn.execute(sa.select(sa.func.count()).select_from(answers))).scalar()
        n_versions = (
            await conn.execute(sa.select(sa.func.count()).select_from(answer_versions))
        ).scalar()
    return int(n_answers or 0), int(n_versions or 0)


def _file_of(directory: Path, answer_id: int) -> Path:
    (path,) = directory.glob(f"{answer_id:04d}-*.md")
    return path


async def test_round_trip_through_the_cli_edits_adds_and_keeps_the_rest(
    engine: AsyncEngine, store_url: str, tmp_path: Path
) -> None:
    first, second = await _book(engine)
    out = tmp_path / "so"
    exported = await _cli("export", str(out), "--database-url", store_url)
    assert exported.exit_code == 0, exported.output
    assert "Đã ghi 2 câu trả lời" in exported.output
    path = _file_of(out, first)
    path.write_text(
        path.read_text(encoding="utf-8").replace("Ngày 25", "Ngày 20"), encoding="utf-8"
    )
    (out / "moi.md").write_text(NEW, encoding="utf-8")
    imported = await _cli("import", str(out), "--by", "van.thu", "--database-url", store_url)
    assert imported.exit_code == 0, imported.output
    assert "1 câu trả lời mới, 1 phiên bản mới, 1 không đổi" in imported.output
    edited = await get_answer(engine, first)
    assert edited is not None
    assert (edited.version, edited.draft.body) == (2, "Ngày 20 hằng tháng.")
    kept = await versions(engine, first)
    assert [(v, d.body, by) for v, d, _, _, by in kept] == [
        (2, "Ngày 20 hằng tháng.", "van.thu"),
        (1, "Ngày 25 hằng tháng.", "an"),
    ]
    assert (await get_answer(engine, second)).version == 1  # type: ignore[union-attr]
    assert await _counts(engine) == (3, 4)
    # A second export needs an empty directory (an older file would sit beside a renamed one).
    again = await _cli("export", str(out), "--database-url", store_url)
    assert again.exit_code != 0
    assert "thư mục đã có tệp .md" in again.output


async def test_export_then_import_of_an_unchanged_book_makes_no_version(
    engine: AsyncEngine, store_url: str, tmp_path: Path
) -> None:
    await _book(engine)
    out = tmp_path / "so"
    assert (await _cli("export", str(out), "--database-url", store_url)).exit_code == 0
    before = await _counts(engine)
    imported = await _cli("import", str(out), "--by", "van.thu", "--database-url", store_url)
    assert imported.exit_code == 0, imported.output
    assert "0 câu trả lời mới, 0 phiên bản mới, 2 không đổi" in imported.output
    assert await _counts(engine) == before == (2, 2)


async def test_one_bad_file_changes_nothing_and_is_named_with_its_line(
    engine: AsyncEngine, store_url: str, tmp_path: Path
) -> None:
    first, _ = await _book(engine)
    out = tmp_path / "so"
    assert (await _cli("export", str(out), "--database-url", store_url)).exit_code == 0
    path = _file_of(out, first)
    path.write_text(path.read_text(encoding="utf-8").replace("Ngày 25", "Ngày 9"), "utf-8")
    (out / "moi.md").write_text(NEW, encoding="utf-8")
    (out / "zz-sai.md").write_text(NEW.replace("topic: tiem_chung", "topic: khong_co"), "utf-8")
    before = await _counts(engine)
    result = await _cli("import", str(out), "--by", "van.thu", "--database-url", store_url)
    assert result.exit_code != 0
    assert f"{out / 'zz-sai.md'}:3:" in result.output
    assert "khong_co" in result.output
    assert await _counts(engine) == before
    assert (await get_answer(engine, first)).draft.body == "Ngày 25 hằng tháng."  # type: ignore[union-attr]


async def test_a_file_exported_before_someone_else_saved_rolls_the_whole_import_back(
    engine: AsyncEngine, store_url: str, tmp_path: Path
) -> None:
    first, _ = await _book(engine)
    out = tmp_path / "so"
    assert (await _cli("export", str(out), "--database-url", store_url)).exit_code == 0
    # Meanwhile a clerk saves version 2 on the web.
    await edit_answer(
        engine,
        first,
        _draft("Lịch tiêm chủng mở rộng", "Ngày 26."),
        expected_version=1,
        account="binh",
        now=NOW,
    )
    path = _file_of(out, first)
    path.write_text(path.read_text(encoding="utf-8").replace("Ngày 25", "Ngày 9"), "utf-8")
    (out / "moi.md").write_text(NEW, encoding="utf-8")
    before = await _counts(engine)
    result = await _cli("import", str(out), "--by", "van.thu", "--database-url", store_url)
    assert result.exit_code != 0
    assert f"{path}:2:1: version: tệp được xuất từ phiên bản 1" in result.output
    assert "do binh lưu" in result.output
    assert await _counts(engine) == before  # the new answer of moi.md is not saved either
    assert (await get_answer(engine, first)).draft.body == "Ngày 26."  # type: ignore[union-attr]


_TONES = "\u0300\u0301\u0303\u0309\u0323"  # the five tone marks, combining in windows-1258


def _code_page(text: str, encoding: str) -> bytes:
    """``text`` as an old Windows editor saved it: windows-1258 keeps the letter and puts the
    tone after it as a combining mark; latin-1 has no Vietnamese letters, so they drop to
    their base letter (and the accents latin-1 has stay)."""
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
            continue
        parts = unicodedata.normalize("NFD", ch)
        if encoding == "windows-1258":
            base = unicodedata.normalize("NFC", "".join(m for m in parts if m not in _TONES))
            out.append(base + "".join(m for m in parts if m in _TONES))
        else:
            out.append(ch if ord(ch) < 256 else parts[0])
    return "".join(out).encode(encoding)


@pytest.mark.parametrize("encoding", ["windows-1258", "latin-1"])
async def test_a_file_not_in_utf8_is_refused_by_name_and_nothing_is_saved(
    engine: AsyncEngine, store_url: str, tmp_path: Path, encoding: str
) -> None:
    await _book(engine)
    out = tmp_path / "so"
    out.mkdir()
    (out / "a-dung.md").write_text(NEW, encoding="utf-8")
    (out / "b-bang-ma-cu.md").write_bytes(_code_page(NEW, encoding))
    result = await _cli("import", str(out), "--by", "van.thu", "--database-url", store_url)
    assert result.exit_code != 0
    assert f"{out / 'b-bang-ma-cu.md'}:2:" in result.output
    assert "không phải UTF-8" in result.output
    assert await _counts(engine) == (2, 2)


async def test_import_needs_an_account_name(store_url: str, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(NEW, encoding="utf-8")
    result = await _cli("import", str(tmp_path), "--by", "", "--database-url", store_url)
    assert result.exit_code == 2
    assert "--by" in result.output
