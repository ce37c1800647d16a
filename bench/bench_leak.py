"""Where the router's memory goes per call: ``callrouter serve`` (ARI) run in this process
under ``tracemalloc``, short calls through the sandbox pbx, and the allocation sites that grew
between the end of the warm-up and the end of the run (issue "Performance under load", item 4).

    .venv/bin/python bench/bench_leak.py [--slot N] [--calls 3000] [--warm-up 1000]
        [--rate 5] [--top 25]

A bench run by hand, beside bench/bench_soak.py (which measures RSS from outside): this one
names the lines. Growth in callrouter's own files that scales with the calls is a leak;
growth in the bench's own event log, the test harness or the standard library is printed
apart.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_native import bench_parser
from bench_soak import run_chunk
from sqlalchemy.engine import Engine

from callrouter.malloc import mallinfo
from tests.e2e.callflow_support import running_router, write_rota
from tests.e2e.harness import ANSWERS, Harness, Sandbox, officer_number

ROOT = str(Path(__file__).resolve().parents[1] / "callrouter")


def report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, calls: int, top: int) -> None:
    stats = after.compare_to(before, "lineno")
    harness = str(Path(ROOT) / "sandbox")  # the bench's phones and event log, not serve
    ours = [
        s
        for s in stats
        if s.traceback[0].filename.startswith(ROOT)
        and not s.traceback[0].filename.startswith(harness)
    ]
    grown = sum(s.size_diff for s in ours)
    print(
        f"\ncallrouter's own lines: {grown / 1024:+.1f} KB over {calls} calls"
        f" ({grown / max(1, calls):+.0f} B/call)"
    )
    for s in ours[:top]:
        frame = s.traceback[0]
        where = f"{Path(frame.filename).relative_to(Path(ROOT).parent)}:{frame.lineno}"
        print(f"  {s.size_diff / 1024:+9.1f} KB {s.count_diff:+7d} blocks  {where}")
    print("\nevery file (the bench's own event log and the harness included):")
    for s in stats[:top]:
        frame = s.traceback[0]
        print(
            f"  {s.size_diff / 1024:+9.1f} KB {s.count_diff:+7d} blocks  "
            f"{frame.filename}:{frame.lineno}"
        )


def compiled_caches() -> list[int]:
    """Entries in each engine's compiled-statement cache (an LRU of 500 by default): a cache
    still filling grows the process while looking like a slow leak."""
    return sorted(
        len(obj._compiled_cache)
        for obj in gc.get_objects()
        if isinstance(obj, Engine) and obj._compiled_cache is not None
    )


def native_memory() -> str:
    """This process's memory split by owner, in MB: resident; what Python's allocations hold
    (tracemalloc); SQLite's own allocator counter (page caches, statements: the library the
    ``sqlite3`` module loaded); glibc malloc's heap in use and free inside it (fragmentation
    RSS cannot give back). Where RSS grows with no owner growing, the growth is not Python's."""
    mb = 1 << 20
    with open("/proc/self/statm", encoding="ascii") as statm:
        rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / mb
    traced = tracemalloc.get_traced_memory()[0] / mb
    sqlite = ctypes.CDLL(ctypes.util.find_library("sqlite3"))
    sqlite.sqlite3_memory_used.restype = ctypes.c_int64
    info = mallinfo()
    return (
        f"RSS {rss:6.1f}  python {traced:6.1f}  sqlite {sqlite.sqlite3_memory_used() / mb:5.1f}"
        f"  malloc in use {(info.uordblks + info.hblkhd) / mb:6.1f}"
        f" free {info.fordblks / mb:5.1f} MB"
    )


async def leak(args: argparse.Namespace) -> None:
    sandbox = Sandbox(args.slot)
    info = sandbox.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-leak-"))
    number = officer_number(ANSWERS, 0)
    offered = [0]
    try:
        async with Harness(info) as harness:
            rota = write_rota(tmp / "rota.yaml", [number], ring_timeout=30, max_wait=60)
            url = f"sqlite+aiosqlite:///{tmp / 'calls.sqlite3'}"
            async with running_router(info, rota, url, tmp / "state", drain_seconds=5):
                tracemalloc.start(1)
                before: tracemalloc.Snapshot | None = None
                first = 0
                while offered[0] < args.calls:
                    count = min(args.chunk, args.calls - offered[0])
                    chunk = await run_chunk(
                        harness,
                        offered[0],
                        count,
                        offered,
                        rate=args.rate,
                        hold=2.0,
                        number=number,
                    )
                    print(
                        f"chunk from call {chunk.first_call}: ok {chunk.ok} lost {chunk.lost}"
                        f"  SQLAlchemy compiled-statement caches {compiled_caches()}"
                        f"\n  {native_memory()}",
                        flush=True,
                    )
                    if before is None and offered[0] >= args.warm_up:
                        await asyncio.sleep(5)
                        before = tracemalloc.take_snapshot()
                        first = offered[0]
                await asyncio.sleep(5)
                after = tracemalloc.take_snapshot()
                tracemalloc.stop()
        if before is not None:
            report(before, after, offered[0] - first, args.top)
    finally:
        sandbox.stop()


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warm-up", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=25)
    asyncio.run(leak(parser.parse_args()))


if __name__ == "__main__":
    main()
