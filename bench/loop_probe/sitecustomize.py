"""Which event-loop turns of a process run long, and why (issue "Performance under load").

    LOOP_PROBE=1 PYTHONPATH=$PWD/bench/loop_probe .venv/bin/python bench/bench_load.py --slot 2 \
        --rates 30 --paths agi,ari --sustained-rates '' --abandon-rate 0

Python imports ``sitecustomize`` at start-up from the import path, so every Python process the
bench starts (``serve`` in both modes, the floors, the bench itself) times each event-loop
callback when ``LOOP_PROBE`` is set, and writes those longer than ``LOOP_PROBE_MS`` (8 ms)
to ``LOOP_PROBE_DIR/loop-<pid>.log`` (default: the temporary folder) split three ways: the
loop thread's own CPU (``time.thread_time``), the time it was runnable but waiting for a CPU
(the run delay of ``/proc/thread-self/schedstat``), and the rest (waiting for the GIL or
blocked in a call).
An experiment's tool, not part of callrouter or of the test suite.
"""

from __future__ import annotations

import asyncio.events
import os
import sys
import tempfile
import time
from typing import Any


def _install(threshold: float, folder: str) -> None:
    run = asyncio.events.Handle._run
    schedstat = os.open("/proc/thread-self/schedstat", os.O_RDONLY)  # the loop's (main) thread
    out = open(f"{folder}/loop-{os.getpid()}.log", "a", buffering=1)  # noqa: SIM115

    def run_delay() -> int:
        return int(os.pread(schedstat, 100, 0).split()[1])

    def timed(self: asyncio.events.Handle) -> None:
        wall0, cpu0, queued0 = time.perf_counter(), time.thread_time(), run_delay()
        run(self)
        wall = time.perf_counter() - wall0
        if wall > threshold:
            cpu = time.thread_time() - cpu0
            queued = (run_delay() - queued0) / 1e9
            callback: Any = self._callback  # type: ignore[attr-defined]
            what = repr(getattr(callback, "__self__", callback))[:200]
            out.write(
                f"{time.strftime('%H:%M:%S')} {1000 * wall:6.1f} ms wall {1000 * cpu:6.1f} ms cpu "
                f"{1000 * queued:6.1f} ms runqueue {what}\n"
            )

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]


if os.environ.get("LOOP_PROBE"):
    # the probe times asyncio's own Handle: serve runs on that loop, not uvloop's, under it
    if os.environ.setdefault("CALLROUTER_EVENT_LOOP", "asyncio") != "asyncio":
        sys.stderr.write("loop probe: CALLROUTER_EVENT_LOOP is not asyncio: serve is not timed\n")
    _install(
        float(os.environ.get("LOOP_PROBE_MS", "8")) / 1000,
        os.environ.get("LOOP_PROBE_DIR") or tempfile.gettempdir(),
    )
