"""Sample call-log data for the report: a hand-checked month, and a larger generated one.

The hand-checked set (:func:`edge_month_rows`) covers every outcome, the fallback mode, an
in-progress call, call-backs, cases (one answered on the call, one forwarded and marked
notable), another branch and both period edges (23:59 on
the last day of the month and 00:00 on the first, in the rota's time zone, whose UTC times fall
on the other side of the boundary). Its figures for November 2026, branch 3, are worked out by
hand in the tests. :func:`generated_rows` makes a realistic busier month for the sample
document and the demo.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.cases.workdays import WorkCalendar
from callrouter.store.models import call_attempts, call_id_for, callbacks, calls, cases

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
OFFICERS = {
    "o1": ("Nguyễn Văn An", "0912345678", "Di động trực"),
    "o2": ("Trần Thị Bình", "02433334444", "Máy bàn trung tâm"),
    "o3": ("Lê Hoàng Cường", "0987654321", None),
    "o4": ("Phạm Thu Dung", "0905123456", None),
}


@dataclass
class SampleRows:
    calls: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    refs: dict[tuple[int, int], int] = field(default_factory=dict)


#: (kind, topic, status, agency, notable) of a call's case
CaseSpec = tuple[str, str | None, str, str | None, bool]
_CALENDAR = WorkCalendar()
_DEADLINE_DAYS = {"hoi_dap": 5, "phan_anh": 10, "kien_nghi": 10, "khac": 10}


def _local(y: int, m: int, d: int, hh: int, mm: int, ss: int = 0) -> datetime:  # noqa: PLR0917 (a date and a time)
    return datetime(y, m, d, hh, mm, ss, tzinfo=TZ)


def _call(
    rows: SampleRows,
    key: str,
    at: datetime,
    outcome: str | None,
    *,
    branch: int = 3,
    caller: str | None = None,
    wait: float | None = None,
    talk: float | None = None,
    officer: str | None = None,
    number: str | None = None,
    mode: str = "ari",
    case: CaseSpec | None = None,
    attempts: tuple[tuple[str, str, str], ...] = (),
) -> str:
    """Add one call; ``attempts`` are (officer id, number, result) in ring order."""
    linkedid = f"sample-{key}"
    cid = call_id_for(linkedid)
    start = at.astimezone(UTC)
    answered_at = start + timedelta(seconds=wait) if outcome == "answered" and wait else None
    end = None
    if outcome is not None:
        end = start + timedelta(seconds=(wait or 0) + (talk or 0) + 1)
    rows.calls.append(
        {
            "id": cid,
            "linkedid": linkedid,
            "uniqueid": linkedid,
            "branch": branch,
            "caller": caller,
            "started_at": start,
            "answered_at": answered_at,
            "ended_at": end,
            "local_day": at.date(),
            "local_hour": at.hour,
            "outcome": outcome,
            "answered_officer_id": officer,
            "answered_officer_name": OFFICERS[officer][0] if officer else None,
            "answered_number": number,
            "wait_seconds": wait,
            "talk_seconds": talk,
            "hangup_cause": 16 if outcome else None,
            "mode": mode,
            "rota_version": "sample000000",
        }
    )
    if case is not None:
        _case(rows, cid, branch, at, end or start, case)
    for seq, (oid, num, result) in enumerate(attempts):
        rows.attempts.append(
            {
                "call_id": cid,
                "seq": seq,
                "officer_id": oid,
                "officer_name": OFFICERS[oid][0],
                "number": num,
                "number_label": OFFICERS[oid][2] if OFFICERS[oid][1] == num else None,
                "channel_id": f"{linkedid}-{seq}",
                "started_at": start + timedelta(seconds=seq * 20),
                "answered_at": start + timedelta(seconds=wait or 0)
                if result == "answered"
                else None,
                "ended_at": start + timedelta(seconds=seq * 20 + 15),
                "result": result,
                "cause": 16 if result == "answered" else 17 if result == "busy" else 19,
            }
        )
    return cid


def _case(  # noqa: PLR0917 (one case of one call)
    rows: SampleRows, call_id: str, branch: int, at: datetime, end: datetime, spec: CaseSpec
) -> None:
    kind, topic, status, agency, notable = spec
    day = at.date()
    seq = rows.refs[(branch, day.year)] = rows.refs.get((branch, day.year), 0) + 1
    later = day + timedelta(days=3)
    rows.cases.append(
        {
            "id": call_id_for(f"case-{call_id}"),
            "branch": branch,
            "ref_year": day.year,
            "ref_seq": seq,
            "call_id": call_id,
            "callback_id": None,
            "opened_at": end,
            "opened_by": "o1",
            "local_day": day,
            "kind": kind,
            "topic": topic,
            "summary": f"Nội dung mẫu {seq}",
            "answer": "Đã hướng dẫn" if status == "answered" else None,
            "status": status,
            "deadline": _CALENDAR.add_working_days(day, _DEADLINE_DAYS[kind]),
            "agency": agency,
            "forwarded_on": day if agency else None,
            "result": "Đã giải quyết" if status in ("resolved", "told") else None,
            "result_on": later if status in ("resolved", "told") else None,
            "told_by": "o1" if status == "told" else None,
            "told_at": end + timedelta(days=3) if status == "told" else None,
            "closed_on": day if status == "answered" else later if status == "told" else None,
            "notable": notable,
            "version": 1,
            "updated_at": end,
            "updated_by": "o1",
        }
    )


def _callback(rows: SampleRows, key: str, at: datetime, call_id: str | None, *, done: bool) -> None:
    created = at.astimezone(UTC)
    rows.callbacks.append(
        {
            "id": call_id_for(f"callback-{key}"),
            "call_id": call_id,
            "number": "0911000111",
            "reason": "after_hours_message" if call_id is None else "abandoned",
            "created_at": created,
            "recording": None,
            "done_by": "o1" if done else None,
            "done_at": created + timedelta(hours=1) if done else None,
            "outbound_linkedid": None,
        }
    )


M1, M2 = "0912345678", "02433334444"


def edge_month_rows() -> SampleRows:
    """The hand-checked data set (November 2026, branch 3; see the module docstring)."""
    r = SampleRows()
    a, b, c, d, e, f = (f"09{i}0000001" for i in range(1, 7))
    _call(
        r,
        "c1",
        _local(2026, 10, 31, 23, 59),
        "answered",
        caller=a,
        wait=3.0,
        talk=10.0,
        officer="o1",
        number=M1,
        attempts=(("o1", M1, "answered"),),
    )
    c2 = _call(r, "c2", _local(2026, 11, 1, 0, 0), "after_hours", caller=a)
    _call(
        r,
        "c3",
        _local(2026, 11, 1, 9, 15),
        "answered",
        caller=a,
        wait=5.0,
        talk=120.0,
        officer="o1",
        number=M1,
        case=("hoi_dap", "kham_chua_benh", "answered", None, False),
        attempts=(("o1", M1, "answered"),),
    )
    _call(
        r,
        "c4",
        _local(2026, 11, 2, 10, 5),
        "answered",
        caller=b,
        wait=24.3,
        talk=60.5,
        officer="o2",
        number=M2,
        case=("kien_nghi", "bao_hiem_y_te", "forwarded", "so_y_te", True),
        attempts=(("o1", M1, "no_answer"), ("o2", M2, "answered")),
    )
    c5 = _call(
        r,
        "c5",
        _local(2026, 11, 2, 10, 30),
        "abandoned",
        caller=b,
        wait=4.0,
        attempts=(("o1", M1, "cancelled"),),
    )
    _call(
        r,
        "c6",
        _local(2026, 11, 15, 14, 0),
        "abandoned",
        caller=c,
        wait=30.0,
        attempts=(("o2", M2, "busy"), ("o1", M1, "cancelled")),
    )
    _call(
        r,
        "c7",
        _local(2026, 11, 20, 8, 0),
        "unanswered",
        caller=a,
        wait=90.0,
        attempts=(("o1", M1, "no_answer"), ("o2", M2, "declined"), ("o1", M1, "failed")),
    )
    _call(r, "c8", _local(2026, 11, 20, 8, 30), "failed", caller=None)
    _call(
        r,
        "c9",
        _local(2026, 11, 25, 16, 0),
        "answered",
        caller=d,
        wait=12.0,
        talk=30.0,
        officer="o1",
        number=M1,
        mode="fallback",
    )
    _call(
        r,
        "c10",
        _local(2026, 11, 30, 23, 59, 59),
        "answered",
        caller=e,
        wait=20.0,
        talk=200.0,
        officer="o1",
        number=M1,
        # The second attempt starts at 00:00:19 on 1 December: still November's call.
        attempts=(("o2", M2, "no_answer"), ("o1", M1, "answered")),
    )
    _call(
        r,
        "c11",
        _local(2026, 12, 1, 0, 0),
        "answered",
        caller=e,
        wait=1.0,
        talk=5.0,
        officer="o1",
        number=M1,
        attempts=(("o1", M1, "answered"),),
    )
    c12 = _call(
        r,
        "c12",
        _local(2026, 11, 10, 10, 0),
        "answered",
        branch=4,
        caller=a,
        wait=2.0,
        talk=9.0,
        officer="o1",
        number=M1,
        attempts=(("o1", M1, "answered"),),
    )
    _call(r, "c13", _local(2026, 11, 28, 12, 0), None, caller=f)
    _callback(r, "cb1", _local(2026, 11, 1, 0, 0), c2, done=False)
    _callback(r, "cb2", _local(2026, 11, 2, 10, 31), c5, done=True)
    _callback(r, "cb3", _local(2026, 10, 31, 23, 59), None, done=False)
    _callback(r, "cb4", _local(2026, 11, 30, 23, 59, 59), None, done=False)
    _callback(r, "cb5", _local(2026, 11, 10, 10, 5), c12, done=False)
    return r


def generated_rows(
    month_start: date, days: int, *, seed: int = 1022, per_day: int = 40
) -> SampleRows:
    """A plausible busy month: more calls in office hours, every outcome, most conversations
    with a case (hỏi đáp answered at once; the others forwarded, resolved or told)."""
    rng = random.Random(seed)  # noqa: S311 (sample data, not security)
    r = SampleRows()
    cats = ["kham_chua_benh", "bao_hiem_y_te", "tiem_chung", "dich_benh", "duoc_pham", "khac"]
    kinds = ["hoi_dap"] * 6 + ["phan_anh"] * 2 + ["kien_nghi", "khac"]
    statuses = ["in_progress", "forwarded", "resolved", "told"]
    agencies = ["so_y_te", "bhxh", "ubnd_xa"]
    callers = [f"09{rng.randrange(10**8):08d}" for _ in range(per_day * days // 2)]
    hours_w = [1, 1, 1, 1, 1, 2, 4, 10, 14, 12, 11, 9, 5, 8, 11, 12, 9, 6, 4, 3, 2, 2, 1, 1]
    n = 0
    for day in range(days):
        date_ = month_start + timedelta(days=day)
        weekend = date_.weekday() >= 5
        for _ in range(rng.randint(per_day // 2, per_day) // (2 if weekend else 1)):
            n += 1
            hour = rng.choices(range(24), weights=hours_w)[0]
            at = datetime(
                date_.year,
                date_.month,
                date_.day,
                hour,
                rng.randrange(60),
                rng.randrange(60),
                tzinfo=TZ,
            )
            caller = rng.choice(callers)
            if hour < 7 or hour >= 17 or weekend:
                _call(r, f"g{n}", at, "after_hours", caller=caller)
                continue
            order = rng.sample(list(OFFICERS), 2)
            nums = [OFFICERS[o][1] for o in order]
            roll = rng.random()
            if roll < 0.78:
                wait = round(rng.gammavariate(2.0, 6.0), 1)
                first_ok = rng.random() < 0.8
                atts = (
                    ((order[0], nums[0], "answered"),)
                    if first_ok
                    else (
                        (order[0], nums[0], rng.choice(["busy", "no_answer"])),
                        (order[1], nums[1], "answered"),
                    )
                )
                who = order[0] if first_ok else order[1]
                case: CaseSpec | None = None
                if rng.random() < 0.85:
                    kind = rng.choice(kinds)
                    status = "answered" if kind == "hoi_dap" else rng.choice(statuses)
                    agency = rng.choice(agencies) if status != "answered" else None
                    notable = kind != "hoi_dap" and rng.random() < 0.02
                    case = (kind, rng.choice(cats), status, agency, notable)
                _call(
                    r,
                    f"g{n}",
                    at,
                    "answered",
                    caller=caller,
                    wait=wait,
                    talk=round(rng.gammavariate(2.0, 70.0), 1),
                    officer=who,
                    number=OFFICERS[who][1],
                    attempts=atts,
                    mode="fallback" if rng.random() < 0.03 else "ari",
                    case=case,
                )
            elif roll < 0.92:
                _call(
                    r,
                    f"g{n}",
                    at,
                    "abandoned",
                    caller=caller,
                    wait=round(rng.uniform(1, 60), 1),
                    attempts=((order[0], nums[0], "cancelled"),),
                )
            elif roll < 0.98:
                _call(
                    r,
                    f"g{n}",
                    at,
                    "unanswered",
                    caller=caller,
                    wait=60.0,
                    attempts=((order[0], nums[0], "no_answer"), (order[1], nums[1], "busy")),
                )
            else:
                _call(r, f"g{n}", at, "failed", caller=caller)
    for i, row in enumerate(r.calls):
        if row["outcome"] in ("abandoned", "after_hours") and i % 3 == 0:
            _callback(
                r, f"gcb{i}", row["started_at"] + timedelta(minutes=1), row["id"], done=i % 2 == 0
            )
    return r


def answered_call_row(
    linkedid: str, caller: str, started: datetime, **values: Any
) -> dict[str, Any]:
    """One ``calls`` row: ``caller``'s call answered by the example rota's ``lan`` at the
    landline after 5 s, 60 s of talk; ``values`` override columns (e.g. ``outcome=None``
    for a call still up, ``branch=5``)."""
    local = started.astimezone(TZ)
    row: dict[str, Any] = {
        "id": call_id_for(linkedid),
        "linkedid": linkedid,
        "uniqueid": linkedid,
        "branch": 3,
        "caller": caller,
        "started_at": started,
        "local_day": local.date(),
        "local_hour": local.hour,
        "outcome": "answered",
        "answered_at": started + timedelta(seconds=5),
        "ended_at": started + timedelta(seconds=65),
        "answered_officer_id": "lan",
        "answered_officer_name": "Nguyễn Thị Lan",
        "answered_number": "0226 3851 234",
        "wait_seconds": 5.0,
        "talk_seconds": 60.0,
        "mode": "ari",
    }
    row.update(values)
    return row


async def insert_rows(engine: AsyncEngine, rows: SampleRows) -> None:
    async with engine.begin() as conn:
        for table, data in (
            (calls, rows.calls),
            (call_attempts, rows.attempts),
            (callbacks, rows.callbacks),
            (cases, rows.cases),
        ):
            if data:
                await conn.execute(sa.insert(table), data)
