"""The answer book in the database: answers, every version, the full-text index, the usage.

Writes keep ``answers`` (the current version), ``answer_versions`` (every version, with its
account and time) and ``answers_fts`` (migration 0008) in one transaction. Search uses the
database's own full-text engine on text folded by :mod:`callrouter.answers.fold`: FTS5 with
``bm25`` on SQLite, a ``tsvector`` with ``ts_rank`` on PostgreSQL; the title weighs more
than the source, the source more than the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Float, Integer, column, exists, func, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callrouter.answers.book import AnswerDraft
from callrouter.answers.fold import fold, highlight, terms
from callrouter.errors import CallrouterError
from callrouter.store.cases import attach_answers, format_ref
from callrouter.store.models import answer_versions, answers, case_answers, cases

MAX_RESULTS = 50
BODY_AROUND = 160  # characters of a body shown either side of its first match


class AnswerConflict(CallrouterError):
    """The answer changed (or is gone) since the clerk opened it."""


@dataclass(frozen=True)
class StoredAnswer:
    id: int
    version: int
    draft: AnswerDraft
    retired_at: datetime | None
    updated_at: datetime
    updated_by: str

    def expired(self, today: date) -> bool:
        return self.draft.valid_until is not None and self.draft.valid_until < today


@dataclass(frozen=True)
class Hit:
    """A search result: the answer and its title and body cut into highlighted pieces."""

    answer: StoredAnswer
    title: list[tuple[str, bool]]
    body: list[tuple[str, bool]]


@dataclass(frozen=True)
class Usage:
    answer_id: int
    title: str
    source: str
    cases: int


@dataclass(frozen=True)
class Question:
    """A question (case of kind hỏi đáp) with no agreed answer attached."""

    ref: str
    topic: str | None
    summary: str | None


@dataclass(frozen=True)
class AnswerUsage:
    """The answers the period's cases used, most used first, and the questions left without
    one: how many, and the first few of them."""

    used: list[Usage]
    unanswered: int
    questions: list[Question]


def _draft(row: RowMapping) -> AnswerDraft:
    return AnswerDraft(
        title=row["title"],
        topic=row["topic"],
        body=row["body"],
        source=row["source"],
        agreed_on=row["agreed_on"],
        valid_until=row["valid_until"],
    )


def _stored(row: RowMapping) -> StoredAnswer:
    return StoredAnswer(
        id=row["id"],
        version=row["version"],
        draft=_draft(row),
        retired_at=row["retired_at"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def _fields(draft: AnswerDraft) -> dict[str, object]:
    return {
        "title": draft.title,
        "topic": draft.topic,
        "body": draft.body,
        "source": draft.source,
        "agreed_on": draft.agreed_on,
        "valid_until": draft.valid_until,
    }


async def _index(conn: AsyncConnection, answer_id: int, draft: AnswerDraft) -> None:
    folded = {
        "id": answer_id,
        "t": fold(draft.title),
        "b": fold(draft.body),
        "s": fold(draft.source),
    }
    if conn.dialect.name == "sqlite":
        await conn.execute(text("DELETE FROM answers_fts WHERE rowid = :id"), {"id": answer_id})
        await conn.execute(
            text("INSERT INTO answers_fts (rowid, title, body, source) VALUES (:id, :t, :b, :s)"),
            folded,
        )
    else:
        await conn.execute(
            text(
                "INSERT INTO answers_fts (answer_id, document) VALUES (:id, "
                "setweight(to_tsvector('simple', :t), 'A') || "
                "setweight(to_tsvector('simple', :s), 'B') || "
                "setweight(to_tsvector('simple', :b), 'C')) "
                "ON CONFLICT (answer_id) DO UPDATE SET document = EXCLUDED.document"
            ),
            folded,
        )


async def _unindex(conn: AsyncConnection, answer_id: int) -> None:
    key = "rowid" if conn.dialect.name == "sqlite" else "answer_id"
    await conn.execute(text(f"DELETE FROM answers_fts WHERE {key} = :id"), {"id": answer_id})  # noqa: S608 - a fixed name


async def _add_version(
    conn: AsyncConnection,
    answer_id: int,
    version: int,
    draft: AnswerDraft,
    *,
    retired: bool,
    account: str,
    now: datetime,
) -> None:
    await conn.execute(
        answer_versions.insert().values(
            answer_id=answer_id,
            version=version,
            retired=retired,
            saved_at=now,
            saved_by=account,
            **_fields(draft),
        )
    )


async def create_answer(
    engine: AsyncEngine, draft: AnswerDraft, *, account: str, now: datetime
) -> int:
    """Save a new answer (version 1); its id. ``draft`` is checked by the caller."""
    async with engine.begin() as conn:
        answer_id = await insert_answer(conn, draft, account=account, now=now)
    return answer_id


async def insert_answer(
    conn: AsyncConnection, draft: AnswerDraft, *, account: str, now: datetime
) -> int:
    result = await conn.execute(
        answers.insert()
        .values(version=1, updated_at=now, updated_by=account, **_fields(draft))
        .returning(answers.c.id)
    )
    answer_id = int(result.scalar_one())
    await _add_version(conn, answer_id, 1, draft, retired=False, account=account, now=now)
    await _index(conn, answer_id, draft)
    return answer_id


async def _bump(
    conn: AsyncConnection, answer_id: int, expected_version: int, values: dict[str, object]
) -> int:
    result = await conn.execute(
        update(answers)
        .where(answers.c.id == answer_id, answers.c.version == expected_version)
        .values(version=expected_version + 1, **values)
    )
    if result.rowcount != 1:
        raise AnswerConflict(
            f"câu trả lời {answer_id} đã được người khác sửa hoặc không còn; mở lại để sửa"
        )
    return expected_version + 1


async def _new_version(
    conn: AsyncConnection,
    answer_id: int,
    expected_version: int,
    changes: dict[str, object],
    *,
    account: str,
    now: datetime,
) -> StoredAnswer:
    """The answer's next version with ``changes``, kept in ``answer_versions`` too."""
    version = await _bump(
        conn, answer_id, expected_version, {"updated_at": now, "updated_by": account, **changes}
    )
    row = (await conn.execute(select(answers).where(answers.c.id == answer_id))).mappings().one()
    saved = _stored(row)
    retired = saved.retired_at is not None
    await _add_version(
        conn, answer_id, version, saved.draft, retired=retired, account=account, now=now
    )
    return saved


