"""The call-log writer's memory over many calls, SQLite and PostgreSQL side by side (issue
"Performance under load", item 4: what the router's RSS growth in the soak is made of).

    .venv/bin/python bench/bench_writer_memory.py [--calls 20000] [--postgresql URL]
        [--sqlite-cache-kib N]

The memory soak (bench/bench_soak.py, 70 minutes) found the router's RSS growing ~0.4 KB a
call on SQLite, near-linear, while tracemalloc saw almost nothing of Python's: memory
outside Python's allocator. This bench runs the writer alone (no Asterisk, no web), each
database in a process of its own so the RSS is the writer's: calls handed 50 at a time, each
of their four steps flushed (``bench_writer_live.one_call``), RSS sampled every 1,000 calls;
it prints the growth after the first 1,000. ``--sqlite-cache-kib`` sets SQLite's page
cache per connection (``PRAGMA cache_size=-N``; SQLite's default is 2,000 KiB) to tell the
page cache from a leak. A bench run by hand, not part of the test suite (a few minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_writer_live import one_call
from sqlalchemy import event

from callrouter.store import db
from callrouter.store.writer import CallLog

GROUP = 50
EVERY = 1000


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def limit_sqlite_cache(kib: int) -> None:
    """Every SQLite connection the store opens from now on gets a page cache of ``kib``."""
    make = db.make_engine

    def make_engine(url: str, **kwargs: Any) -> Any:
        engine = make(url, **kwargs)
        if url.startswith("sqlite"):

            def pragma(conn: Any, _record: Any) -> None:
                conn.cursor().execute(f"PRAGMA cache_size=-{kib}")

            event.listen(engine.sync_engine, "connect", pragma)
        return engine

    db.make_engine = make_engine
    sys.modules["callrouter.store.writer"].make_engine = make_engine  # type: ignore[attr-defined]


async def child(url: str, calls: int, workdir: Path) -> None:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    async with CallLog(url, workdir / "spool", tz="Asia/Ho_Chi_Minh") as log:
        for first in range(0, calls, GROUP):
            group = range(first, min(first + GROUP, calls))
            await asyncio.gather(
                *(one_call(log, i, base + timedelta(seconds=i), ()) for i in group)
            )
            done = group[-1] + 1
            if done % EVERY == 0:
                print(json.dumps({"calls": done, "rss_mb": round(rss_mb(), 2)}), flush=True)


def run(name: str, url: str, args: argparse.Namespace, workdir: Path) -> None:
    command = [sys.executable, __file__, "--child", url, "--calls", str(args.calls)]
    if args.sqlite_cache_kib is not None:
        command += ["--sqlite-cache-kib", str(args.sqlite_cache_kib)]
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=workdir)
    samples = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    for s in samples:
        print(f"  {name:10s} {s['calls']:6d} calls  RSS {s['rss_mb']:7.1f} MB")
    warm = next(s for s in samples if s["calls"] >= EVERY)
    last = samples[-1]
    grown = last["rss_mb"] - warm["rss_mb"]
    per_call = 1000 * grown / max(last["calls"] - warm["calls"], 1)
    print(
        f"{name:10s} growth after {warm['calls']} calls: {grown:+.1f} MB "
        f"over {last['calls'] - warm['calls']} calls ({per_call:+.2f} KB/call)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--postgresql", default="", help="an empty PostgreSQL database's URL")
    parser.add_argument("--sqlite-cache-kib", type=int, default=None)
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.sqlite_cache_kib is not None:
            limit_sqlite_cache(args.sqlite_cache_kib)
        asyncio.run(child(args.child, args.calls, Path.cwd()))
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench-writer-memory-"))
    try:
        cache = "" if args.sqlite_cache_kib is None else f" (cache {args.sqlite_cache_kib} KiB)"
        run(f"sqlite{cache}", f"sqlite+aiosqlite:///{workdir / 'calls.sqlite3'}", args, workdir)
        if args.postgresql:
            run("postgresql", args.postgresql, args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
