"""Server time of the officer's screen for a caller with 200 earlier calls (issue #19).

    .venv/bin/python bench/bench_history.py                    # SQLite file and PostgreSQL
    .venv/bin/python bench/bench_history.py --calls 2000 --databases sqlite

Fills a fresh database (a temporary SQLite file; a throw-away schema on PostgreSQL) with
generated months of other callers' calls (callrouter.report.sample) plus ``--calls`` earlier
calls from one number (every tenth with a case), puts a call from that number live and rung
at an officer, and times, in process:

* ``store``: the history queries and the audit entry (``caller_history`` +
  ``record_history_view``), the database part;
* ``history``: ``GET /tiep-nhan/lich-su/{call}`` through the app (ASGI, no socket): guard,
  session, queries, audit row, template: the server time of opening the caller's history;
* ``screen``: ``GET /tiep-nhan`` (the page with the "to finish" list).

Prints the median, 95th percentile and maximum in milliseconds. Target: ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callrouter.calls.live import LiveCalls  # noqa: E402
from callrouter.cases.config import load_cases_config  # noqa: E402
from callrouter.cases.edit import CaseInput, CaseRules  # noqa: E402
from callrouter.cases.workdays import WorkCalendar  # noqa: E402
from callrouter.metrics import Metrics  # noqa: E402
from callrouter.report.sample import answered_call_row, generated_rows, insert_rows  # noqa: E402
from callrouter.rota import load_rota  # noqa: E402
from callrouter.rota.status import RotaTracker  # noqa: E402
from callrouter.store import history as h  # noqa: E402
from callrouter.store.cases import open_case  # noqa: E402
from callrouter.store.db import make_engine  # noqa: E402
from callrouter.store.migrate import upgrade  # noqa: E402
from callrouter.store.models import calls  # noqa: E402
from callrouter.web import WebSettings, create_app  # noqa: E402
from callrouter.web.security import hash_password  # noqa: E402

DEFAULT_PG = os.environ.get(
    "CALLROUTER_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/callrouter_test"
)
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NUMBER = "0912345678"
USER, PASSWORD = "admin", "bench-password-1022"  # a throw-away local credential
NOW = datetime(2026, 11, 28, 9, 30, tzinfo=TZ).astimezone(UTC)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _fill(engine: AsyncEngine, earlier: int, months: int) -> str:
    await upgrade(engine)
    await insert_rows(engine, generated_rows(date(2026, 8, 1), 30 * months, per_day=40))
    mine = [
        answered_call_row(f"bench-{i}", NUMBER, NOW - timedelta(hours=6 * (i + 1)))
        for i in range(earlier)
    ]
    live = answered_call_row(
        "bench-live", NUMBER, NOW, outcome=None, answered_at=None, ended_at=None
    )
    async with engine.begin() as conn:
        await conn.execute(sa.insert(calls), [*mine, live])
    app_rules = _rules()
    for i in range(0, earlier, 10):
        await open_case(
            engine,
            app_rules,
            CaseInput(kind="hoi_dap", topic="tiem_chung", summary=f"Câu hỏi số {i}"),
            branch=3,
            by="lan",
            at=mine[i]["started_at"] + timedelta(minutes=2),
            call_id=mine[i]["id"],
        )
    return str(live["id"])


def _rules() -> CaseRules:
    rota = load_rota(ROOT / "config" / "rota.example.yaml")
    return CaseRules(
        config=load_cases_config(ROOT / "config" / "cases.example.yaml"),
        calendar=WorkCalendar.from_policy(rota.holidays),
    )


async def _time(fn: Callable[[], Awaitable[Any]], rounds: int) -> list[float]:
    await fn()  # warm: first query plans, template compile
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def _measure(engine: AsyncEngine, earlier: int, months: int, rounds: int) -> dict[str, Any]:
    call_id = await _fill(engine, earlier, months)
    live = LiveCalls()
    live.started(linkedid="bench-live", caller=NUMBER, branch=3, started_at=NOW)
    live.updated(linkedid="bench-live", state="ringing", at=NOW, officer_id="lan", number="1")
    tracker = RotaTracker(path=ROOT / "config" / "rota.example.yaml")
    tracker.loaded(load_rota(ROOT / "config" / "rota.example.yaml"), NOW)
    app = create_app(
        WebSettings(
            users={USER: hash_password(PASSWORD)}, session_secret="s" * 40, plain_http=True
        ),
        engine=engine,
        rota=tracker,
        live=live,
        metrics=Metrics(),
        readiness={},
        clock=lambda: NOW,
        case_rules=_rules(),
    )

    async def store() -> None:
        past = await h.caller_history(engine, NUMBER, exclude_call_id=call_id)
        await h.record_history_view(
            engine, call_id, by=USER, at=NOW, shown_calls=len(past.calls), shown_cases=1
        )

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        page = await client.get("/login")
        token = _CSRF.search(page.text)
        assert token is not None
        form = {"username": USER, "password": PASSWORD, "csrf": token.group(1), "next": "/"}
        assert (await client.post("/login", data=form)).status_code == 303

        async def history() -> None:
            response = await client.get(f"/tiep-nhan/lich-su/{call_id}")
            assert response.status_code == 200, response.text
            assert f"Các cuộc gọi trước ({earlier})" in response.text

        async def screen() -> None:
            assert (await client.get("/tiep-nhan")).status_code == 200

        result: dict[str, Any] = {
            "store": await _time(store, rounds),
            "history": await _time(history, rounds),
            "screen": await _time(screen, rounds),
        }
    async with engine.connect() as conn:
        result["calls in table"] = (
            await conn.execute(sa.select(sa.func.count()).select_from(calls))
        ).scalar_one()
    return result


async def _sqlite(earlier: int, months: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp}/history.sqlite3")
        try:
            return await _measure(engine, earlier, months, rounds)
        finally:
            await engine.dispose()


async def _postgresql(url: str, earlier: int, months: int, rounds: int) -> dict[str, Any]:
    schema = f"bench_history_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(url, search_path=schema)
    try:
        return await _measure(engine, earlier, months, rounds)
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="earlier calls of the number")
    parser.add_argument("--months", type=int, default=3, help="months of other callers")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    args = parser.parse_args()
    # One log line per opening (web.history_viewed) would drown the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"caller with {args.calls} earlier calls; {args.rounds} rounds; target <= 50 ms")
    for kind in args.databases.split(","):
        if kind == "sqlite":
            result = asyncio.run(_sqlite(args.calls, args.months, args.rounds))
        else:
            result = asyncio.run(_postgresql(args.pg_url, args.calls, args.months, args.rounds))
        print(f"{kind}: {result.pop('calls in table')} calls in the table")
        for name, times in result.items():
            ordered = sorted(times)
            p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
            print(
                f"  {name:8s} median {statistics.median(times):6.2f} ms  "
                f"p95 {p95:6.2f} ms  max {max(times):6.2f} ms"
            )


if __name__ == "__main__":
    main()