async def edit_answer(
    db: AsyncEngine | AsyncConnection,
    answer_id: int,
    draft: AnswerDraft,
    *,
    expected_version: int,
    account: str,
    now: datetime,
) -> int:
    """Save a new version; the old one stays in ``answer_versions``. The new version number.
    Given an engine, in a transaction of its own; given a connection, inside the caller's
    (the Markdown import's one)."""
    if isinstance(db, AsyncEngine):
        async with db.begin() as conn:
            return await edit_answer(
                conn, answer_id, draft, expected_version=expected_version, account=account, now=now
            )
    saved = await _new_version(
        db, answer_id, expected_version, _fields(draft), account=account, now=now
    )
    if saved.retired_at is None:
        await _index(db, answer_id, draft)
    return saved.version


async def retire_answer(
    engine: AsyncEngine, answer_id: int, *, expected_version: int, account: str, now: datetime
) -> int:
    """Take an answer out of search (kept, with the cases that used it); the new version."""
    async with engine.begin() as conn:
        saved = await _new_version(
            conn, answer_id, expected_version, {"retired_at": now}, account=account, now=now
        )
        await _unindex(conn, answer_id)
    return saved.version


async def get_answer(engine: AsyncEngine, answer_id: int) -> StoredAnswer | None:
    async with engine.connect() as conn:
        return await answer_on(conn, answer_id)


async def answer_on(conn: AsyncConnection, answer_id: int) -> StoredAnswer | None:
    row = (
        (await conn.execute(select(answers).where(answers.c.id == answer_id)))
        .mappings()
        .one_or_none()
    )
    return None if row is None else _stored(row)


async def list_answers(engine: AsyncEngine, *, with_retired: bool = False) -> list[StoredAnswer]:
    query = select(answers).order_by(answers.c.topic, answers.c.title, answers.c.id)
    if not with_retired:
        query = query.where(answers.c.retired_at.is_(None))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [_stored(r) for r in rows]


async def versions(
    engine: AsyncEngine, answer_id: int
) -> list[tuple[int, AnswerDraft, bool, datetime, str]]:
    """Every version of an answer, newest first: (version, fields, retired, saved at, by)."""
    async with engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    select(answer_versions)
                    .where(answer_versions.c.answer_id == answer_id)
                    .order_by(answer_versions.c.version.desc())
                )
            )
            .mappings()
            .all()
        )
    return [
        (
            r["version"],
            _draft(r),
            r["retired"],
            r["saved_at"],
            r["saved_by"],
        )
        for r in rows
    ]


