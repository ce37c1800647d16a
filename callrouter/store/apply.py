"""Applying a batch of spool records to the database, idempotently, in few statements.

A batch is first folded in memory (:func:`plan_batch`): all records of one call become
one row patch, all records of one attempt another. Then each table gets a handful of
``executemany`` statements, grouped by the set of columns they touch:

* a patch that starts a call/attempt is an upsert (``INSERT … ON CONFLICT DO UPDATE``,
  or ``DO NOTHING`` when it only starts it): the first writer of a call's start wins,
  later writers only fill in what happened next;
* a patch for a call/attempt started in an earlier batch is an ``UPDATE``;
* events and call-backs carry their own id and are ``INSERT … ON CONFLICT DO NOTHING``.

Replaying any prefix of the spool any number of times, in order, gives the same rows.
Both SQLite and PostgreSQL go through the same code; only the upsert construct and the
"seconds between two timestamps" expression are chosen per dialect.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, Table, bindparam, case, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from callrouter.store import records as r
from callrouter.store.models import call_attempts, call_events, call_id_for, callbacks, calls

CALL_START_FIELDS = frozenset(
    {"id", "uniqueid", "branch", "caller", "started_at", "local_day", "local_hour", "mode",
     "rota_version"}
)  # fmt: skip
ATTEMPT_START_FIELDS = frozenset(
    {"officer_id", "officer_name", "number", "number_label", "channel_id", "started_at"}
)
_IN_CHUNK = 500


@dataclass
class Plan:
    """What one batch of records does to the database."""

    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # linkedid -> patch
    attempts: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    def referenced_calls(self) -> set[str]:
        """Linkedids this batch needs to exist but does not start itself."""
        needed = {linkedid for linkedid, _ in self.attempts}
        needed.update(e["linkedid"] for e in self.events)
        needed.update(c["linkedid"] for c in self.callbacks if c["linkedid"] is not None)
        needed.update(self.calls)
        return {lid for lid in needed if "started_at" not in self.calls.get(lid, {})}


def _dt(value: Any) -> datetime | None:
    return r.from_iso(value)


def plan_batch(batch: Iterable[dict[str, Any]]) -> Plan:
    """Fold records (in spool order) into per-row patches."""
    plan = Plan()
    for rec in batch:
        kind = rec["kind"]
        if kind == r.CALL_STARTED:
            patch = plan.calls.setdefault(rec["linkedid"], {})
            for key, value in {
                "id": call_id_for(rec["linkedid"]),
                "uniqueid": rec["uniqueid"],
                "branch": rec["branch"],
                "caller": rec["caller"],
                "started_at": _dt(rec["started_at"]),
                "local_day": date.fromisoformat(rec["local_day"]),
                "local_hour": rec["local_hour"],
                "mode": rec["mode"],
                "rota_version": rec["rota_version"],
            }.items():
                patch.setdefault(key, value)  # the first start of a call wins
        elif kind == r.CALL_ANSWERED:
            plan.calls.setdefault(rec["linkedid"], {}).update(
                answered_at=_dt(rec["answered_at"]),
                answered_officer_id=rec["officer_id"],
                answered_officer_name=rec["officer_name"],
                answered_number=rec["number"],
            )
        elif kind == r.CALL_ENDED:
            plan.calls.setdefault(rec["linkedid"], {}).update(
                ended_at=_dt(rec["ended_at"]),
                outcome=rec["outcome"],
                hangup_cause=rec["hangup_cause"],
            )
        elif kind == r.ATTEMPT_STARTED:
            plan.attempts.setdefault((rec["linkedid"], rec["seq"]), {}).update(
                officer_id=rec["officer_id"],
                officer_name=rec["officer_name"],
                number=rec["number"],
                number_label=rec["number_label"],
                channel_id=rec["channel_id"],
                started_at=_dt(rec["started_at"]),
            )
        elif kind == r.ATTEMPT_ENDED:
            attempt = plan.attempts.setdefault((rec["linkedid"], rec["seq"]), {})
            attempt.update(result=rec["result"], cause=rec["cause"], ended_at=_dt(rec["ended_at"]))
            if rec.get("answered_at") is not None:
                attempt["answered_at"] = _dt(rec["answered_at"])
        elif kind == r.EVENT:
            plan.events.append(
                {
                    "call_id": call_id_for(rec["linkedid"]),
                    "linkedid": rec["linkedid"],
                    "at": _dt(rec["at"]),
                    "type": rec["type"],
                    "data": rec["data"],
                    "record_id": rec["id"],
                }
            )
        elif kind == r.CALLBACK:
            linkedid = rec["linkedid"]
            plan.callbacks.append(
                {
                    "id": rec["callback_id"],
                    "linkedid": linkedid,
                    "call_id": call_id_for(linkedid) if linkedid is not None else None,
                    "number": rec["number"],
                    "reason": rec["reason"],
                    "created_at": _dt(rec["created_at"]),
                    "recording": rec["recording"],
                }
            )
        else:
            raise ValueError(f"unknown record kind {kind!r}")
    for patch in plan.calls.values():
        _timings(patch)
    return plan


def _timings(patch: dict[str, Any]) -> None:
    """Wait and talk seconds, when the patch has what they need."""
    started = patch.get("started_at")
    if started is None:
        return
    answered = patch.get("answered_at")
    ended = patch.get("ended_at")
    if answered is not None:
        patch["wait_seconds"] = (answered - started).total_seconds()
        if ended is not None:
            patch["talk_seconds"] = (ended - answered).total_seconds()
    elif ended is not None:
        patch["wait_seconds"] = (ended - started).total_seconds()


def _insert(conn: AsyncConnection, table: Table) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"database {dialect!r} is not supported")


def seconds_between(
    dialect: str, start: ColumnElement[Any], end: ColumnElement[Any]
) -> ColumnElement[Any]:
    """``end - start`` in seconds (float) on either database."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _group(rows: Iterable[dict[str, Any]]) -> dict[frozenset[str], list[dict[str, Any]]]:
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[frozenset(row)].append(row)
    return groups


