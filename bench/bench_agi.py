"""FastAGI mode: AGI round trip and decisions/s, next to the ARI mode's post-dial delay.

    .venv/bin/python bench/bench_agi.py [--concurrency 50] [--seconds 10] [--calls 10] [--slot N]
    .venv/bin/python bench/bench_agi.py --no-sandbox     # only the synthetic part

1. Synthetic: the real FastAGI server (``AgiCallFlow`` + real ``CallLog`` on SQLite, real
   ``decide()`` on a 3-number rota) on loopback; ``--concurrency`` clients act as Asterisk:
   connect, send the AGI header block, answer every command (``EXEC MSet``) with ``200``,
   until the server closes. Round trip = connect → connection closed (decision and all
   variables set). Prints p50/p99 and decisions/s.
2. Real calls (``--calls``, needs root): a fresh sandbox pair (``scripts/asterisk-sandbox``);
   the same caller flow in ARI mode (Stasis → officer leg created/ringing) and in FastAGI mode
   (AGI ``route`` starts → officer leg created/ringing), from the Asterisks' event timestamps.

Prints figures; not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_call_flow import delays as ari_delays
from callrouter import logs
from callrouter.asterisk.fastagi import AgiCallFlow
from callrouter.asterisk.fastagi_server import FastAgiServer
from callrouter.rota import load_rota
from callrouter.routing import CallInfo, Decision, decide
from callrouter.store.writer import CallLog
from tests.e2e.agi_support import agi_mode, free_port, running_agi_router
from tests.e2e.callflow_support import running_router, write_rota
from tests.e2e.harness import ANSWERS, Harness, PlacedCall, Sandbox, officer_number


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    return (
        f"{name}: n={len(values)} p50 {statistics.median(values):.2f} ms, "
        f"p99 {pct(values, 0.99):.2f} ms, max {max(values):.2f} ms"
    )


def header_block(linkedid: str) -> bytes:
    return (
        "agi_network: yes\nagi_network_script: route\nagi_request: agi://127.0.0.1/route\n"
        "agi_channel: PJSIP/pstn-trunk-00000001\nagi_language: vi\n"
        f"agi_uniqueid: {linkedid}\nagi_callerid: 0987654321\nagi_context: callrouter-agi\n"
        f"agi_arg_1: {linkedid}\nagi_arg_2: 3\n\n"
    ).encode()


async def one_route(port: int, linkedid: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(header_block(linkedid))
    commands = 0
    while await reader.readline():
        commands += 1
        writer.write(b"200 result=0\n")
    writer.close()
    return (time.perf_counter() - t0) * 1000, commands


async def synthetic(concurrency: int, seconds: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-agi-"))
    rota = load_rota(write_rota(tmp / "rota.yaml", ["0901100001", "0901100002", "0901100003"]))
    url = f"sqlite+aiosqlite:///{tmp / 'calls.sqlite3'}"

    def decider(now: datetime, call: CallInfo) -> Decision:
        return decide(rota, now, call)

    async with CallLog(url, tmp / "spool", tz=rota.timezone) as log:
        flow = AgiCallFlow(log, decider, max_calls=1000)
        server = FastAgiServer(flow.routes())
        await server.start("127.0.0.1", 0)
        samples: list[float] = []
        commands = 0
        deadline = time.monotonic() + seconds
        counter = 0

        async def client(n: int) -> None:
            nonlocal commands, counter
            while time.monotonic() < deadline:
                counter += 1
                ms, sent = await one_route(server.port, f"bench-{n}-{counter}")
                samples.append(ms)
                commands += sent

        cpu0, t0 = time.process_time(), time.monotonic()
        await asyncio.gather(*(client(n) for n in range(concurrency)))
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        await server.close()
        await log.flush()
    print(f"\nFastAGI round trip, {concurrency} concurrent connections, {wall:.1f} s")
    print("  " + summary("connect -> headers -> decision -> variables set -> closed", samples))
    print(
        f"  decisions/s: {len(samples) / wall:.0f} "
        f"({commands / max(1, len(samples)):.0f} AGI command(s) each; "
        f"client and server share this process: {cpu / wall * 100:.0f} % of a core)"
    )


def agi_delays(harness: Harness, call: PlacedCall) -> tuple[float, float] | None:
    """(AGI route starts → officer leg created, → officer phone ringing) in ms."""
    events = harness.events.events
    starts = [
        e
        for e in events
        if e.source == "pbx"
        and e.name == "Newexten"
        and e.get("Application") == "AGI"
        and "/route" in e.get("AppData")
        and e.get("CallerIDNum") == call.caller_number
    ]
    if not starts:
        return None
    linkedid, caller_chan = starts[0].get("Linkedid"), starts[0].get("Channel")
    legs = [
        e
        for e in events
        if e.source == "pbx"
        and e.name == "Newchannel"
        and e.get("Linkedid") == linkedid
        and e.get("Channel") != caller_chan
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
    t0 = starts[0].timestamp
    return (legs[0].timestamp - t0) * 1000, (rings[0].timestamp - t0) * 1000


async def real_calls(calls: int, slot: int) -> None:
    sandbox = Sandbox(slot)
    info = sandbox.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-agi-calls-"))
    rota = write_rota(tmp / "rota.yaml", [officer_number(ANSWERS, 0)])
    url = f"sqlite+aiosqlite:///{tmp / 'calls.sqlite3'}"
    results: dict[str, tuple[list[float], list[float]]] = {"ari": ([], []), "agi": ([], [])}
    try:
        async with Harness(info) as harness:
            async with running_router(info, rota, url, tmp / "state-ari"):
                for _ in range(calls):
                    call = await harness.place_call(digits="3", hold=1.0)
                    await harness.wait_caller_hangup(call, within=30)
                    if (d := ari_delays(harness, call)) is not None:
                        results["ari"][0].append(d[0])
                        results["ari"][1].append(d[1])
                    await harness.wait_idle(within=15)
            port = free_port()
            with agi_mode(sandbox, port):
                async with running_agi_router(rota, url, tmp / "state-agi", port=port):
                    for _ in range(calls):
                        call = await harness.place_call(digits="3", hold=1.0)
                        await harness.wait_caller_hangup(call, within=30)
                        if (d := agi_delays(harness, call)) is not None:
                            results["agi"][0].append(d[0])
                            results["agi"][1].append(d[1])
                        await harness.wait_idle(within=15)
    finally:
        sandbox.stop()
    print(f"\npost-dial delay through the real pbx + pstn ({calls} calls each, one at a time)")
    print("  " + summary("ARI: Stasis -> officer leg created", results["ari"][0]))
    print("  " + summary("ARI: Stasis -> officer phone ringing", results["ari"][1]))
    print("  " + summary("AGI: route -> officer leg created", results["agi"][0]))
    print("  " + summary("AGI: route -> officer phone ringing", results["agi"][1]))


async def run(args: argparse.Namespace) -> None:
    logs.configure(json=True, level="WARNING")
    await synthetic(args.concurrency, args.seconds)
    if not args.no_sandbox:
        await real_calls(args.calls, args.slot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument(
        "--slot", type=int, default=int(os.environ.get("CALLROUTER_SANDBOX_SLOT", "0"))
    )
    parser.add_argument("--no-sandbox", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
