"""Benchmark of the call-log writer (spool included) into PostgreSQL and SQLite.

    .venv/bin/python bench/bench_store.py                      # 1,000,000 calls, both DBs, outage
    .venv/bin/python bench/bench_store.py --calls 100000 --databases postgresql
    .venv/bin/python bench/bench_store.py --calls 0 --outage-seconds 60   # only the outage

Throughput: N calls, each = call_started, 2 × (attempt_started, attempt_ended),
call_answered, call_ended (7 records), handed to ``CallLog`` as the call flow would, then
``flush()``; calls/s = N / (time from the first record to everything in the database).
Peak RSS is the writer process's own (each run is a separate process).

Outage: calls at a steady 50 calls/s; the PostgreSQL server is stopped for
``--outage-seconds`` and started again; catch-up = time from the server accepting
connections again to every record being in the database. The outage uses a private,
throw-away PostgreSQL instance (initdb in a temporary directory, port 5499) so that
stopping it disturbs nobody else using the machine's server.

Targets (issue #3): ≥ 5000 calls/s into PostgreSQL, RSS ≤ 150 MB, catch-up ≤ 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callrouter.store.writer import CallLog  # noqa: E402

DEFAULT_PG = os.environ.get(
    "CALLROUTER_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/callrouter_bench"
)
BENCH_ROLE = "callrouter_bench_store"
PRIVATE_PORT = 5499


def write_call(log: CallLog, i: int, start: datetime) -> None:
    """One call with two attempts: the first officer does not answer, the second does."""
    linkedid = f"B{i}"
    log.call_started(
        linkedid=linkedid,
        uniqueid=linkedid,
        branch=3,
        caller=f"09{i % 100_000_000:08d}",
        started_at=start,
        mode="ari",
        rota_version="abc123def456",
    )
    log.attempt_started(
        linkedid=linkedid,
        seq=1,
        officer_id="o1",
        officer_name="Nguyễn Văn An",
        number="0911111111",
        number_label="Máy bàn trực",
        channel_id=f"{linkedid}-1",
        started_at=start,
    )
    log.attempt_ended(
        linkedid=linkedid,
        seq=1,
        result="no_answer",
        cause=19,
        ended_at=start + timedelta(seconds=20),
    )
    log.attempt_started(
        linkedid=linkedid,
        seq=2,
        officer_id="o2",
        officer_name="Trần Thị Bình",
        number="0922222222",
        number_label=None,
        channel_id=f"{linkedid}-2",
        started_at=start + timedelta(seconds=20),
    )
    log.attempt_ended(
        linkedid=linkedid,
        seq=2,
        result="answered",
        cause=16,
        ended_at=start + timedelta(seconds=95),
        answered_at=start + timedelta(seconds=25),
    )
    log.call_answered(
        linkedid=linkedid,
        answered_at=start + timedelta(seconds=25),
        officer_id="o2",
        officer_name="Trần Thị Bình",
        number="0922222222",
    )
    log.call_ended(
        linkedid=linkedid,
        ended_at=start + timedelta(seconds=95),
        outcome="answered",
        hangup_cause=16,
    )


class RssSampler:
    """Peak resident memory of this process, sampled every 50 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._proc = psutil.Process()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self._proc.memory_info().rss)
            await asyncio.sleep(0.05)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> int:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.peak = max(self.peak, self._proc.memory_info().rss)
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return max(self.peak, maxrss)


async def _admin(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def fresh_pg(admin_url: str, role: str = BENCH_ROLE) -> str:
    """A URL for an empty schema owned by the bench role in the bench database."""
    await _admin(
        admin_url,
        f"DROP SCHEMA IF EXISTS {role} CASCADE",
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
        f"THEN CREATE ROLE {role} LOGIN; END IF; END $$",
        f"CREATE SCHEMA {role} AUTHORIZATION {role}",
        f"ALTER ROLE {role} SET search_path = {role}",
    )
    return make_url(admin_url).set(username=role).render_as_string(hide_password=False)


async def throughput(url: str, calls: int, workdir: Path, max_pending: int) -> dict[str, Any]:
    spool = workdir / "spool"
    shutil.rmtree(spool, ignore_errors=True)
    sampler = RssSampler()
    sampler.start()
    rss_start = psutil.Process().memory_info().rss
    base = datetime(2026, 3, 1, tzinfo=UTC)
    async with CallLog(url, spool, tz="Asia/Ho_Chi_Minh") as log:
        started = time.perf_counter()
        cpu_started = time.process_time()
        for i in range(calls):
            write_call(log, i, base + timedelta(seconds=i))
            if i % 64 == 63:
                await asyncio.sleep(0)
                # Back-pressure for a producer far faster than any real call flow.
                while log.stats().pending > max_pending:  # noqa: ASYNC110 (a counter)
                    await asyncio.sleep(0.005)
        handed = time.perf_counter()
        await log.flush()
        done = time.perf_counter()
        cpu = time.process_time() - cpu_started
        stats = log.stats()
    peak = await sampler.stop()
    elapsed = done - started
    return {
        "calls": calls,
        "records": stats.handed,
        "seconds": round(elapsed, 2),
        "calls_per_s": round(calls / elapsed) if elapsed else None,
        "records_per_s": round(stats.handed / elapsed) if elapsed else None,
        "hand_over_seconds": round(handed - started, 2),
        "writer_cpu_us_per_call": round(1e6 * cpu / calls) if calls else None,
        "rss_start_mb": round(rss_start / 2**20, 1),
        "rss_peak_mb": round(peak / 2**20, 1),
        "rejected": stats.rejected,
    }


class PrivatePostgres:
    """A throw-away PostgreSQL instance (so an outage disturbs nobody)."""

    def __init__(self, workdir: Path) -> None:
        versions = sorted(
            os.listdir("/usr/lib/postgresql"), key=lambda v: [int(x) for x in v.split(".")]
        )
        self.bin = Path("/usr/lib/postgresql") / versions[-1] / "bin"
        self.data = workdir / "pgdata"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{PRIVATE_PORT}/postgres"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def init(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(parents=True)
        shutil.chown(self.data, "postgres", "postgres")
        os.chmod(self.data.parent, 0o755)  # noqa: S103 (postgres must reach its data dir)
        self._as_postgres(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"
        )

    def start(self) -> None:
        opts = f"-p {PRIVATE_PORT} -k {self.data} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts,
            "-l", str(self.data / "server.log"), "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
        )


