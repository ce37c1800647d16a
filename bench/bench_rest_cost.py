"""The router's CPU for one ARI request through its own client, over HTTP and over the events
socket, on each event loop ``serve`` can run on (issue "Performance under load").

    .venv/bin/python bench/bench_rest_cost.py [--slot N] [--requests 2000]

The load sweep's profile puts a share of the router's CPU in ARI requests; this says what one
costs, alone: ``AriClient`` against the sandbox pbx, ``--requests`` of each kind one after
another, the process CPU (user and system, every thread) and the wall time divided by them.
Kinds: ``GET /asterisk/ping`` and ``POST /channels/{id}/variable`` on a channel that does not
exist (404: Asterisk's answer is cheap, the client's work is the same as for a real one) over
HTTP, and the ping on the events socket (REST over the WebSocket). Each loop runs in a process
of its own, twice, alternating. A bench run by hand, not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_native import bench_parser

from callrouter.asterisk.ari import AriClient, Event
from callrouter.cli.serve import loop_factory
from tests.e2e.harness import Sandbox

APP = "bench-rest-cost"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(pbx: dict[str, Any], requests: int) -> list[tuple[str, float, float]]:
    """(kind, µs of CPU, µs of wall time) per request, for each kind."""
    base = pbx["ari_url"].removesuffix("/ari")
    rows: list[tuple[str, float, float]] = []
    async with AriClient(
        base, pbx["ari_user"], pbx["ari_password"], APP, rest_on_socket=True
    ) as ari:

        def ignore(_event: Event) -> None:
            return None

        events = asyncio.create_task(ari.run_events(ignore))
        deadline = time.monotonic() + 10
        while ari._rest_ws is None:
            if time.monotonic() > deadline:
                raise SystemExit("REST did not move onto the events socket within 10 s")
            await asyncio.sleep(0.05)
        kinds: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("HTTP GET ping", lambda: ari._exchange_http("GET", "/asterisk/ping", {}, None)),
            (
                "HTTP POST variable (404)",
                lambda: ari._exchange_http(
                    "POST", "/channels/none/variable", {"variable": "X", "value": "1"}, None
                ),
            ),
            ("socket GET ping", lambda: ari.request("GET", "/asterisk/ping")),
        ]
        for kind, call in kinds:
            for _ in range(50):
                await call()
            cpu, wall = cpu_seconds(), time.perf_counter()
            for _ in range(requests):
                await call()
            rows.append(
                (
                    kind,
                    1e6 * (cpu_seconds() - cpu) / requests,
                    1e6 * (time.perf_counter() - wall) / requests,
                )
            )
        events.cancel()
    return rows


def child(loop: str, requests: int) -> None:
    """One loop's run, in this process: prints its rows as JSON (the pbx's ARI from the
    environment, never a command line)."""
    pbx = json.loads(os.environ["BENCH_REST_COST_PBX"])
    factory = loop_factory("uvloop" if loop == "uvloop" else "asyncio")
    with asyncio.Runner(loop_factory=factory) as runner:
        print(json.dumps(runner.run(measure(pbx, requests))))


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--child", choices=("asyncio", "uvloop"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.requests)
        return
    sandbox = Sandbox(args.slot)
    pbx = sandbox.start().pbx
    info = {"ari_url": pbx.ari_url, "ari_user": pbx.ari_user, "ari_password": pbx.ari_password}
    try:
        print(f"# {args.requests} requests of each kind, one after another, per run")
        for loop in ("asyncio", "uvloop", "asyncio", "uvloop"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", loop, "--requests", str(args.requests)],
                env={**os.environ, "BENCH_REST_COST_PBX": json.dumps(info)},
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for kind, cpu, wall in json.loads(out.strip().splitlines()[-1]):
                print(f"{loop:8s} {kind:26s} {cpu:6.0f} µs CPU  {wall:6.0f} µs wall per request")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
