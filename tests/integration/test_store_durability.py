"""Nothing is lost, nothing is doubled: SIGKILL of the writer, and a real PostgreSQL outage.

The kill test runs the writer in a child process and kills it with SIGKILL at random
points, and also right before and right after a database commit (the child wraps the
store's own functions to kill itself there). The outage test stops the shared
PostgreSQL server for a few seconds while calls keep coming, and always starts it again.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callrouter.store.db import make_engine
from callrouter.store.models import call_attempts, calls
from callrouter.store.writer import CallLog
from tests.e2e.faults_support import tree_environ
from tests.integration.conftest import table_counts, write_call
from tests.integration.private_pg import PrivatePostgres

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import asyncio, os, random, signal, sys
from datetime import UTC, datetime
from pathlib import Path
import callrouter.store.writer_db as writer_db
from callrouter.store.writer import CallLog
from tests.integration.conftest import write_call

url, spool, first, count, mode, seed = sys.argv[1:7]
first, count = int(first), int(count)
rng = random.Random(int(seed))

def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)

batches = 0
kill_at = rng.randrange(1, 4)  # the 1st, 2nd or 3rd batch: always killed in the middle

if mode == "before_commit":
    original_apply_plan = writer_db.apply_plan
    def apply_plan(conn, plan, **kw):  # in the transaction (the SQLite thread, or run_sync)
        global batches
        original_apply_plan(conn, plan, **kw)
        batches += 1
        if batches == kill_at:
            die()  # inside the transaction: the batch is rolled back
    writer_db.apply_plan = apply_plan
elif mode == "after_commit":
    original_apply = CallLog._apply
    async def _apply(self, prepared):
        global batches
        await original_apply(self, prepared)
        if prepared.records:
            batches += 1
            if batches == kill_at:
                die()  # committed, checkpoint not moved: the batch will be replayed
    CallLog._apply = _apply

async def main() -> None:
    async with CallLog(url, Path(spool), group_window=0.001) as log:
        for i in range(first, first + count):
            write_call(log, f"K{i}")
            log.event(linkedid=f"K{i}", at=datetime.now(UTC), type="t", data={"i": i})
            print(f"H {i}", flush=True)
            await asyncio.sleep(0.002)
        await log.flush()
        print("STATS", log.stats(), flush=True)

asyncio.run(main())
"""


def _child(
    url: str, spool: Path, first: int, count: int, *, mode: str, seed: int
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(spool), str(first), str(count), mode, str(seed)],
        cwd=ROOT,
        env=tree_environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _handed(lines: list[str]) -> set[int]:
    return {int(line.split()[1]) for line in lines if line.startswith("H ")}


async def _read_until(
    proc: subprocess.Popen[str], handed_target: int, deadline: float
) -> list[str]:
    """Read the child's lines until it has handed ``handed_target`` calls (or exits)."""
    assert proc.stdout is not None
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = await asyncio.to_thread(proc.stdout.readline)
        if not line:
            break
        lines.append(line.strip())
        if len(_handed(lines)) >= handed_target:
            break
    return lines


async def test_sigkill_at_random_points_loses_nothing_and_doubles_nothing(
    store_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    rng = random.Random(20261128)
    handed: set[int] = set()
    started: set[int] = set()
    rounds = ["before_commit", "after_commit", "random", "random", "random"]
    for n, mode in enumerate(rounds):
        first = n * 1000
        proc = _child(store_url, spool, first, 150, mode=mode, seed=rng.randrange(1 << 30))
        deadline = time.monotonic() + 60
        target = rng.randrange(5, 120) if mode == "random" else 10_000
        lines = await _read_until(proc, target, deadline)
        if mode == "random":
            proc.send_signal(signal.SIGKILL)
        rest, err = await asyncio.to_thread(proc.communicate, timeout=60)
        lines += rest.splitlines()
        assert proc.returncode == -signal.SIGKILL, (mode, proc.returncode, err[-2000:])
        assert "Traceback" not in err, err[-2000:]
        handed |= _handed(lines)
        # The call after the last one reported may have been half handed over.
        started |= _handed(lines) | {max(_handed(lines), default=first - 1) + 1}

    drain = _child(store_url, spool, 90_000, 0, mode="drain", seed=0)
    out, err = await asyncio.to_thread(drain.communicate, timeout=120)
    assert drain.returncode == 0, err[-3000:]
    assert "rejected=0" in out, out

    engine = make_engine(store_url)
    try:
        async with engine.connect() as conn:
            linkedids = [row[0] for row in await conn.execute(select(calls.c.linkedid))]
            per_call: dict[str, int] = dict(
                (
                    await conn.execute(
                        select(calls.c.linkedid, func.count(call_attempts.c.id))
                        .join(call_attempts, call_attempts.c.call_id == calls.c.id)
                        .group_by(calls.c.linkedid)
                    )
                ).all()
            )
            outcomes: dict[str, str] = dict(
                (await conn.execute(select(calls.c.linkedid, calls.c.outcome))).all()
            )
    finally:
        await engine.dispose()
    in_db = {int(lid[1:]) for lid in linkedids}
    assert len(linkedids) == len(in_db)
    assert handed, "the children handed over no call at all"
    assert handed <= in_db, f"lost: {sorted(handed - in_db)[:20]}"
    assert in_db <= started, f"unexpected: {sorted(in_db - started)[:20]}"
    for i in handed:
        assert per_call[f"K{i}"] == 2
        assert outcomes[f"K{i}"] == "answered"
    counts = await table_counts(store_url)
    assert counts["call_events"] >= len(handed)
    assert counts["call_events"] <= len(started)
    assert not (spool / "rejected.log").exists()


@pytest.fixture
def outage_server() -> Iterator[PrivatePostgres]:
    """A PostgreSQL of this test's own to stop and start: the shared one serves every test
    worker at the same time."""
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.close()


async def test_postgresql_stopped_mid_stream_every_record_arrives_exactly_once(
    outage_server: PrivatePostgres, tmp_path: Path
) -> None:
    pg_schema_url = outage_server.url
    produced: list[int] = []
    stop_producing = asyncio.Event()

    async with CallLog(pg_schema_url, tmp_path / "spool", retry_max=0.3) as log:

        async def produce() -> None:
            i = 0
            while not stop_producing.is_set():
                write_call(log, f"P{i}")
                log.event(linkedid=f"P{i}", at=datetime.now(UTC), type="t", data={})
                produced.append(i)
                i += 1
                await asyncio.sleep(0.005)

        producer = asyncio.create_task(produce())
        try:
            await _until(lambda: len(produced) >= 50 and log.stats().applied > 0, 30)
            await asyncio.to_thread(outage_server.stop)
            try:
                await _until(lambda: not log.stats().database_available, 30)
                during = len(produced)
                await _until(lambda: len(produced) >= during + 100, 30)
                assert not log.stats().database_available
            finally:
                await asyncio.to_thread(outage_server.start)
                await _until_sync(outage_server.ready, 60)
            await _until(lambda: len(produced) >= during + 200, 30)
        finally:
            stop_producing.set()
            await producer
        await asyncio.wait_for(log.flush(), 60)
        assert log.stats().pending == 0
        assert log.stats().rejected == 0

    counts = await table_counts(pg_schema_url)
    assert counts == {
        "calls": len(produced),
        "call_attempts": 2 * len(produced),
        "call_events": len(produced),
        "callbacks": 0,
    }


async def _until(condition: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within} s")
        await asyncio.sleep(0.01)


async def _until_sync(condition: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within} s")
        await asyncio.sleep(0.05)
