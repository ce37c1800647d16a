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
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Float,
    Table,
    Text,
    TypeDecorator,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from callrouter.store import records as r
from callrouter.store.missed import DEFAULT_MISDIAL_SECONDS, apply_missed, withdraw_missed
from callrouter.store.models import call_attempts, call_events, call_id_for, callbacks, calls

CALL_START_FIELDS = frozenset(
    {"id", "uniqueid", "branch", "caller", "started_at", "local_day", "local_hour", "mode",
     "rota_version"}
)  # fmt: skip
_IN_CHUNK = 500
_ANSWER_FIELDS = ("answered_at", "answered_officer_id", "answered_officer_name", "answered_number")


@dataclass
class Plan:
    """What one batch of records does to the database."""

    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # linkedid -> patch
    attempts: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    call_ids: dict[str, str] = field(default_factory=dict)  # linkedid -> calls.id
    #: ends written by a late writer (records.LATE_WRITERS_MAY_AMEND), in spool order
    late_ends: list[dict[str, Any]] = field(default_factory=list)

    def referenced_calls(self) -> set[str]:
        """Linkedids this batch needs to exist but does not start itself."""
        needed = {linkedid for linkedid, _ in self.attempts}
        needed.update(e["linkedid"] for e in self.events)
        needed.update(c["linkedid"] for c in self.callbacks if c["linkedid"] is not None)
        needed.update(self.calls)
        needed.update(e["linkedid"] for e in self.late_ends)
        return {lid for lid in needed if "started_at" not in self.calls.get(lid, {})}


def _dt(value: Any) -> datetime | None:
    return r.from_iso(value)


