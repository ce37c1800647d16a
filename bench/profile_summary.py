"""Where the router's CPU goes, from a py-spy profile (issue "Performance under load").

    .venv/bin/python bench/profile_summary.py bench/results/py-spy-serve.collapsed.txt

py-spy's collapsed stacks count a thread parked in a wait (the SQLite worker's queue, the
thread pool's, the event loop's ``epoll``) as a sample like any other. This sets those
aside, then shares the busy samples out by what the router was doing, the first share with
a frame in the stack taking it: logging, the call log (spool, database), the ARI REST
requests, the ARI events, the rest of the call flow, and the event loop's own work.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

#: a stack whose innermost frame is one of these is a thread waiting, not working
IDLE_LEAVES = (
    "_connection_worker_thread (aiosqlite/core.py",
    "_worker (concurrent/futures/thread.py",
    "EpollSelector.select (selectors.py",
    # a thread waiting on a threading.Event or Condition (the call log's spool syncer)
    "Condition.wait (threading.py",
)

#: (share, a frame that puts the sample in it): the first share with such a frame anywhere in
#: the stack takes the sample
SHARES = (
    ("logging (structlog)", "structlog/"),
    ("call log: spool and its fsync", "callrouter/store/spool.py"),
    ("call log: database batches", "callrouter/store/"),
    ("call log: database batches", "aiosqlite/"),
    ("call log: database batches", "sqlalchemy/"),
    ("ARI REST requests (aiohttp)", "AriClient._exchange"),
    ("ARI REST requests (aiohttp)", "AriClient.request"),
    ("ARI REST requests (aiohttp)", "AriClient._answer"),  # an answer read off the socket
    ("ARI events (read, decode, route)", "AriClient._session_once"),
    ("ARI events (read, decode, route)", "AriClient._dispatch"),
    ("ARI events (read, decode, route)", "StasisApp.on_event"),
    ("call flow (callrouter's calls, asterisk, web)", "callrouter/calls/"),
    ("call flow (callrouter's calls, asterisk, web)", "callrouter/asterisk/"),
    ("call flow (callrouter's calls, asterisk, web)", "callrouter/web/"),
)


def share_of(frames: list[str]) -> str:
    for name, marker in SHARES:
        if any(marker in frame for frame in frames):
            return name
    return "event loop (socket reads and writes, callbacks)"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy record --format raw output")
    args = parser.parse_args()
    busy: Counter[str] = Counter()
    idle = 0
    for line in args.profile.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if frames[-1].startswith(IDLE_LEAVES):
            idle += int(count)
        else:
            busy[share_of(frames)] += int(count)
    total = sum(busy.values())
    print(f"{args.profile}: {total + idle} samples, {idle} of threads waiting set aside")
    for name, count in busy.most_common():
        print(f"  {count:5d} {100 * count / total:5.1f} %  {name}")
    print(f"  {total:5d} busy")


if __name__ == "__main__":
    main()
