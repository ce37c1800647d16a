"""``callrouter answers usage --month``: the answers the month's cases used, on both DBs."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.answers.book import AnswerDraft
from callrouter.cli import cli
from callrouter.store.answers import attach, create_answer
from callrouter.store.cases import open_case
from callrouter.store.migrate import upgrade
from tests.integration.test_answers_store import RULES, q

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)


async def test_usage_lists_the_used_answer_and_the_questions_without_one(
    engine: AsyncEngine, store_url: str
) -> None:
    await upgrade(engine)
    draft = AnswerDraft("Lịch tiêm chủng", "tiem_chung", "Ngày 25.", "CV 1/SYT", date(2026, 11, 1))
    answer_id = await create_answer(engine, draft, account="van.thu", now=NOW)
    used = await open_case(engine, RULES, q(), branch=3, by="an", at=NOW)
    await open_case(engine, RULES, q(), branch=3, by="an", at=NOW)
    await attach(engine, used.id, answer_id, account="an", now=NOW)
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["answers", "usage", "--month", "2026-11", "--database-url", store_url],
    )
    assert result.exit_code == 0, result.output
    assert "Lịch tiêm chủng" in result.output
    assert "chưa có câu trả lời thống nhất: 1" in result.output