async def outage(workdir: Path, seconds: float, rate: float) -> dict[str, Any]:
    pg = PrivatePostgres(workdir)
    await asyncio.to_thread(pg.init)
    await asyncio.to_thread(pg.start)
    try:
        spool = workdir / "outage-spool"
        shutil.rmtree(spool, ignore_errors=True)
        sampler = RssSampler()
        sampler.start()
        produced = 0
        stop = asyncio.Event()
        async with CallLog(pg.url, spool, tz="Asia/Ho_Chi_Minh") as log:

            async def produce() -> None:
                nonlocal produced
                begin = time.perf_counter()
                while not stop.is_set():
                    write_call(log, produced, datetime.now(UTC))
                    produced += 1
                    delay = begin + produced / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)

            producer = asyncio.create_task(produce())
            try:
                await asyncio.sleep(3)
                await asyncio.to_thread(pg.stop)
                down_at = time.perf_counter()
                await asyncio.sleep(seconds)
                backlog_calls = produced
                await asyncio.to_thread(pg.start)
                up_at = time.perf_counter()
                waiting = log.stats().pending
                # Caught up: everything handed before the restart is in the database.
                await log.flush()
                caught_up = time.perf_counter()
            finally:
                stop.set()
                await producer
            await log.flush()
            stats = log.stats()
        peak = await sampler.stop()
        return {
            "outage_seconds": round(up_at - down_at, 1),
            "rate_calls_per_s": rate,
            "records_waiting_at_restart": waiting,
            "calls_handed_by_restart": backlog_calls,
            "catch_up_seconds": round(caught_up - up_at, 2),
            "rss_peak_mb": round(peak / 2**20, 1),
            "calls_total": produced,
            "rejected": stats.rejected,
        }
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            await asyncio.to_thread(pg.stop)
        shutil.rmtree(pg.data, ignore_errors=True)


def _child(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    if args.child == "outage":
        result = asyncio.run(outage(workdir, args.outage_seconds, args.outage_rate))
    else:
        if args.child == "postgresql":
            url = asyncio.run(fresh_pg(args.pg_url))
        else:
            path = workdir / "bench.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            url = f"sqlite+aiosqlite:///{path}"
        result = asyncio.run(throughput(url, args.calls, workdir, args.max_pending))
    print("RESULT " + json.dumps(result), flush=True)


def _run_child(args: argparse.Namespace, what: str) -> dict[str, Any]:
    cmd = [
        sys.executable, __file__, "--child", what, "--calls", str(args.calls),
        "--workdir", args.workdir, "--pg-url", args.pg_url,
        "--outage-seconds", str(args.outage_seconds), "--outage-rate", str(args.outage_rate),
        "--max-pending", str(args.max_pending),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    raise SystemExit(f"{what} run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls per database")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--outage-seconds", type=float, default=60.0)
    parser.add_argument("--outage-rate", type=float, default=50.0, help="calls/s during the outage")
    parser.add_argument("--no-outage", action="store_true")
    parser.add_argument(
        "--max-pending", type=int, default=8_000, help="producer back-off (records in flight)"
    )
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        args.workdir = args.workdir or tmp
        load = os.getloadavg()
        print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in load)}")
        if args.calls > 0:
            for db in [d.strip() for d in args.databases.split(",") if d.strip()]:
                r = _run_child(args, db)
                print(
                    f"{db:<10} {r['calls']:>9,} calls ({r['records']:,} records) "
                    f"in {r['seconds']} s: "
                    f"{r['calls_per_s']:,} calls/s ({r['records_per_s']:,} records/s), "
                    f"writer CPU {r['writer_cpu_us_per_call']} µs/call, "
                    f"peak RSS {r['rss_peak_mb']} MB (start {r['rss_start_mb']} MB), "
                    f"rejected {r['rejected']}"
                )
        if not args.no_outage:
            r = _run_child(args, "outage")
            print(
                f"outage     {r['outage_seconds']} s down at {r['rate_calls_per_s']:g} calls/s: "
                f"{r['records_waiting_at_restart']:,} records waiting at restart, caught up in "
                f"{r['catch_up_seconds']} s; peak RSS {r['rss_peak_mb']} MB; "
                f"{r['calls_total']:,} calls, rejected {r['rejected']}"
            )


if __name__ == "__main__":
    main()
