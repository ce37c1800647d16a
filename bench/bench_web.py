"""Benchmark: admin web page latency over real HTTP, on SQLite and PostgreSQL.

    .venv/bin/python bench/bench_web.py [--months N] [--per-day N] [--requests N] [--pg URL]

Fills a database with N generated months of calls (callrouter.report.sample), runs the app
with uvicorn inside this event loop (the same WebServer ``serve`` uses) on a free port, logs
in, and times each page with httpx over TCP: the dashboard, the call-backs list, a call's
page, the monthly report (figures cached for a minute after the first), one chart, /metrics
and /healthz. Prints milliseconds per request (median, p95, max) per database.
PostgreSQL is skipped when --pg is not given or does not answer. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from callrouter.calls.live import LiveCalls
from callrouter.metrics import Metrics
from callrouter.report.sample import generated_rows, insert_rows
from callrouter.rota import load_rota
from callrouter.rota.status import RotaTracker
from callrouter.store.db import make_engine
from callrouter.store.migrate import upgrade
from callrouter.web import WebServer, WebSettings, create_app
from callrouter.web.security import hash_password

ROOT = Path(__file__).resolve().parents[1]
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PASSWORD = "bench-password-1022"  # noqa: S105 (a throw-away local credential)


async def _pg_url(base: str) -> str | None:
    name = "callrouter_web_bench"
    try:
        admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
    except Exception as exc:  # a benchmark reports and goes on
        print(f"PostgreSQL skipped: {exc}")
        return None
    return make_url(base).set(database=name).render_as_string(hide_password=False)


async def _measure(client: httpx.AsyncClient, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = await client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
    return times


async def bench(url: str, label: str, months: int, per_day: int, requests: int) -> None:
    engine = make_engine(url)
    await upgrade(engine)
    first = date(2026, 12 - months, 1)
    t0 = time.perf_counter()
    rows = generated_rows(first, 30 * months + 20, per_day=per_day)
    await insert_rows(engine, rows)
    total = len(rows.calls)
    fill = time.perf_counter() - t0
    now = datetime(2026, 12, 20, 10, 30, tzinfo=TZ).astimezone(UTC)
    tracker = RotaTracker(path=ROOT / "config" / "rota.example.yaml")
    tracker.loaded(load_rota(tracker.path), now)

    async def ok() -> bool:
        return True

    t0 = time.perf_counter()
    password_hash = hash_password(PASSWORD)
    hash_ms = (time.perf_counter() - t0) * 1000
    app = create_app(
        WebSettings(_env_file=None, users={"admin": password_hash}, plain_http=True),
        engine=engine,
        rota=tracker,
        live=LiveCalls(),
        metrics=Metrics(),
        readiness={"ok": ok},
        clock=lambda: now,
    )
    server = WebServer(app, "127.0.0.1", 0)
    task = asyncio.create_task(server.run())
    await server.wait_started()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            page = await client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token is not None
            t0 = time.perf_counter()
            await client.post(
                "/login",
                data={"username": "admin", "password": PASSWORD, "csrf": token.group(1)},
            )
            login_ms = (time.perf_counter() - t0) * 1000
            dash = await client.get("/")
            call = re.search(r'href="(/calls/[^"]+)"', dash.text)
            assert call is not None
            print(
                f"\n{label}: {total} calls in {months} month(s), filled in {fill:.1f} s; "
                f"password hash {hash_ms:.0f} ms, log-in {login_ms:.0f} ms"
            )
            print(f"  {'page':32} {'median':>8} {'p95':>8} {'max':>8}  (ms, {requests} requests)")
            for path in (
                "/",
                "/callbacks",
                call.group(1),
                "/report?month=2026-11",
                "/report/chart/by_day.png?month=2026-11",
                "/rota",
                "/metrics",
                "/healthz",
            ):
                times = sorted(await _measure(client, path, requests))
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                print(
                    f"  {path[:32]:32} {statistics.median(times):8.1f} {p95:8.1f} {times[-1]:8.1f}"
                )
    finally:
        server.stop()
        await task
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--per-day", type=int, default=200)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--pg", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await bench(
            f"sqlite+aiosqlite:///{tmp}/bench.sqlite3",
            "SQLite",
            args.months,
            args.per_day,
            args.requests,
        )
    pg = await _pg_url(args.pg) if args.pg else None
    if pg is not None:
        await bench(pg, "PostgreSQL", args.months, args.per_day, args.requests)


if __name__ == "__main__":
    asyncio.run(main())
