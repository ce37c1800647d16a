"""The call-log writer's CPU per call at a live call's pace (issue "Performance under load").

    .venv/bin/python bench/bench_writer_live.py [--calls 2000] [--postgresql URL]

``bench/bench_store.py`` measures the writer flat out, where a batch holds thousands of
records and what a batch costs is shared by all of them. A live router hands the writer a
call's records a few at a time, seconds apart (started and ringing; the first attempt over
and the second ringing; answered; ended), so nearly every batch holds one call's step. Here
each call's four steps are handed and flushed one after the other, and the process CPU
(every thread: the event loop, the SQLite worker, the spool's fsync) is divided by the calls.
A bench run by hand, not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callrouter.store.writer import CallLog


async def one_call(log: CallLog, i: int, start: datetime, gaps: tuple[float, ...]) -> None:
    """One call as a live router hands it over: four steps, ``gaps`` seconds apart (or
    each flushed before the next, if no gaps)."""

    async def step(n: int) -> None:
        if gaps:
            await asyncio.sleep(gaps[n])
        else:
            await log.flush()

    linkedid = f"L{i}"
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
    await step(0)
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
    await step(1)
    log.call_answered(
        linkedid=linkedid,
        answered_at=start + timedelta(seconds=25),
        officer_id="o2",
        officer_name="Trần Thị Bình",
        number="0922222222",
    )
    await step(2)
    log.attempt_ended(
        linkedid=linkedid,
        seq=2,
        result="answered",
        cause=16,
        ended_at=start + timedelta(seconds=95),
        answered_at=start + timedelta(seconds=25),
    )
    log.call_ended(
        linkedid=linkedid,
        ended_at=start + timedelta(seconds=95),
        outcome="answered",
        hangup_cause=16,
    )
    if not gaps:
        await log.flush()


async def sequential(url: str, calls: int, workdir: Path) -> float:
    """Process CPU ms per call, each step flushed before the next (after 100 calls)."""
    spool = workdir / "spool"
    shutil.rmtree(spool, ignore_errors=True)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    async with CallLog(url, spool, tz="Asia/Ho_Chi_Minh") as log:
        for i in range(100):
            await one_call(log, i, base + timedelta(seconds=i), ())
        cpu = time.process_time()
        for i in range(100, 100 + calls):
            await one_call(log, i, base + timedelta(seconds=i), ())
        return 1000 * (time.process_time() - cpu) / calls


async def paced(url: str, calls: int, rate: float, window: float, workdir: Path) -> float:
    """Process CPU ms per call: ``rate`` calls a second, their steps seconds apart as in a
    live call (ringing 1 s, second leg 0.5 s, talk 1.5 s), the writer gathering a batch
    for ``window`` seconds."""
    spool = workdir / "spool"
    shutil.rmtree(spool, ignore_errors=True)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    async with CallLog(url, spool, tz="Asia/Ho_Chi_Minh", batch_window=window) as log:
        await one_call(log, 0, base, ())
        cpu = time.process_time()
        t0 = time.monotonic()
        tasks = []
        for i in range(1, calls + 1):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            start = base + timedelta(seconds=i)
            tasks.append(asyncio.create_task(one_call(log, i, start, (1.0, 0.5, 1.5))))
        await asyncio.gather(*tasks)
        await log.flush()
        return 1000 * (time.process_time() - cpu) / calls


async def bench(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-writer-live-"))
    try:
        urls = {"sqlite": f"sqlite+aiosqlite:///{workdir / 'calls.sqlite3'}"}
        if args.postgresql:
            urls["postgresql"] = args.postgresql
        for name, url in urls.items():
            ms = await sequential(url, args.calls, workdir)
            print(f"{name:10s} {args.calls} calls, 4 flushed steps each: {ms:6.2f} ms CPU/call")
            first = None
            for window in args.windows:
                ms = await paced(url, args.calls, args.rate, window, workdir)
                first = first or ms
                print(
                    f"{name:10s} {args.calls} calls at {args.rate:.0f}/s, batch window "
                    f"{1000 * window:4.0f} ms: {ms:6.2f} ms CPU/call ({ms / first:4.2f} x)",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument(
        "--windows", type=float, nargs="+", default=[0.02, 0.1, 0.25], help="batch windows (s)"
    )
    parser.add_argument("--postgresql", default="", help="an empty PostgreSQL database's URL")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
