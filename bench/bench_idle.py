"""What the router spends with no call at all (issue "Performance under load").

    .venv/bin/python bench/bench_idle.py [--slot N] [--seconds 30] [--profile OUT]

The load sweep divides each process's CPU over a batch by the batch's calls, so at 1 call/s
whatever ``serve`` does on its own (timers, watchers, the writer's syncer) weighs on every
call ten times more than at 10/s. This starts ``serve`` (ARI) and ``serve --mode agi`` on
the sandbox as the sweep does, lets them settle, and prints the CPU each uses per second of
doing nothing, beside the bare ARI app's; ``--profile`` records ``serve`` with py-spy over
the same seconds (collapsed stacks; ``bench/profile_summary.py`` reads them). A bench run by
hand, not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import profiled
from bench_native import ari_floor

from callrouter.sandbox import Sandbox
from tests.e2e.agi_support import free_port
from tests.e2e.callflow_support import write_rota
from tests.e2e.faults_support import agi_serve_process, cpu_and_rss, serve_process
from tests.e2e.harness import ANSWERS, officer_number

SETTLE = 10.0


async def measure(args: argparse.Namespace) -> None:
    sandbox = Sandbox(args.slot)
    info = sandbox.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    try:
        rota = write_rota(tmp / "rota.yaml", [officer_number(ANSWERS, 0)], ring_timeout=30)
        async with (
            serve_process(info, rota, f"sqlite+aiosqlite:///{tmp / 'c.sqlite3'}", tmp / "s") as ari,
            agi_serve_process(
                rota, f"sqlite+aiosqlite:///{tmp / 'a.sqlite3'}", tmp / "a", agi_port=free_port()
            ) as agi,
            ari_floor(info) as floor_pid,
        ):
            pids = {"serve (ari)": ari.proc.pid, "serve (agi)": agi.proc.pid, "floor": floor_pid}
            await asyncio.sleep(SETTLE)
            before = {name: cpu_and_rss(pid)[0] for name, pid in pids.items()}
            spy = (
                profiled(ari.proc.pid, Path(args.profile), args.seconds)
                if args.profile
                else contextlib.nullcontext()
            )
            async with spy:
                await asyncio.sleep(args.seconds)
            for name, pid in pids.items():
                used = cpu_and_rss(pid)[0] - before[name]
                print(f"  {name:12s} idle: {1000 * used / args.seconds:6.2f} ms of CPU a second")
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--slot", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--profile", default="", help="py-spy collapsed stacks of serve here")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