def plan_batch(batch: Iterable[dict[str, Any]]) -> Plan:
    """Fold records (in spool order) into per-row patches."""
    plan = Plan()
    ids = plan.call_ids

    def call_id(linkedid: str) -> str:
        found = ids.get(linkedid)
        if found is None:
            found = ids[linkedid] = call_id_for(linkedid)
        return found

    for rec in batch:
        kind = rec["kind"]
        if kind == r.CALL_STARTED:
            patch = plan.calls.setdefault(rec["linkedid"], {})
            for key, value in {
                "id": call_id(rec["linkedid"]),
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
        elif kind == r.CALL_ENDED and rec.get("late"):
            call_id(rec["linkedid"])
            plan.late_ends.append(
                {
                    "linkedid": rec["linkedid"],
                    "ended_at": _dt(rec["ended_at"]),
                    "outcome": rec["outcome"],
                    "hangup_cause": rec["hangup_cause"],
                }
            )
        elif kind == r.CALL_ENDED:
            patch = plan.calls.setdefault(rec["linkedid"], {})
            patch.update(
                ended_at=_dt(rec["ended_at"]),
                outcome=rec["outcome"],
                hangup_cause=rec["hangup_cause"],
            )
            if rec["outcome"] in r.OUTCOMES_WITHOUT_ANSWER:
                # e.g. the caller hung up as the officer answered, before the bridge: no
                # answerer, no talk time (the answer was recorded before bridging)
                patch.update(dict.fromkeys(_ANSWER_FIELDS))
        elif kind == r.ATTEMPT_STARTED:
            call_id(rec["linkedid"])
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
                    "call_id": call_id(rec["linkedid"]),
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
                    "call_id": call_id(linkedid) if linkedid is not None else None,
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


def _insert(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"database {dialect!r} is not supported")


# The statements of a batch are built once per (dialect, table, columns) and kept: building
# one (and the cache key the compiled-statement cache looks it up by) cost the router more
# CPU than running it (bench/results/ab-statement-cache.txt). A handful of column sets occur.
_KEPT_STATEMENTS = 128


@lru_cache(maxsize=_KEPT_STATEMENTS)
def _bulk_insert(dialect: str, table: Table, columns: frozenset[str]) -> Any:
    """An ``INSERT`` of many rows of the same columns, ready for ``on_conflict_*``, run with
    :func:`_bulk_params`.

    SQLite: one statement executed for many parameter sets. PostgreSQL: one statement
    whose rows come from ``json_to_recordset`` of a single JSON parameter, so the server
    plans and runs one insert for the whole batch (several times faster than a
    row-by-row executemany, and cheaper to encode than one array per column).
    """
    if dialect != "postgresql":
        return _insert(dialect, table)
    names = sorted(columns)
    source = _json_rows(table, names)
    return postgresql.insert(table).from_select(names, select(*(source.c[n] for n in names)))


def _bulk_params(dialect: str, rows: list[dict[str, Any]]) -> Any:
    """The parameters of a :func:`_bulk_insert` (or PostgreSQL :func:`_bulk_update`)."""
    return {"rows": orjson.dumps(rows).decode()} if dialect == "postgresql" else rows


@lru_cache(maxsize=_KEPT_STATEMENTS)
def _insert_new(dialect: str, table: Table, key: str) -> Any:
    """``INSERT … ON CONFLICT (key) DO NOTHING`` (rows that carry their own id)."""
    return _insert(dialect, table).on_conflict_do_nothing(index_elements=[key])


def _json_rows(table: Table, names: list[str]) -> Any:
    """``json_to_recordset(:rows) AS anon(col type, …)``: a batch's rows in one JSON text.

    The JSON is an execution parameter (not a value bound into the statement), so the
    compiled-statement cache never holds on to a batch.
    """
    typed = [column(n, _plain(table.c[n])) for n in names]
    return (
        func.json_to_recordset(cast(bindparam("rows", type_=Text), JSON))
        .table_valued(*typed)
        .render_derived(with_types=True)
    )


def _plain(col: Any) -> Any:
    """The column's storage type (aware datetimes go to PostgreSQL as ISO text)."""
    kind = col.type
    return kind.impl if isinstance(kind, TypeDecorator) else kind


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


_EXISTING_CALLS = select(calls.c.linkedid).where(
    calls.c.linkedid.in_(bindparam("linkedids", expanding=True))
)


def existing_calls(conn: Connection, linkedids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    wanted = sorted(linkedids)
    for chunk in _chunks(wanted):
        result = conn.execute(_EXISTING_CALLS, {"linkedids": list(chunk)})
        found.update(result.scalars())
    return found


def apply_plan(
    conn: Connection, plan: Plan, *, misdial_seconds: float = DEFAULT_MISDIAL_SECONDS
) -> None:
    """Write ``plan`` inside the caller's transaction; calls ended in it go through the
    missed-caller rule (:mod:`callrouter.store.missed`)."""
    dialect = conn.dialect.name
    _apply_calls(conn, plan, dialect)
    late_ended = _apply_late_ends(conn, plan)
    _apply_attempts(conn, plan)
    if plan.events:
        rows = [{k: v for k, v in e.items() if k != "linkedid"} for e in plan.events]
        conn.execute(_insert_new(dialect, call_events, "record_id"), rows)
    if plan.callbacks:
        rows = [{k: v for k, v in c.items() if k != "linkedid"} for c in plan.callbacks]
        conn.execute(_insert_new(dialect, callbacks, "id"), rows)
        withdraw_missed(conn, {c["call_id"]: c["id"] for c in rows if c["call_id"]})
    # the fallback's calls (CDR import) end late: the rule holds for them too
    ended = [linkedid for linkedid, patch in plan.calls.items() if "outcome" in patch]
    ended += late_ended
    if ended:
        messages = {c["call_id"] for c in plan.callbacks if c["call_id"] is not None}
        apply_missed(conn, ended, messages, misdial_seconds, _insert_new(dialect, callbacks, "id"))


def _apply_calls(conn: Connection, plan: Plan, dialect: str) -> None:
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for linkedid, patch in plan.calls.items():
        row = {"linkedid": linkedid, **patch}
        (inserts if "started_at" in patch else updates).append(row)
    for columns, rows in _group(inserts).items():
        conn.execute(_calls_upsert(dialect, columns), _bulk_params(dialect, rows))
    timed: list[str] = []
    for columns, rows in _group(updates).items():
        _bulk_update(conn, calls, ("linkedid",), columns, rows)
        timed.extend(row["linkedid"] for row in rows)
    # Calls started in an earlier batch: wait/talk from the stored timestamps.
    for chunk in _chunks(timed):
        conn.execute(_calls_timing_update(dialect), {"linkedids": list(chunk)})


@lru_cache(maxsize=_KEPT_STATEMENTS)
def _calls_upsert(dialect: str, columns: frozenset[str]) -> Any:
    """Calls started in this batch: the first writer of a start wins, later writers fill in
    what happened next."""
    stmt = _bulk_insert(dialect, calls, columns)
    later = sorted(columns - CALL_START_FIELDS - {"linkedid", "wait_seconds", "talk_seconds"})
    if not later:
        return stmt.on_conflict_do_nothing(index_elements=["linkedid"])
    set_: dict[str, Any] = {c: stmt.excluded[c] for c in later}
    if "wait_seconds" in columns:
        # The row existed (a call started again): time it from the stored start.
        set_.update(_timing_exprs(dialect, stmt.excluded, columns))
    return stmt.on_conflict_do_update(index_elements=["linkedid"], set_=set_)


@lru_cache(maxsize=4)
def _calls_timing_update(dialect: str) -> Any:
    """Wait and talk seconds of the calls ``:linkedids`` from their stored timestamps."""
    wait, talk = _timing_exprs(dialect, None, frozenset()).values()
    return (
        update(calls)
        .where(calls.c.linkedid.in_(bindparam("linkedids", expanding=True)))
        .values(wait_seconds=wait, talk_seconds=talk)
    )


# A late end lands on the call ``:late_linkedid`` only while its outcome is amendable.
_LATE_END_WHERE = and_(
    calls.c.linkedid == bindparam("late_linkedid"),
    or_(calls.c.outcome.is_(None), calls.c.outcome.in_(r.LATE_WRITERS_MAY_AMEND)),
)
_LATE_END_STORED = select(calls.c.started_at, calls.c.answered_at).where(_LATE_END_WHERE)
_LATE_END = update(calls).where(_LATE_END_WHERE)


def _apply_late_ends(conn: Connection, plan: Plan) -> list[str]:
    """A late writer's end (records.LATE_WRITERS_MAY_AMEND) lands only on a call whose outcome
    is still open or ``failed``: a final outcome another door wrote stays as it is. Returns
    the linkedids whose end was written."""
    written: list[str] = []
    for end in plan.late_ends:
        key = {"late_linkedid": end["linkedid"]}
        stored = (conn.execute(_LATE_END_STORED, key)).one_or_none()
        if stored is None:
            continue  # final already (or not there): the late end is not applied
        values: dict[str, Any] = {
            "started_at": stored.started_at,
            "answered_at": stored.answered_at,
            "ended_at": end["ended_at"],
            "outcome": end["outcome"],
            "hangup_cause": end["hangup_cause"],
            "wait_seconds": None,
            "talk_seconds": None,
        }
        if end["outcome"] in r.OUTCOMES_WITHOUT_ANSWER:
            values.update(dict.fromkeys(_ANSWER_FIELDS))
        _timings(values)
        del values["started_at"]
        # no .values(): the SET clause is the parameters' columns (the statement stays one)
        conn.execute(_LATE_END, {**key, **values})
        written.append(end["linkedid"])
    return written


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


def _apply_attempts(conn: Connection, plan: Plan) -> None:
    dialect = conn.dialect.name
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for (linkedid, seq), patch in plan.attempts.items():
        row = {"call_id": plan.call_ids.get(linkedid) or call_id_for(linkedid), "seq": seq, **patch}
        (inserts if "started_at" in patch else updates).append(row)
    for columns, rows in _group(inserts).items():
        conn.execute(_attempts_upsert(dialect, columns), _bulk_params(dialect, rows))
    for columns, rows in _group(updates).items():
        _bulk_update(conn, call_attempts, ("call_id", "seq"), columns, rows)


@lru_cache(maxsize=_KEPT_STATEMENTS)
def _attempts_upsert(dialect: str, columns: frozenset[str]) -> Any:
    stmt = _bulk_insert(dialect, call_attempts, columns)
    return stmt.on_conflict_do_update(
        index_elements=["call_id", "seq"],
        set_={c: stmt.excluded[c] for c in sorted(columns - {"call_id", "seq"})},
    )


def _bulk_update(
    conn: Connection,
    table: Table,
    keys: tuple[str, ...],
    columns: frozenset[str],
    rows: list[dict[str, Any]],
) -> None:
    """``UPDATE`` rows found by ``keys`` (PostgreSQL: one ``UPDATE … FROM`` of JSON rows)."""
    dialect = conn.dialect.name
    stmt = _bulk_update_statement(dialect, table, keys, columns)
    if dialect == "postgresql":
        conn.execute(stmt, _bulk_params(dialect, rows))
    else:
        conn.execute(stmt, [{f"b_{k}": v for k, v in row.items()} for row in rows])


@lru_cache(maxsize=_KEPT_STATEMENTS)
def _bulk_update_statement(
    dialect: str, table: Table, keys: tuple[str, ...], columns: frozenset[str]
) -> Any:
    names = sorted(columns - set(keys))
    if dialect == "postgresql":
        source = _json_rows(table, sorted(columns))
        match = [table.c[k] == source.c[k] for k in keys]
        return update(table).where(*match).values({n: source.c[n] for n in names})
    return (
        update(table)
        .where(*(table.c[k] == bindparam(f"b_{k}") for k in keys))
        .values({n: bindparam(f"b_{n}") for n in names})
    )