async def search(engine: AsyncEngine, query: str, *, limit: int = 20) -> list[Hit]:
    """Answers in use matching every word of ``query`` (as word prefixes), best first."""
    words = terms(query)
    if not words:
        return []
    limit = max(1, min(limit, MAX_RESULTS))
    async with engine.connect() as conn:
        # Retired answers are not in the index: the best ``limit`` matches are the result.
        if conn.dialect.name == "sqlite":
            # bm25 is lower for better matches; weights: title, body, source.
            ranked = text(
                "SELECT rowid AS id, -bm25(answers_fts, 10.0, 1.0, 3.0) AS score "
                "FROM answers_fts WHERE answers_fts MATCH :q ORDER BY 2 DESC LIMIT :n"
            ).bindparams(q=" ".join(f'"{w}"*' for w in words), n=limit)
        else:
            ranked = text(
                "SELECT answer_id AS id, ts_rank(document, query) AS score "
                "FROM answers_fts, to_tsquery('simple', :q) AS query "
                "WHERE document @@ query ORDER BY 2 DESC LIMIT :n"
            ).bindparams(q=" & ".join(f"{w}:*" for w in words), n=limit)
        sub = ranked.columns(column("id", Integer), column("score", Float)).subquery("ranked")
        rows = (
            (
                await conn.execute(
                    select(answers)
                    .join(sub, sub.c.id == answers.c.id)
                    .order_by(sub.c.score.desc(), answers.c.id)
                )
            )
            .mappings()
            .all()
        )
    return [
        Hit(
            answer=(stored := _stored(r)),
            title=highlight(stored.draft.title, words),
            body=highlight(stored.draft.body, words, around=BODY_AROUND),
        )
        for r in rows
    ]


async def attach(
    engine: AsyncEngine, case_id: str, answer_id: int, *, account: str, now: datetime
) -> bool:
    """Record that a case used an answer; False when it was already attached."""
    async with engine.begin() as conn:
        return await attach_answers(conn, case_id, [answer_id], by=account, at=now) == 1


async def answers_of_case(engine: AsyncEngine, case_id: str) -> list[StoredAnswer]:
    async with engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    select(answers)
                    .join(case_answers, case_answers.c.answer_id == answers.c.id)
                    .where(case_answers.c.case_id == case_id)
                    .order_by(case_answers.c.attached_at, answers.c.id)
                )
            )
            .mappings()
            .all()
        )
    return [_stored(r) for r in rows]


async def usage(
    engine: AsyncEngine, first_day: date, last_day: date, *, branch: int | None = None
) -> tuple[list[Usage], int]:
    """Answers used by the cases opened from ``first_day`` to ``last_day`` (most used first),
    and how many questions (cases of kind hỏi đáp) of those days had no agreed answer."""
    async with engine.connect() as conn:
        found = await usage_on(conn, first_day, last_day, branch=branch)
    return found.used, found.unanswered


async def usage_on(
    conn: AsyncConnection,
    first_day: date,
    last_day: date,
    *,
    branch: int | None = None,
    list_unanswered: int = 0,
) -> AnswerUsage:
    """:func:`usage` on an open connection (the monthly report reads it in its snapshot),
    with the first ``list_unanswered`` questions that had no agreed answer, oldest first."""
    in_days = [cases.c.local_day >= first_day, cases.c.local_day <= last_day]
    if branch is not None:
        in_days.append(cases.c.branch == branch)
    n = func.count(case_answers.c.case_id)
    used = (
        await conn.execute(
            select(answers.c.id, answers.c.title, answers.c.source, n)
            .join(case_answers, case_answers.c.answer_id == answers.c.id)
            .join(cases, cases.c.id == case_answers.c.case_id)
            .where(*in_days)
            .group_by(answers.c.id, answers.c.title, answers.c.source)
            .order_by(n.desc(), answers.c.id)
        )
    ).all()
    unanswered = [
        *in_days,
        cases.c.kind == "hoi_dap",
        ~exists().where(case_answers.c.case_id == cases.c.id),
    ]
    without = (
        await conn.execute(select(func.count()).select_from(cases).where(*unanswered))
    ).scalar_one()
    listed: list[Question] = []
    if list_unanswered > 0 and without:
        rows = await conn.execute(
            select(cases.c.ref_seq, cases.c.ref_year, cases.c.topic, cases.c.summary)
            .where(*unanswered)
            .order_by(cases.c.local_day, cases.c.ref_year, cases.c.ref_seq)
            .limit(list_unanswered)
        )
        listed = [
            Question(ref=format_ref(r.ref_seq, r.ref_year), topic=r.topic, summary=r.summary)
            for r in rows
        ]
    return AnswerUsage(
        used=[Usage(int(i), str(t), str(s), int(c)) for i, t, s, c in used],
        unanswered=int(without),
        questions=listed,
    )
