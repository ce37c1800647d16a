"""Load sweep: native Dial(), a bare ARI app, callrouter (ARI) and callrouter (FastAGI) side by
side on the same two Asterisks, in one run (issue "Performance under load").

    .venv/bin/python bench/bench_load.py [--slot N] [--rates 1,10,20,30] [--seconds 6]
        [--sustained-rates 5,10] [--sustained-seconds 15] [--abandon-rate 10]
        [--results bench/results] [--profile]

Seven paths, each offered the same calls, one path after another at each rate (the pbx and the
machine are the same for all):

* ``native``: the pstn dials 6<number>; the pbx answers and ``Dial()``s the officer with music
  on hold to the caller while it rings (``m``): the same kind of media callrouter plays (its
  greeting, then "please hold" and music) — a fair comparison plays media to every caller;
* ``floor``: bench/ari_floor.py, an ARI app that only originates and bridges (7<number>);
* ``ari-same``: bench/ari_floor.py in its ``same`` mode: no logic, no database, no log, but
  callrouter's own ARI requests, transport and event filter for such a call (4<number>): what
  those cost any Python ARI app; ``ari`` minus this is callrouter's own;
* ``ari``: 1022, key 3, callrouter ``serve`` (ARI), greeting and hold while the officer rings;
* ``agi-floor``: bench/agi_floor.py, a FastAGI server that only hands the number back in one
  command; the pbx then ``Dial()``s it with music on hold (5<number>);
* ``agi-same``: 1022, key 3, the pbx switched to FastAGI as for ``agi``, served by
  bench/agi_floor.py in its ``same`` mode: callrouter's dialplan and AGI connections, answered
  as callrouter answers them, with no logic, database or log; ``agi`` minus this is
  callrouter's own;
* ``agi``: 1022, key 3, with the pbx switched to FastAGI (``callrouter serve --mode agi``).

Measures, for each path and rate:

* **short calls**: the officer answers at once; the caller hangs up 2 s after reaching the
  routing step. Post-dial delay (routing step → the officer's leg ``Ringing`` on the pbx, from
  the pbx's own AMI timestamps) p50 / p99, set-up rate (answered calls per second over the
  span of their answers), lost calls, and the **knee**: the first rate where a path loses a
  call;
* **CPU per call** (ms) of the router process (callrouter's ``serve``, the bare ARI app) and of
  the pbx Asterisk, over each batch, and their ratio (target: the router ≤ 25 % of the pbx),
  with ``serve``'s split by thread (its event loop ``main``, the call log's ``calllog-sqlite``
  and ``calllog-syncer``, ``other``);
  also for callers who **hang up while the officer rings** (``--abandon-rate``);
* **sustained**: 10 s calls at ``--sustained-rates``: answered calls per second and lost;
* the pbx's RSS before and after each path (growth per call) — what the calls leave behind.

``--results DIR`` writes the raw numbers (JSON) and ``core show taskprocessors`` of the pbx
before the sweep and under the 30/s callrouter batch; ``--profile`` adds a py-spy profile of
``serve`` at the highest rate in each mode run (collapsed stacks; py-spy must be installed). Not
part of the test suite; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_native import ari_floor, bench_parser, floor_process, pct

from callrouter.calls.vocabulary import LEG_ID_PREFIX
from tests.e2e.agi_support import agi_mode, free_port
from tests.e2e.callflow_support import write_rota
from tests.e2e.faults_support import (
    agi_serve_process,
    cpu_and_rss,
    cpu_by_thread,
    serve_process,
)
from tests.e2e.harness import (
    ANSWERS,
    RINGS_FOREVER,
    AmiEvent,
    Harness,
    PlacedCall,
    Sandbox,
    officer_number,
)

PATHS = ("native", "floor", "ari-same", "ari", "agi-floor", "agi-same", "agi")
#: where each path's calls go: the number the pstn dials on the pbx and the menu key
EXTENS = {"native": ("6", ""), "floor": ("7", ""), "ari-same": ("4", ""), "agi-floor": ("5", "")}
#: paths routed by an ARI application (Stasis), their officer legs named with callrouter's prefix
STASIS_PATHS = ("floor", "ari-same", "ari")
#: paths that are not callrouter: no CPU target (a yardstick for it)
YARDSTICKS = ("floor", "ari-same", "agi-floor", "agi-same")
#: the py-spy profile of each callrouter mode at the top rate (``--profile``)
PROFILES = {"ari": "py-spy-serve.collapsed.txt", "agi": "py-spy-serve-agi.collapsed.txt"}
HOLD = 2.0  # seconds the caller stays after the routing step's digits (or the answer)
MB = 1024 * 1024
SANDBOX_ROOT = Path(
    os.environ.get("CALLROUTER_SANDBOX_CACHE", "/var/cache/callrouter/asterisk-sandbox")
)


@dataclass
class Batch:
    path: str
    flow: str
    rate: float
    offered: int = 0
    ok: int = 0
    lost: int = 0
    seconds: float = 0.0
    pdd_ms: list[float] = field(default_factory=list)
    router_cpu_ms: float | None = None  # per call
    #: the router's CPU per call by thread (main, calllog-sqlite, calllog-syncer, other)
    router_threads_ms: dict[str, float] = field(default_factory=dict)
    pbx_cpu_ms: float = 0.0  # per call
    pbx_rss_mb: tuple[float, float] = (0.0, 0.0)  # before, after

    @property
    def rate_ok(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float | None:
        return pct(self.pdd_ms, q) if self.pdd_ms else None


def pbx_pid(slot: int) -> int:
    pidfile = SANDBOX_ROOT / "rootfs" / f"srv/sandbox/slot{slot}/pbx/run/asterisk.pid"
    return int(pidfile.read_text().strip())


def judge(batch: Batch, events: list[AmiEvent], calls: list[PlacedCall], number: str) -> None:
    """Fill ``batch`` from the events of its own span (indexed once: the whole log is large)."""
    by_tag: dict[str, list[AmiEvent]] = {}
    by_caller: dict[str, list[AmiEvent]] = {}
    by_linkedid: dict[str, list[AmiEvent]] = {}
    for e in events:
        if e.source == "pstn":
            if tag := e.get("Tag"):
                by_tag.setdefault(tag, []).append(e)
            if e.get("Number") == number and (caller := e.get("Caller")):
                by_caller.setdefault(caller, []).append(e)
        elif linkedid := e.get("Linkedid"):
            by_linkedid.setdefault(linkedid, []).append(e)
    app = "Stasis" if batch.path in STASIS_PATHS else "Dial" if batch.path == "native" else "AGI"
    steps: dict[str, AmiEvent] = {}  # the caller's first routing step (FastAGI runs again)
    for es in by_linkedid.values():
        for e in es:
            if e.name == "Newexten" and e.get("Application") == app:
                steps.setdefault(e.get("CallerIDNum"), e)
    answers: list[float] = []
    for call in calls:
        officer = [e for e in by_caller.get(call.caller_number, []) if e.user_event]
        answered = next((e for e in officer if e.user_event == "OfficerAnswered"), None)
        hung_up = next(
            (e for e in by_tag.get(call.tag, []) if e.user_event == "CallerHangup"), None
        )
        wanted = answered is not None if batch.flow != "abandon" else bool(officer)
        if wanted and hung_up is not None and hung_up.get("By") == "caller":
            batch.ok += 1
            if answered is not None:
                answers.append(answered.timestamp)
        else:
            batch.lost += 1
        step = steps.get(call.caller_number)
        if step is None:
            continue
        legs = [
            e
            for e in by_linkedid.get(step.get("Linkedid"), [])
            if e.name == "Newstate"
            and e.get("ChannelStateDesc") == "Ringing"
            and e.get("Uniqueid") != step.get("Uniqueid")
            and (batch.path not in STASIS_PATHS or e.get("Uniqueid").startswith(LEG_ID_PREFIX))
        ]
        if legs:
            batch.pdd_ms.append((legs[0].timestamp - step.timestamp) * 1000)
    batch.offered = len(calls)
    if len(answers) > 1:
        gap = (calls[-1].originated_at - calls[0].originated_at) / max(1, len(calls) - 1)
        batch.seconds = max(answers) - min(answers) + gap


@dataclass
class Rig:
    harness: Harness
    sandbox: Sandbox
    slot: int
    routers: dict[str, int]  # path -> pid of its router process
    agi_ports: dict[str, int]  # path -> the FastAGI port the pbx is switched to for it
    quick: str
    ringing: str
    results: Path | None


async def run_batch(
    rig: Rig, path: str, flow: str, *, rate: float, seconds: float, hold: float, number: str
) -> Batch:
    harness = rig.harness
    batch = Batch(path=path, flow=flow, rate=rate)
    count = max(10, int(rate * seconds))
    prefix, digits = EXTENS.get(path, ("", "3"))
    exten = prefix + number if prefix else "1022"
    pbx = pbx_pid(rig.slot)
    router = rig.routers.get(path)
    start_index = len(harness.events.events)
    pbx_cpu0, pbx_rss0 = cpu_and_rss(pbx)
    router_cpu0 = cpu_and_rss(router)[0] if router else 0.0
    threads0 = cpu_by_thread(router) if router else {}
    calls: list[PlacedCall] = []
    t0 = time.monotonic()
    snapshot: asyncio.Task[None] | None = None
    if rig.results and path == "ari" and flow == "short" and rate >= 30:
        snapshot = asyncio.create_task(
            taskprocessors(rig, "under-30-per-second", after=seconds / 2)
        )
    agi_port = rig.agi_ports.get(path)
    with agi_mode(rig.sandbox, agi_port) if agi_port else contextlib.nullcontext():
        for i in range(count):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            calls.append(
                await harness.place_call(exten=exten, digits=digits, hold=hold, digit_delay=0.2)
            )
        for call in calls:
            with contextlib.suppress(TimeoutError):
                await harness.wait_caller_hangup(call, within=hold + 60)
        await harness.wait_idle(within=60)
    if snapshot is not None:
        await snapshot
    pbx_cpu1, pbx_rss1 = cpu_and_rss(pbx)
    batch.pbx_cpu_ms = 1000 * (pbx_cpu1 - pbx_cpu0) / count
    batch.pbx_rss_mb = (pbx_rss0 / MB, pbx_rss1 / MB)
    if router:
        batch.router_cpu_ms = 1000 * (cpu_and_rss(router)[0] - router_cpu0) / count
        batch.router_threads_ms = {
            kind: 1000 * (cpu - threads0.get(kind, 0.0)) / count
            for kind, cpu in cpu_by_thread(router).items()
        }
    judge(batch, harness.events.events[start_index:], calls, number)
    show(batch)
    return batch


async def taskprocessors(rig: Rig, name: str, *, after: float = 0.0) -> None:
    assert rig.results is not None
    await asyncio.sleep(after)
    text = await asyncio.to_thread(rig.sandbox.cli, "pbx", "core show taskprocessors")
    (rig.results / f"taskprocessors-{name}.txt").write_text(text, encoding="utf-8")


def show(b: Batch) -> None:
    pdd = (
        f"PDD p50 {b.p(0.5):6.1f} p99 {b.p(0.99):6.1f} ms" if b.pdd_ms else "PDD      n/a         "
    )
    router = f"{b.router_cpu_ms:5.1f}" if b.router_cpu_ms is not None else "  n/a"
    share = (
        f"{100 * b.router_cpu_ms / b.pbx_cpu_ms:4.0f} %"
        if b.router_cpu_ms is not None and b.pbx_cpu_ms
        else "   --"
    )
    print(
        f"  {b.flow:8s} {b.rate:5.1f}/s {b.path:9s} offered {b.offered:4d} ok {b.ok:4d} "
        f"lost {b.lost:3d} {b.rate_ok:5.1f} set-ups/s  {pdd}  CPU/call router {router} ms "
        f"pbx {b.pbx_cpu_ms:5.1f} ms ({share})  pbx RSS {b.pbx_rss_mb[0]:.0f}->"
        f"{b.pbx_rss_mb[1]:.0f} MB",
        flush=True,
    )
    if b.router_threads_ms:
        split = ", ".join(
            f"{kind} {ms:.2f}"
            for kind, ms in sorted(b.router_threads_ms.items(), key=lambda kv: -kv[1])
            if ms >= 0.005
        )
        print(f"{'':30s}router CPU/call by thread (ms): {split}", flush=True)


def summary(batches: list[Batch], rates: list[float]) -> None:
    short = {(b.path, b.rate): b for b in batches if b.flow == "short"}
    print("\nratios at each rate (short calls; PDD p50 | p99 over native and over the ARI floor)")
    for rate in rates:
        native, floor, _, ari, agi_floor, _, agi = (short.get((p, rate)) for p in PATHS)
        parts = [f"  {rate:5.1f}/s"]
        for label, top, base in (
            ("callrouter/native", ari, native),
            ("callrouter/floor", ari, floor),
            ("fastagi/native", agi, native),
            ("fastagi/agi-floor", agi, agi_floor),
            ("agi-floor/native", agi_floor, native),
        ):
            if top and base and top.pdd_ms and base.pdd_ms:
                r50 = pct(top.pdd_ms, 0.5) / pct(base.pdd_ms, 0.5)
                r99 = pct(top.pdd_ms, 0.99) / pct(base.pdd_ms, 0.99)
                parts.append(f"{label} {r50:.2f} | {r99:.2f}")
        if ari and native and native.rate_ok:
            parts.append(f"set-up rate callrouter/native {ari.rate_ok / native.rate_ok:.2f}")
        print("  ".join(parts))
    print("\nknee (first rate where the path lost a call)")
    for name in PATHS:
        lost = [b.rate for b in batches if b.flow == "short" and b.path == name and b.lost]
        print(f"  {name:9s} {min(lost) if lost else 'none up to ' + str(max(rates))}")
    print("\nrouter CPU per call / pbx CPU per call (target <= 25 %)")
    for b in batches:
        if b.router_cpu_ms is not None and b.pbx_cpu_ms:
            share = 100 * b.router_cpu_ms / b.pbx_cpu_ms
            verdict = "" if b.path in YARDSTICKS else ("  OK" if share <= 25 else "  MISSED")
            print(
                f"  {b.flow:8s} {b.rate:5.1f}/s {b.path:9s} {b.router_cpu_ms:5.1f} ms / "
                f"{b.pbx_cpu_ms:5.1f} ms = {share:4.0f} %{verdict}"
            )


@contextlib.asynccontextmanager
async def profiled(pid: int, out: Path, seconds: float) -> AsyncIterator[None]:
    """py-spy records ``pid`` for ``seconds`` while the block runs (if py-spy is here)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not await asyncio.to_thread(Path(spy).exists):
        print("  (py-spy not installed: no profile)")
        yield
        return
    proc = await asyncio.create_subprocess_exec(
        spy,
        "record",
        "-p",
        str(pid),
        "-d",
        str(int(seconds)),
        "-o",
        str(out),
        "-f",
        "raw",  # collapsed stacks: any flamegraph tool draws them
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        await proc.wait()


async def sweep(args: argparse.Namespace) -> None:
    rates = [float(r) for r in args.rates.split(",")]
    paths = [p for p in args.paths.split(",") if p in PATHS]
    sustained_rates = [float(r) for r in args.sustained_rates.split(",") if r]
    sandbox = Sandbox(args.slot)
    info = sandbox.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    results = Path(args.results) if args.results else None
    if results:
        results.mkdir(parents=True, exist_ok=True)
    quick = officer_number(ANSWERS, 0)
    ringing = officer_number(RINGS_FOREVER, 0)
    batches: list[Batch] = []
    try:
        async with Harness(info) as harness:
            rota = write_rota(tmp / "rota.yaml", [quick], ring_timeout=30, max_wait=60)
            agi_port = free_port()
            agi_floor_port = free_port()
            agi_same_port = free_port()
            url = f"sqlite+aiosqlite:///{tmp / 'calls.sqlite3'}"
            agi_url = f"sqlite+aiosqlite:///{tmp / 'agi.sqlite3'}"
            async with (
                serve_process(info, rota, url, tmp / "state", drain=5) as router,
                agi_serve_process(rota, agi_url, tmp / "agi-state", agi_port=agi_port) as agi,
                ari_floor(info) as floor_pid,
                ari_floor(info, "same") as same_pid,
                floor_process("agi_floor.py", str(agi_floor_port)) as agi_floor_pid,
                floor_process(
                    "agi_floor.py", str(agi_same_port), "same", quick, ringing
                ) as agi_same_pid,
            ):
                sandbox.cli(
                    "pbx",
                    f"dialplan set global BENCH_AGI_FLOOR_URL agi://127.0.0.1:{agi_floor_port}",
                )
                rig = Rig(
                    harness,
                    sandbox,
                    args.slot,
                    {
                        "ari": router.proc.pid,
                        "agi": agi.proc.pid,
                        "floor": floor_pid,
                        "ari-same": same_pid,
                        "agi-floor": agi_floor_pid,
                        "agi-same": agi_same_pid,
                    },
                    {"agi": agi_port, "agi-same": agi_same_port},
                    quick,
                    ringing,
                    results,
                )
                if results:
                    await taskprocessors(rig, "quiet")
                print(f"\nshort calls ({HOLD:.0f} s), {args.seconds:.0f} s of offers a batch")
                for rate in rates:
                    for path in paths:
                        top = rate == max(rates) and path in PROFILES and args.profile
                        pid = router.proc.pid if path == "ari" else agi.proc.pid
                        async with (
                            profiled(pid, results / PROFILES[path], args.seconds)
                            if top and results
                            else contextlib.nullcontext()
                        ):
                            batches.append(
                                await run_batch(
                                    rig,
                                    path,
                                    "short",
                                    rate=rate,
                                    seconds=args.seconds,
                                    hold=HOLD,
                                    number=quick,
                                )
                            )
                if args.abandon_rate > 0:
                    print(f"\ncallers hanging up while the officer rings ({args.abandon_rate}/s)")
                    write_rota(rota, [ringing], ring_timeout=30, max_wait=60)
                    os.kill(agi_same_pid, signal.SIGUSR1)  # its one officer too
                    await asyncio.sleep(4)  # the routers poll the rota every 2 s
                    for path in paths:
                        batches.append(
                            await run_batch(
                                rig,
                                path,
                                "abandon",
                                rate=args.abandon_rate,
                                seconds=args.seconds,
                                hold=1.5,
                                number=ringing,
                            )
                        )
                    write_rota(rota, [quick], ring_timeout=30, max_wait=60)
                    os.kill(agi_same_pid, signal.SIGUSR1)
                    await asyncio.sleep(4)
                if sustained_rates:
                    print(f"\nsustained: 10 s calls, {args.sustained_seconds:.0f} s of offers")
                for rate in sustained_rates:
                    for path in paths:
                        batches.append(
                            await run_batch(
                                rig,
                                path,
                                "10s",
                                rate=rate,
                                seconds=args.sustained_seconds,
                                hold=10.0,
                                number=quick,
                            )
                        )
        summary(batches, rates)
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if results:
            raw = [{**asdict(b), "set_ups_per_s": b.rate_ok} for b in batches]
            (results / "sweep.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
            for name, log in (
                ("serve-ari.log", tmp / "state" / "serve.log"),
                ("serve-agi.log", tmp / "agi-state" / "serve.log"),
            ):
                shutil.copyfile(log, results / name)
            print(f"raw numbers, snapshots and serve's logs in {results}")
    finally:
        sandbox.stop()


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--rates", default="1,10,20,30")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--abandon-rate", type=float, default=10.0)
    parser.add_argument("--sustained-rates", default="5,10")
    parser.add_argument("--sustained-seconds", type=float, default=15.0)
    parser.add_argument("--results", default="", help="folder for raw numbers and snapshots")
    parser.add_argument("--profile", action="store_true", help="py-spy profile at the top rate")
    parser.add_argument("--paths", default=",".join(PATHS), help="which paths to run")
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    asyncio.run(sweep(args))


if __name__ == "__main__":
    main()