def _chunks(items: Sequence[str], size: int = _IN_CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def existing_calls(conn: AsyncConnection, linkedids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    wanted = sorted(linkedids)
    for chunk in _chunks(wanted):
        result = await conn.execute(select(calls.c.linkedid).where(calls.c.linkedid.in_(chunk)))
        found.update(result.scalars())
    return found


async def apply_plan(conn: AsyncConnection, plan: Plan) -> None:
    """Write ``plan`` inside the caller's transaction."""
    dialect = conn.dialect.name
    await _apply_calls(conn, plan, dialect)
    await _apply_attempts(conn, plan)
    if plan.events:
        rows = [{k: v for k, v in e.items() if k != "linkedid"} for e in plan.events]
        stmt = _insert(conn, call_events).on_conflict_do_nothing(index_elements=["record_id"])
        await conn.execute(stmt, rows)
    if plan.callbacks:
        rows = [{k: v for k, v in c.items() if k != "linkedid"} for c in plan.callbacks]
        stmt = _insert(conn, callbacks).on_conflict_do_nothing(index_elements=["id"])
        await conn.execute(stmt, rows)


async def _apply_calls(conn: AsyncConnection, plan: Plan, dialect: str) -> None:
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for linkedid, patch in plan.calls.items():
        row = {"linkedid": linkedid, **patch}
        (inserts if "started_at" in patch else updates).append(row)
    for columns, rows in _group(inserts).items():
        stmt = _insert(conn, calls)
        later = sorted(columns - CALL_START_FIELDS - {"linkedid", "wait_seconds", "talk_seconds"})
        if later:
            set_: dict[str, Any] = {c: stmt.excluded[c] for c in later}
            if "wait_seconds" in columns:
                # The row existed (a call started again): time it from the stored start.
                set_.update(_timing_exprs(dialect, stmt.excluded, columns))
            stmt = stmt.on_conflict_do_update(index_elements=["linkedid"], set_=set_)
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=["linkedid"])
        await conn.execute(stmt, rows)
    timed: list[str] = []
    for columns, rows in _group(updates).items():
        names = sorted(columns - {"linkedid"})
        stmt = (
            update(calls)
            .where(calls.c.linkedid == bindparam("b_linkedid"))
            .values({c: bindparam(f"b_{c}") for c in names})
        )
        await conn.execute(stmt, [{f"b_{k}": v for k, v in row.items()} for row in rows])
        timed.extend(row["linkedid"] for row in rows)
    # Calls started in an earlier batch: wait/talk from the stored timestamps.
    wait, talk = _timing_exprs(dialect, None, frozenset()).values()
    for chunk in _chunks(timed):
        await conn.execute(
            update(calls)
            .where(calls.c.linkedid.in_(chunk))
            .values(wait_seconds=wait, talk_seconds=talk)
        )


def _timing_exprs(dialect: str, excluded: Any, columns: frozenset[str]) -> dict[str, Any]:
    """SQL for wait and talk seconds from the stored start and the (new or stored) times."""
    c = calls.c
    answered = excluded.answered_at if "answered_at" in columns else c.answered_at
    ended = excluded.ended_at if "ended_at" in columns else c.ended_at
    wait = case(
        (answered.is_not(None), seconds_between(dialect, c.started_at, answered)),
        (ended.is_not(None), seconds_between(dialect, c.started_at, ended)),
        else_=None,
    )
    talk = case(
        (answered.is_not(None) & ended.is_not(None), seconds_between(dialect, answered, ended)),
        else_=None,
    )
    return {"wait_seconds": wait, "talk_seconds": talk}


async def _apply_attempts(conn: AsyncConnection, plan: Plan) -> None:
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for (linkedid, seq), patch in plan.attempts.items():
        row = {"call_id": call_id_for(linkedid), "seq": seq, **patch}
        (inserts if "started_at" in patch else updates).append(row)
    for columns, rows in _group(inserts).items():
        stmt = _insert(conn, call_attempts)
        stmt = stmt.on_conflict_do_update(
            index_elements=["call_id", "seq"],
            set_={c: stmt.excluded[c] for c in sorted(columns - {"call_id", "seq"})},
        )
        await conn.execute(stmt, rows)
    for columns, rows in _group(updates).items():
        names = sorted(columns - {"call_id", "seq"})
        t = call_attempts.c
        stmt = (
            update(call_attempts)
            .where((t.call_id == bindparam("b_call_id")) & (t.seq == bindparam("b_seq")))
            .values({c: bindparam(f"b_{c}") for c in names})
        )
        await conn.execute(stmt, [{f"b_{k}": v for k, v in row.items()} for row in rows])
