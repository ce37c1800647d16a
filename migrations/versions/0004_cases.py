"""cases: citizens' requests followed to a result, with their history

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

A call carried one ``category`` and a fixed four-value ``resolution`` (a CHECK). Cases hold
what the citizen asked, the answer, the agency it went to, the result and who told the
citizen, each change kept in ``case_history``. Codes are configuration, so the resolution
CHECK goes. Every classified call becomes a case (nothing is lost: the call keeps its two
columns, and the case's first history row records them):

    answered_on_phone   → hỏi đáp, đã trả lời (closed on the call's day)
    forwarded_to_agency → khác, đã chuyển (agency unknown)
    needs_callback      → khác, đang xử lý
    other / none        → khác, đang xử lý

Reference numbers are given per branch and year in the order of the calls; the deadline is
counted in working days on the public-holiday calendar (the rota's own dates are not known
here) with the default deadlines of :mod:`callrouter.cases.config`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RESOLUTION_CHECK = (
    "resolution IN ('answered_on_phone', 'forwarded_to_agency', 'needs_callback', 'other')"
)
_MAPPING = {
    "answered_on_phone": ("hoi_dap", "answered"),
    "forwarded_to_agency": ("khac", "forwarded"),
    "needs_callback": ("khac", "in_progress"),
    "other": ("khac", "in_progress"),
}
_ACCOUNT = "migration 0004"
_BATCH = 1000


def _create_tables() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("branch", sa.SmallInteger(), nullable=False),
        sa.Column("ref_year", sa.SmallInteger(), nullable=False),
        sa.Column("ref_seq", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=36), nullable=True),
        sa.Column("callback_id", sa.String(length=36), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("agency", sa.String(length=64), nullable=True),
        sa.Column("forwarded_on", sa.Date(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("result_on", sa.Date(), nullable=True),
        sa.Column("told_by", sa.String(length=100), nullable=True),
        sa.Column("told_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("notable", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_cases_call_id_calls"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.id"],
            name=op.f("fk_cases_callback_id_callbacks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint(
            "branch", "ref_year", "ref_seq", name=op.f("uq_cases_branch_ref_year_ref_seq")
        ),
    )
    op.create_index(op.f("ix_cases_branch_local_day"), "cases", ["branch", "local_day"])
    op.create_index(op.f("ix_cases_call_id"), "cases", ["call_id"])
    op.create_index(op.f("ix_cases_status_deadline"), "cases", ["status", "deadline"])
    op.create_table(
        "case_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_history_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_history")),
    )
    op.create_index(op.f("ix_case_history_case_id_at"), "case_history", ["case_id", "at"])


def _migrate_classified_calls() -> None:
    # Imported here: only the data step needs the working-day calendar.
    from callrouter.cases.config import DEFAULT_DEADLINES  # noqa: PLC0415
    from callrouter.cases.lifecycle import Kind  # noqa: PLC0415
    from callrouter.cases.workdays import WorkCalendar  # noqa: PLC0415

    bind = op.get_bind()
    meta = sa.MetaData()
    calls = sa.Table("calls", meta, autoload_with=bind)
    cases = sa.Table("cases", meta, autoload_with=bind)
    history = sa.Table("case_history", meta, autoload_with=bind)
    calendar = WorkCalendar()
    now = datetime.now(UTC)
    rows = bind.execute(
        sa.select(
            calls.c.id,
            calls.c.branch,
            calls.c.local_day,
            calls.c.started_at,
            calls.c.category,
            calls.c.resolution,
            calls.c.classified_at,
            calls.c.classified_by,
        )
        .where(sa.or_(calls.c.category.is_not(None), calls.c.resolution.is_not(None)))
        .order_by(calls.c.branch, calls.c.local_day, calls.c.started_at, calls.c.id)
    )
    seqs: dict[tuple[int, int], int] = {}
    case_rows: list[dict[str, object]] = []
    history_rows: list[dict[str, object]] = []

    def flush() -> None:
        if case_rows:
            bind.execute(cases.insert(), case_rows)
            bind.execute(history.insert(), history_rows)
            case_rows.clear()
            history_rows.clear()

    for row in rows:
        kind, status = _MAPPING.get(row.resolution or "other", ("khac", "in_progress"))
        day = row.local_day
        key = (row.branch, day.year)
        seqs[key] = seqs.get(key, 0) + 1
        opened_at = _aware(row.classified_at) or _aware(row.started_at)
        case_id = str(uuid.uuid4())
        case_rows.append(
            {
                "id": case_id,
                "branch": row.branch,
                "ref_year": day.year,
                "ref_seq": seqs[key],
                "call_id": row.id,
                "callback_id": None,
                "opened_at": opened_at,
                "opened_by": row.classified_by or _ACCOUNT,
                "local_day": day,
                "kind": kind,
                "topic": row.category,
                "summary": None,
                "answer": None,
                "status": status,
                "deadline": calendar.add_working_days(day, DEFAULT_DEADLINES[Kind(kind)]),
                "agency": None,
                "forwarded_on": day if status == "forwarded" else None,
                "result": None,
                "result_on": None,
                "told_by": None,
                "told_at": None,
                "closed_on": day if status == "answered" else None,
                "notable": False,
                "version": 1,
                "updated_at": now,
                "updated_by": _ACCOUNT,
            }
        )
        history_rows.append(
            {
                "case_id": case_id,
                "at": now,
                "account": _ACCOUNT,
                "from_status": None,
                "to_status": status,
                "changes": {
                    "category": [None, row.category],
                    "resolution": [None, row.resolution],
                    "classified_by": [None, row.classified_by],
                },
            }
        )
        if len(case_rows) >= _BATCH:
            flush()
    flush()


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _sqlite_calls_sql(edit: Callable[[str], str]) -> None:
    """Change the CHECK in SQLite's stored ``CREATE TABLE calls`` text, in place.

    Batch mode would copy ``calls`` and drop the original, and with ``foreign_keys=ON`` (set
    on every connection, and not changeable inside the migration's transaction) dropping it
    deletes every attempt and event (ON DELETE CASCADE) and unlinks every call-back. Removing
    or adding back a CHECK does not change how rows are stored, which is the case SQLite's
    documentation ("Making Other Kinds Of Table Schema Changes") does with writable_schema.
    """
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'calls'"
    ).scalar_one()
    new = edit(str(sql))
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'calls'"),
        {"sql": new},
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def _without_check(sql: str) -> str:
    new, found = _CHECK_IN_SQL.subn("", sql)
    if found != 1:
        raise RuntimeError("calls: the resolution CHECK was not found where migration 0001 put it")
    return new


def _with_check(sql: str) -> str:
    head, _, tail = sql.rpartition(")")
    return (
        f"{head.rstrip()}, \n\tCONSTRAINT ck_calls_resolution CHECK ({_RESOLUTION_CHECK})\n){tail}"
    )


_CHECK_IN_SQL = re.compile(r",\s*CONSTRAINT ck_calls_resolution CHECK \(resolution IN \([^)]*\)\)")


def upgrade() -> None:
    _create_tables()
    _migrate_classified_calls()
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_calls_sql(_without_check)
    else:
        op.drop_constraint(op.f("ck_calls_resolution"), "calls", type_="check")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_calls_sql(_with_check)
    else:
        op.create_check_constraint(op.f("ck_calls_resolution"), "calls", _RESOLUTION_CHECK)
    op.drop_index(op.f("ix_case_history_case_id_at"), table_name="case_history")
    op.drop_table("case_history")
    op.drop_index(op.f("ix_cases_status_deadline"), table_name="cases")
    op.drop_index(op.f("ix_cases_call_id"), table_name="cases")
    op.drop_index(op.f("ix_cases_branch_local_day"), table_name="cases")
    op.drop_table("cases")
