"""An independent SIP client against the pbx + callrouter: calls placed, rows, mismatches.

    .venv/bin/python bench/sipp_sweep.py [--slot N] [--rates 1,5,10] [--seconds 6] [--hold-ms 2000]

Starts a fresh sandbox pair (slot ``--slot`` / ``CALLROUTER_SANDBOX_SLOT``; loopback only),
runs the real ``python -m callrouter serve`` (SQLite call log in a temporary directory) with a
rota whose one number answers at once, and for each rate lets SIPp (Debian ``sip-tester``,
``bench/sipp/caller.xml``: presses 3, stays ``--hold-ms``, ends with a plain BYE without a
Reason header) place ``rate × seconds`` calls at that rate. Then, per rate, from the database:
rows (one per call expected), outcomes other than ``answered`` (mismatched: every SIPp call
reached an officer who answers at once), rows and attempts without a hang-up cause, and
attempts without a result. Bounded: at most 10 s of calls per rate and 30 calls/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from callrouter.store.db import make_engine
from callrouter.store.models import Call, CallAttempt
from tests.e2e.agi_support import free_port
from tests.e2e.callflow_support import write_rota
from tests.e2e.faults_support import serve_process
from tests.e2e.harness import ANSWERS, Sandbox, SandboxInfo, officer_number
from tests.e2e.sipp_support import SCENARIO, sipp_binary

CALLS = Call.__table__
ATTEMPTS = CallAttempt.__table__
MAX_RATE = 30
MAX_SECONDS = 10


async def place(info: SandboxInfo, prefix: str, rate: int, count: int, hold_ms: int) -> int:
    """SIPp places ``count`` calls at ``rate``/s from ``prefix<index>``; its exit status."""
    proc = await asyncio.create_subprocess_exec(
        sipp_binary(),
        f"127.0.0.1:{info.pbx.sip_port}",
        "-sf", str(SCENARIO), "-s", "1022",
        "-i", "127.0.0.1", "-p", str(free_port()),
        "-mi", "127.0.0.1", "-mp", str(free_port()),
        "-r", str(rate), "-m", str(count), "-d", str(hold_ms),
        "-set", "caller", prefix,
        "-timeout", f"{count // rate + hold_ms // 1000 + 30}s",
        "-nostdin",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return await proc.wait()


async def tally(url: str, prefix: str, within: float = 30.0) -> dict[str, int]:
    engine = make_engine(url)
    deadline = time.monotonic() + within
    try:
        while True:
            async with engine.connect() as conn:
                mine = CALLS.c.caller.startswith(prefix)
                rows = (await conn.execute(select(CALLS).where(mine))).mappings().all()
                ids = [r["id"] for r in rows]
                attempts = (
                    (await conn.execute(select(ATTEMPTS).where(ATTEMPTS.c.call_id.in_(ids))))
                    .mappings()
                    .all()
                )
                open_calls = await conn.scalar(
                    select(func.count()).select_from(CALLS).where(mine, CALLS.c.outcome.is_(None))
                )
            if not open_calls or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)  # poll until the rows are closed (deadline above)
    finally:
        await engine.dispose()
    return {
        "rows": len(rows),
        "mismatched": sum(r["outcome"] != "answered" for r in rows),
        "no_cause_calls": sum(r["hangup_cause"] is None for r in rows),
        "no_cause_attempts": sum(a["cause"] is None for a in attempts),
        "open_attempts": sum(a["result"] is None or a["ended_at"] is None for a in attempts),
    }


async def sweep(args: argparse.Namespace) -> None:
    rates = [min(MAX_RATE, int(r)) for r in args.rates.split(",")]
    seconds = min(MAX_SECONDS, args.seconds)
    box = Sandbox(args.slot)
    info = box.start()
    try:
        with tempfile.TemporaryDirectory(prefix="callrouter-sipp-") as tmp:
            tmp_path = Path(tmp)
            url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
            rota = write_rota(tmp_path / "rota.yaml", [officer_number(ANSWERS, 0)])
            async with serve_process(info, rota, url, tmp_path / "state"):
                table = []
                for n, rate in enumerate(rates):
                    count = rate * seconds
                    prefix = f"0985{n:02d}"
                    status = await place(info, prefix, rate, count, args.hold_ms)
                    table.append((rate, count, status, await tally(url, prefix)))
    finally:
        box.stop()
    print("rate/s  placed  sipp-exit  rows  mismatched  no-cause(call/attempt)  open-attempts")
    for rate, count, status, t in table:
        print(
            f"{rate:6d}  {count:6d}  {status:9d}  {t['rows']:4d}  {t['mismatched']:10d}  "
            f"{t['no_cause_calls']:>10d}/{t['no_cause_attempts']:<11d}  {t['open_attempts']:13d}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--slot", type=int, default=int(os.environ.get("CALLROUTER_SANDBOX_SLOT", "0"))
    )
    parser.add_argument("--rates", default="1,5,10")
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--hold-ms", type=int, default=2000)
    asyncio.run(sweep(parser.parse_args()))


if __name__ == "__main__":
    main()
