"""Memory soak: many short calls through callrouter (ARI) at a sustained rate, the router's and
the pbx's RSS sampled every minute (issue "Performance under load", item 4).

    .venv/bin/python bench/bench_soak.py [--slot N] [--calls 20000] [--rate 5] [--hold 2]
        [--chunk 1000] [--path ari|native] [--database-url URL] [--results bench/results]

A bench run by hand, not part of the test suite (20,000 calls at 5/s is about 70 minutes);
run it on a quiet machine. Calls are offered in chunks of ``--chunk`` at ``--rate`` per
second; between chunks the bench waits for the chunk's calls to end, judges them (answered,
lost, post-dial delay) and forgets their events, so its own memory stays flat. Every minute
it samples the RSS of ``callrouter serve`` and of the pbx Asterisk; at the end it prints the
router's growth after the first ``--warm-up`` calls (target ≤ 5 MB: no per-call leak in
callrouter) and the pbx's growth separately (Asterisk's own). ``--results DIR`` writes the
samples and the chunks as JSON (``soak.json``; ``soak-native.json`` for ``--path native``).

``--path native`` offers the same calls to a native ``Dial()`` of the same officer (the pbx's
test-only ``bench-native-media`` context: ``Dial()`` playing music on hold while the officer
rings, as callrouter plays its hold) while ``callrouter serve`` stays up idle:
the pbx's growth on that path is the yardstick for callrouter's path (target: ours ≤ native's
+ 10 %). Run both side by side on two slots for one machine's numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import MB, Batch, judge, pbx_pid
from bench_native import bench_parser

from tests.e2e.callflow_support import write_rota
from tests.e2e.faults_support import cpu_and_rss, serve_process
from tests.e2e.harness import ANSWERS, Harness, PlacedCall, Sandbox, officer_number


@dataclass
class Sample:
    seconds: float  # since the first call
    calls: int  # offered so far
    router_rss_mb: float
    pbx_rss_mb: float
    #: the router's resident memory by kind of mapping (:func:`memory_parts`), MB
    router_parts: dict[str, float] | None = None


#: glibc's thread arenas are reserved 64 MB at a time, each on a 64 MB boundary
ARENA = 64 << 20


def memory_parts(pid: int) -> dict[str, float]:
    """Resident MB of ``pid`` by kind of mapping (``/proc/PID/smaps``): ``heap`` (the main
    malloc arena: the event loop thread's C allocations and Python's objects over 512 bytes),
    ``thread arenas`` (malloc arenas of other threads: the SQLite connection threads, the
    default executor; each a 64 MB-aligned reservation, its used part read-write and the rest
    ``---p``), ``anon`` (every other anonymous mapping: Python's small-object arenas, big
    allocations, thread stacks) and ``files`` (code and data of the interpreter and the
    libraries). Where the router grows tells whose memory grows."""
    maps: list[tuple[int, int, str, str, float]] = []  # start, end, perms, path, rss MB
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as smaps:
        for line in smaps:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                low, high = (int(x, 16) for x in head[0].split("-"))
                maps.append((low, high, head[1], head[5] if len(head) > 5 else "", 0.0))
            elif head[0] == "Rss:" and maps:
                low, high, perms, path, _ = maps[-1]
                maps[-1] = (low, high, perms, path, int(head[1]) / 1024)
    parts = {"heap": 0.0, "thread arenas": 0.0, "anon": 0.0, "files": 0.0}
    for i, (low, high, perms, path, rss) in enumerate(maps):
        rest = maps[i + 1] if i + 1 < len(maps) else None
        if path == "[heap]":
            kind = "heap"
        elif path.startswith("/"):
            kind = "files"
        elif (
            low % ARENA == 0
            and perms.startswith("rw")
            and (
                high - low == ARENA
                or (rest is not None and rest[0] == high and rest[1] - low == ARENA)
            )
        ):
            kind = "thread arenas"
        else:
            kind = "anon"
        parts[kind] += rss
    return {k: round(v, 2) for k, v in parts.items()}


@dataclass
class Chunk:
    first_call: int
    offered: int
    ok: int
    lost: int
    pdd_p50_ms: float | None
    pdd_p99_ms: float | None


async def sample_every(
    seconds: float, pids: tuple[int, int], offered: list[int], out: list[Sample]
) -> None:
    t0 = time.monotonic()
    while True:
        router, pbx = (cpu_and_rss(pid)[1] / MB for pid in pids)
        parts = memory_parts(pids[0])
        out.append(Sample(round(time.monotonic() - t0, 1), offered[0], router, pbx, parts))
        s = out[-1]
        print(
            f"  {s.seconds:7.0f} s  {s.calls:6d} calls  router RSS {s.router_rss_mb:6.1f} MB"
            f"  pbx RSS {s.pbx_rss_mb:6.1f} MB  router: "
            + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()),
            flush=True,
        )
        await asyncio.sleep(seconds)


async def wait_all_ended(
    harness: Harness, calls: list[PlacedCall], start_index: int, within: float
) -> None:
    """Wait until every call of the chunk ended (its CallerHangup, or a failed Originate),
    reading each new event once: waiting call by call rescans the whole log each time, which
    at 1,000 calls a chunk kept the bench busy (and its sampler late) for minutes."""
    left = {call.tag for call in calls}
    seen = start_index
    deadline = time.monotonic() + within
    while left and time.monotonic() < deadline:
        events = harness.events.events
        for e in events[seen:]:
            if e.user_event == "CallerHangup":
                left.discard(e.get("Tag"))
            elif e.name == "OriginateResponse" and e.get("Response") == "Failure":
                left.discard(e.get("Uniqueid"))
        seen = len(events)
        if left:
            await asyncio.sleep(0.5)
    for tag in sorted(left):
        print(f"  call {tag} did not end within {within:.0f} s", flush=True)


async def run_chunk(
    harness: Harness,
    first: int,
    count: int,
    offered: list[int],
    *,
    rate: float,
    hold: float,
    number: str,
    path: str = "ari",
) -> Chunk:
    start_index = len(harness.events.events)
    calls: list[PlacedCall] = []
    t0 = time.monotonic()
    for i in range(count):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        exten, digits = ("6" + number, "") if path == "native" else ("1022", "3")
        calls.append(
            await harness.place_call(exten=exten, digits=digits, hold=hold, digit_delay=0.2)
        )
        offered[0] += 1
    await wait_all_ended(harness, calls, start_index, within=hold + 60)
    await harness.wait_idle(within=60)
    batch = Batch(path=path, flow="soak", rate=rate)
    judge(batch, harness.events.events[start_index:], calls, number)
    # Nothing waits on the log between chunks: forget what was judged (flat bench memory).
    del harness.events.events[:]
    return Chunk(first, count, batch.ok, batch.lost, batch.p(0.5), batch.p(0.99))


def write_json(path: Path, raw: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(raw, indent=1), encoding="utf-8")


def growth(samples: list[Sample], warm_up: int, attr: str) -> tuple[float, float, float]:
    """(RSS at the first sample past ``warm_up`` calls, at the end, growth) in MB."""
    after = [s for s in samples if s.calls >= warm_up] or samples
    first, last = getattr(after[0], attr), getattr(samples[-1], attr)
    return first, last, last - first


async def soak(args: argparse.Namespace) -> None:
    sandbox = Sandbox(args.slot)
    info = sandbox.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    number = officer_number(ANSWERS, 0)
    samples: list[Sample] = []
    chunks: list[Chunk] = []
    offered = [0]
    try:
        async with Harness(info) as harness:
            rota = write_rota(tmp / "rota.yaml", [number], ring_timeout=30, max_wait=60)
            url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'calls.sqlite3'}"
            async with serve_process(info, rota, url, tmp / "state", drain=5) as router:
                pids = (router.proc.pid, pbx_pid(args.slot))
                sampler = asyncio.create_task(sample_every(args.every, pids, offered, samples))
                try:
                    while offered[0] < args.calls:
                        count = min(args.chunk, args.calls - offered[0])
                        chunk = await run_chunk(
                            harness,
                            offered[0],
                            count,
                            offered,
                            rate=args.rate,
                            hold=args.hold,
                            number=number,
                            path=args.path,
                        )
                        chunks.append(chunk)
                        print(
                            f"chunk from call {chunk.first_call}: offered {chunk.offered} "
                            f"ok {chunk.ok} lost {chunk.lost} PDD p50 {chunk.pdd_p50_ms} "
                            f"p99 {chunk.pdd_p99_ms} ms",
                            flush=True,
                        )
                    await asyncio.sleep(args.every)  # one idle sample after the last call
                finally:
                    sampler.cancel()
        router0, router1, router_growth = growth(samples, args.warm_up, "router_rss_mb")
        pbx0, pbx1, pbx_growth = growth(samples, args.warm_up, "pbx_rss_mb")
        lost = sum(c.lost for c in chunks)
        print(f"\n{offered[0]} calls offered on the {args.path} path, {lost} lost")
        verdict = "OK" if router_growth <= 5.0 else "MISSED"
        print(
            f"callrouter RSS after {args.warm_up} calls {router0:.1f} MB -> end {router1:.1f} MB:"
            f" growth {router_growth:+.1f} MB (target <= 5 MB) {verdict}"
        )
        after = [s for s in samples if s.calls >= args.warm_up] or samples
        if after[0].router_parts and samples[-1].router_parts:
            grown = {
                k: samples[-1].router_parts[k] - after[0].router_parts.get(k, 0.0)
                for k in samples[-1].router_parts
            }
            print(
                "callrouter growth by part: "
                + ", ".join(f"{k} {v:+.1f} MB" for k, v in grown.items())
            )
        print(
            f"pbx Asterisk RSS after {args.warm_up} calls {pbx0:.1f} MB -> end {pbx1:.1f} MB:"
            f" growth {pbx_growth:+.1f} MB ({1024 * pbx_growth / max(1, offered[0]):.1f} KB/call)"
        )
        if args.results:
            out = Path(args.results)
            name = "soak.json" if args.path == "ari" else f"soak-{args.path}.json"
            raw = {
                "path": args.path,
                "calls": offered[0],
                "rate": args.rate,
                "hold": args.hold,
                "samples": [asdict(s) for s in samples],
                "chunks": [asdict(c) for c in chunks],
            }
            await asyncio.to_thread(write_json, out / name, raw)
            print(f"samples in {out / name}")
    finally:
        sandbox.stop()


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--hold", type=float, default=2.0)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--path", choices=("ari", "native"), default="ari")
    parser.add_argument("--warm-up", type=int, default=1000)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--results", default="", help="folder for the samples (soak.json)")
    parser.add_argument(
        "--database-url",
        default="",
        help="the call log (default: a new SQLite file; e.g. an empty PostgreSQL database)",
    )
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    asyncio.run(soak(args))


if __name__ == "__main__":
    main()
