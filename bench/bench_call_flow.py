"""Post-dial delay and burst handling of the ARI call flow, through two real Asterisks.

    .venv/bin/python bench/bench_call_flow.py [--calls 20] [--burst 20] [--slot N]

Starts a fresh sandbox pair (``scripts/asterisk-sandbox``, slot ``--slot`` or
``CALLROUTER_SANDBOX_SLOT``), runs the real ``callrouter serve`` in this process against the
pbx (SQLite call log in a temporary directory), and measures from the pbx's own AMI event
timestamps:

* caller enters Stasis → first officer leg created on the pbx (callrouter's share), and
  → the officer's phone on the pstn says it is ringing (what an officer experiences);
* a burst of callers at once: how many were answered, how many rows written, and the same
  delays under that load.

Prints figures; not part of the test suite. Needs root (the sandbox).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callrouter import logs
from callrouter.store.db import make_engine
from tests.e2e.callflow_support import running_router, wait_for_call, write_rota
from tests.e2e.harness import ANSWERS, Harness, PlacedCall, Sandbox, officer_number


def delays(harness: Harness, call: PlacedCall) -> tuple[float, float] | None:
    """(Stasis → leg created, Stasis → officer phone ringing) in ms, or None if not seen."""
    events = harness.events.events
    stasis = [
        e
        for e in events
        if e.source == "pbx"
        and e.name == "Newexten"
        and e.get("Application") == "Stasis"
        and e.get("CallerIDNum") == call.caller_number
    ]
    if not stasis:
        return None
    linkedid = stasis[0].get("Linkedid")
    legs = [
        e
        for e in events
        if e.source == "pbx"
        and e.name == "Newchannel"
        and e.get("Uniqueid").startswith("callrouter-leg-")
        and e.get("Linkedid") == linkedid
    ]
    rings = [
        e
        for e in events
        if e.source == "pstn"
        and e.user_event == "OfficerRinging"
        and e.get("Caller") == call.caller_number
    ]
    if not legs or not rings:
        return None
    t0 = stasis[0].timestamp
    return (legs[0].timestamp - t0) * 1000, (rings[0].timestamp - t0) * 1000


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{name}: n={len(values)} p50 {statistics.median(values):.1f} ms, "
        f"p95 {p95:.1f} ms, max {max(values):.1f} ms"
    )


async def run(calls: int, burst: int, slot: int) -> None:
    logs.configure(json=True, level="WARNING")
    sandbox = Sandbox(slot)
    started = time.monotonic()
    info = sandbox.start()
    print(f"sandbox slot {slot} up in {time.monotonic() - started:.1f} s")
    tmp = Path(tempfile.mkdtemp(prefix="bench-call-flow-"))
    number = officer_number(ANSWERS, 0)
    rota = write_rota(tmp / "rota.yaml", [number])
    url = f"sqlite+aiosqlite:///{tmp / 'calls.sqlite3'}"
    try:
        async with Harness(info) as harness, running_router(info, rota, url, tmp / "state"):
            engine = make_engine(url)
            # 1. One call at a time.
            leg_ms: list[float] = []
            ring_ms: list[float] = []
            for _ in range(calls):
                call = await harness.place_call(digits="3", hold=1.0)
                await harness.wait_caller_hangup(call, within=30)
                measured = delays(harness, call)
                if measured is not None:
                    leg_ms.append(measured[0])
                    ring_ms.append(measured[1])
                await harness.wait_idle(within=15)
            print(f"\none call at a time ({calls} calls)")
            print("  " + summary("Stasis -> officer leg created (pbx)", leg_ms))
            print("  " + summary("Stasis -> officer phone ringing (pstn)", ring_ms))

            # 2. A burst of callers at once.
            t0 = time.monotonic()
            burst_calls = await asyncio.gather(
                *(harness.place_call(digits="3", hold=4.0) for _ in range(burst))
            )
            await asyncio.gather(*(harness.wait_caller_hangup(c, within=60) for c in burst_calls))
            elapsed = time.monotonic() - t0
            rows = [await wait_for_call(engine, c.caller_number) for c in burst_calls]
            answered = sum(1 for r in rows if r.call["outcome"] == "answered")
            b_leg = [d[0] for c in burst_calls if (d := delays(harness, c)) is not None]
            b_ring = [d[1] for c in burst_calls if (d := delays(harness, c)) is not None]
            print(f"\nburst of {burst} callers at once ({elapsed:.1f} s until all hung up)")
            print(f"  answered {answered}/{burst}, calls rows {len(rows)}")
            print("  " + summary("Stasis -> officer leg created (pbx)", b_leg))
            print("  " + summary("Stasis -> officer phone ringing (pstn)", b_ring))
            await engine.dispose()
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument(
        "--slot", type=int, default=int(os.environ.get("CALLROUTER_SANDBOX_SLOT", "0"))
    )
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.burst, args.slot))


if __name__ == "__main__":
    main()
