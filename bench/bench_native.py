"""callrouter against a native Dial() of the same officers, on the same two Asterisks, one run.

    .venv/bin/python bench/bench_native.py [--slot N] [--pdd-only] [--pdd-calls 100] [--pdd-rate 3]
        [--sustained-rate 5] [--sustained-seconds 20] [--short-rate 30] [--short-seconds 4]
        [--peak 100]

Starts a fresh sandbox pair (slot ``--slot`` / ``CALLROUTER_SANDBOX_SLOT``), runs the real
``python -m callrouter serve`` as a subprocess (SQLite call log in a temporary directory) and,
for each measure, places the same calls twice: through callrouter (1022, key 3, Stasis) and
natively (the test-only pbx context ``bench-native`` in tests/asterisk/pbx/extensions.conf:
``Dial(PJSIP/<number>@pstn-trunk)``). Officers are pstn numbers that answer.

* **post-dial delay** — routing step (the caller's ``Stasis`` / ``Dial`` Newexten on the pbx)
  → the officer's outbound channel is ``Ringing`` (pbx Newstate), both from the pbx's own AMI
  event timestamps (``timestampevents=yes``); native and routed calls alternate at
  ``--pdd-rate``/s in all (both paths see the same machine), p50 and p99, and the part
  before the officer's channel exists ("leg created": router + Asterisk's originate). A third
  path takes turns with them: ``bench/ari_floor.py``, an ARI app that only originates and
  bridges (pbx context ``bench-ari-floor``), so the ratios split Asterisk's ARI path from
  callrouter's own share;
* **sustained** — 10 s calls offered at ``--sustained-rate``/s for ``--sustained-seconds``:
  answered calls per second and lost calls (not answered by the officer, or cut);
* **short calls** — the officer answers at once and the caller hangs up 0.5 s later, offered
  at ``--short-rate``/s: set-up calls per second (officer answered) and failures;
  (calls/s = answered calls over the span of their answer times plus one arrival gap, so each
  path's fixed set-up latency — callrouter's menu and greeting — does not count against it)
* callrouter's CPU (% of one core over each measure) and RSS, also with ``--peak`` calls up.

Sizes come from ../shared/asterisk/README.md on this 2-core machine: 10 s calls at 5/s are
clean (≈56 up), 10/s loses calls, ≈105 calls at once is the ceiling; short calls collapse
above ≈60–70/s. Prints figures, ratios and the targets; not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from callrouter.calls.vocabulary import LEG_ID_PREFIX
from tests.e2e.callflow_support import write_rota
from tests.e2e.faults_support import cpu_and_rss, serve_process
from tests.e2e.harness import (
    ANSWERS,
    Harness,
    PlacedCall,
    Sandbox,
    SandboxInfo,
    officer_number,
)

MB = 1024 * 1024


@dataclass
class Result:
    offered: int = 0
    ok: int = 0
    lost: int = 0
    seconds: float = 0.0
    pdd_ms: list[float] = field(default_factory=list)
    created_ms: list[float] = field(default_factory=list)
    cpu_percent: float | None = None
    rss_mb: float | None = None

    @property
    def rate(self) -> float:
        """Calls set up per second: answered calls over the span their answers took (one
        inter-arrival gap added), so the fixed set-up latency of each path cancels out."""
        return self.ok / self.seconds if self.seconds else 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def pdd_ms(harness: Harness, call: PlacedCall, native: bool) -> tuple[float, float] | None:
    """Routing step → officer's outbound channel Ringing on the pbx, in ms, and routing step
    → that channel created (Newchannel): the part the router and Asterisk's channel set-up
    take, before the trunk's INVITE/180 round trip."""
    events = [e for e in harness.events.events if e.source == "pbx"]
    step = next(
        (
            e
            for e in events
            if e.name == "Newexten"
            and e.get("Application") == ("Dial" if native else "Stasis")
            and e.get("CallerIDNum") == call.caller_number
        ),
        None,
    )
    if step is None:
        return None
    linkedid = step.get("Linkedid")

    def leg_event(name: str, state: str | None) -> Any:
        return next(
            (
                e
                for e in events
                if e.name == name
                and (state is None or e.get("ChannelStateDesc") == state)
                and e.get("Linkedid") == linkedid
                and e.get("Uniqueid") != step.get("Uniqueid")
                and (native or e.get("Uniqueid").startswith(LEG_ID_PREFIX))
            ),
            None,
        )

    ring = leg_event("Newstate", "Ringing")
    created = leg_event("Newchannel", None)
    if ring is None or created is None:
        return None
    return (ring.timestamp - step.timestamp) * 1000, (created.timestamp - step.timestamp) * 1000


async def offer(
    harness: Harness,
    number: str,
    *,
    native: bool,
    rate: float,
    count: int,
    hold: float,
    sample: Callable[[], None] | None = None,
) -> tuple[list[PlacedCall], float]:
    """Place ``count`` calls at ``rate``/s; wait until all ended; (calls, seconds)."""
    calls: list[PlacedCall] = []
    t0 = time.monotonic()
    for i in range(count):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if native:
            calls.append(await harness.place_call(exten="8" + number, digits="", hold=hold))
        else:
            calls.append(await harness.place_call(digits="3", hold=hold))
        if sample is not None:
            sample()
    for call in calls:
        with contextlib.suppress(TimeoutError):
            await harness.wait_caller_hangup(call, within=hold + 60)
    return calls, time.monotonic() - t0


def judge(harness: Harness, number: str, calls: list[PlacedCall], native: bool) -> Result:
    result = Result(offered=len(calls))
    answers: list[float] = []
    for call in calls:
        officer = harness.officer(number, call)
        caller = harness.caller(call)
        if officer.answered and caller.hung_up_by == "caller" and officer.answered_at:
            result.ok += 1
            answers.append(officer.answered_at)
        else:
            result.lost += 1
        if (d := pdd_ms(harness, call, native)) is not None:
            result.pdd_ms.append(d[0])
            result.created_ms.append(d[1])
    if len(answers) > 1:
        gap = (max(c.originated_at for c in calls) - min(c.originated_at for c in calls)) / (
            len(calls) - 1
        )
        result.seconds = max(answers) - min(answers) + gap
    return result


async def measure(
    name: str,
    pid: int,
    run: Callable[[bool], Awaitable[Result]],
) -> tuple[Result, Result]:
    native = await run(True)
    cpu0, _ = cpu_and_rss(pid)
    t0 = time.monotonic()
    routed = await run(False)
    cpu1, rss = cpu_and_rss(pid)
    routed.cpu_percent = 100 * (cpu1 - cpu0) / (time.monotonic() - t0)
    routed.rss_mb = rss / MB
    show(name, native, routed)
    return native, routed


def show(name: str, native: Result, routed: Result, floor: Result | None = None) -> None:
    print(f"\n{name}")
    rows = [("native Dial()", native), ("callrouter", routed)]
    if floor is not None:
        rows.append(("bare ARI app", floor))
    for label, r in rows:
        extra = ""
        if r.pdd_ms:
            extra += (
                f"  PDD p50 {pct(r.pdd_ms, 0.5):.1f} ms p99 {pct(r.pdd_ms, 0.99):.1f} ms"
                f" (leg created p50 {pct(r.created_ms, 0.5):.1f} ms)"
            )
        if r.cpu_percent is not None:
            extra += f"  callrouter CPU {r.cpu_percent:.1f} % RSS {r.rss_mb:.0f} MB"
        print(
            f"  {label:14s} offered {r.offered:4d} ok {r.ok:4d} lost {r.lost:3d} "
            f"{r.rate:6.1f} calls/s{extra}"
        )


def ratio_line(what: str, value: float, target: str, ok: bool) -> str:
    return f"  {what:42s} {value:6.2f}  (target {target})  {'OK' if ok else 'MISSED'}"


@contextlib.asynccontextmanager
async def floor_process(script: str, *argv: str) -> AsyncIterator[int]:
    """``bench/<script>`` in its own process (as callrouter runs in its own) once it says
    ``ready``, until exit; yields its pid."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name(script)),
        *argv,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        if line.strip() != b"ready":
            raise RuntimeError(f"bench/{script} did not start: {line!r}")
        yield proc.pid
    finally:
        proc.terminate()
        await proc.wait()


def ari_floor(info: SandboxInfo, mode: str = "") -> contextlib.AbstractAsyncContextManager[int]:
    """bench/ari_floor.py against the pbx's ARI (``mode`` "same": callrouter's requests, see
    there); yields its pid."""
    pbx = info.pbx
    more = ("ws", mode) if mode else ()
    return floor_process("ari_floor.py", pbx.ari_url, pbx.ari_user, pbx.ari_password, *more)


async def bench(args: argparse.Namespace) -> None:
    sandbox = Sandbox(args.slot)
    started = time.monotonic()
    info = sandbox.start()
    print(f"sandbox slot {args.slot} up in {time.monotonic() - started:.1f} s")
    tmp = Path(tempfile.mkdtemp(prefix="bench-native-"))
    number = officer_number(ANSWERS, 1)  # rings 1 s, then answers
    quick = officer_number(ANSWERS, 0)  # answers at once (short calls)
    url = f"sqlite+aiosqlite:///{tmp / 'calls.sqlite3'}"
    try:
        async with Harness(info) as harness:
            rota = write_rota(tmp / "rota.yaml", [number], ring_timeout=20, max_wait=60)
            async with serve_process(info, rota, url, tmp / "state", drain=5) as router:
                pid = router.proc.pid
                _, rss0 = cpu_and_rss(pid)
                print(f"callrouter pid {pid}, RSS at start {rss0 / MB:.0f} MB")

                # Post-dial delay: native, routed and bare-ARI calls take turns (one every
                # 1/rate s), so all paths see the same machine: a few ms is within the noise
                # of batches run one after the other on a shared 2-core box.
                cpu0, _ = cpu_and_rss(pid)
                t0 = time.monotonic()
                paths = ("native", "routed", "floor")
                placed: dict[str, list[PlacedCall]] = {p: [] for p in paths}
                async with ari_floor(info):
                    for i in range(len(paths) * args.pdd_calls):
                        delay = t0 + i / args.pdd_rate - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        path = paths[i % len(paths)]
                        exten, digits = {
                            "native": ("8" + number, ""),
                            "routed": ("1022", "3"),
                            "floor": ("7" + number, ""),
                        }[path]
                        placed[path].append(
                            await harness.place_call(exten=exten, digits=digits, hold=3.0)
                        )
                    for call in [c for p in paths for c in placed[p]]:
                        with contextlib.suppress(TimeoutError):
                            await harness.wait_caller_hangup(call, within=60)
                cpu1, rss = cpu_and_rss(pid)
                p_native = judge(harness, number, placed["native"], True)
                p_routed = judge(harness, number, placed["routed"], False)
                p_floor = judge(harness, number, placed["floor"], False)
                p_routed.cpu_percent = 100 * (cpu1 - cpu0) / (time.monotonic() - t0)
                p_routed.rss_mb = rss / MB
                show(
                    f"post-dial delay, {args.pdd_calls} calls each, taking turns, "
                    f"{args.pdd_rate}/s in all",
                    p_native,
                    p_routed,
                    p_floor,
                )
                await harness.wait_idle(within=30)
                if args.pdd_only:
                    return await report(
                        args, p_native, p_routed, p_floor, sustained=None, short=None, peak_rss=0
                    )

                async def sustained(native: bool) -> Result:
                    count = int(args.sustained_rate * args.sustained_seconds)
                    calls, _ = await offer(
                        harness,
                        number,
                        native=native,
                        rate=args.sustained_rate,
                        count=count,
                        hold=10.0,
                    )
                    return judge(harness, number, calls, native)

                s_native, s_routed = await measure(
                    f"sustained: 10 s calls at {args.sustained_rate}/s for "
                    f"{args.sustained_seconds} s",
                    pid,
                    sustained,
                )
                await harness.wait_idle(within=30)

                write_rota(rota, [quick], ring_timeout=20, max_wait=60)
                await asyncio.sleep(4)  # the router polls the rota every 2 s

                async def short(native: bool) -> Result:
                    count = int(args.short_rate * args.short_seconds)
                    calls, _ = await offer(
                        harness,
                        quick,
                        native=native,
                        rate=args.short_rate,
                        count=count,
                        hold=0.5,
                    )
                    return judge(harness, quick, calls, native)

                h_native, h_routed = await measure(
                    f"short calls at {args.short_rate}/s for {args.short_seconds} s", pid, short
                )
                await harness.wait_idle(within=30)

                peak_rss = 0

                def sample() -> None:
                    nonlocal peak_rss
                    peak_rss = max(peak_rss, cpu_and_rss(pid)[1])

                calls, _ = await offer(
                    harness,
                    quick,
                    native=False,
                    rate=10,
                    count=args.peak,
                    hold=args.peak / 10 + 5,
                    sample=sample,
                )
                peak = judge(harness, quick, calls, False)
                sample()
                print(
                    f"\n{args.peak} calls up at once (10/s, held): answered {peak.ok}, "
                    f"lost {peak.lost}; callrouter peak RSS {peak_rss / MB:.0f} MB"
                )
                await report(
                    args,
                    p_native,
                    p_routed,
                    p_floor,
                    sustained=(s_native, s_routed),
                    short=(h_native, h_routed),
                    peak_rss=peak_rss,
                )
    finally:
        sandbox.stop()


async def report(
    args: argparse.Namespace,
    p_native: Result,
    p_routed: Result,
    p_floor: Result,
    *,
    sustained: tuple[Result, Result] | None,
    short: tuple[Result, Result] | None,
    peak_rss: int,
) -> None:
    print("\nratios (callrouter / native)")
    lines = []
    if p_native.pdd_ms and p_routed.pdd_ms:
        r50 = pct(p_routed.pdd_ms, 0.5) / pct(p_native.pdd_ms, 0.5)
        r99 = pct(p_routed.pdd_ms, 0.99) / pct(p_native.pdd_ms, 0.99)
        lines += [
            ratio_line("post-dial delay p50", r50, "<= 1.3", r50 <= 1.3),
            ratio_line("post-dial delay p99", r99, "<= 1.5", r99 <= 1.5),
        ]
        if p_floor.pdd_ms:
            f50 = pct(p_floor.pdd_ms, 0.5) / pct(p_native.pdd_ms, 0.5)
            f99 = pct(p_floor.pdd_ms, 0.99) / pct(p_native.pdd_ms, 0.99)
            c50 = pct(p_routed.pdd_ms, 0.5) / pct(p_floor.pdd_ms, 0.5)
            lines += [
                f"  {'bare ARI app / native, PDD p50 | p99':42s} {f50:6.2f} | {f99:.2f}"
                "  (Asterisk's ARI path alone)",
                f"  {'callrouter / bare ARI app, PDD p50':42s} {c50:6.2f}"
                "  (callrouter's own share)",
            ]
    if sustained and sustained[0].rate:
        s_native, s_routed = sustained
        rs = s_routed.rate / s_native.rate
        clean = s_routed.lost == 0
        lines.append(
            ratio_line("sustained calls/s (10 s calls, none lost)", rs, ">= 0.95", rs >= 0.95)
            + ("" if clean else f"  ({s_routed.lost} lost)")
        )
    if short and short[0].rate:
        h_native, h_routed = short
        rh = h_routed.rate / h_native.rate
        lines.append(ratio_line("short-call setup rate", rh, ">= 0.85", rh >= 0.85))
    mb = peak_rss / MB
    if peak_rss:
        lines.append(
            f"  {'callrouter RSS at ' + str(args.peak) + ' calls up (MB)':42s} {mb:6.0f}  "
            f"(target <= 100)  {'OK' if mb <= 100 else 'MISSED'}"
        )
    print("\n".join(lines))
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A bench's argument parser: its docstring's first line, and ``--slot`` (the sandbox
    slot; default ``CALLROUTER_SANDBOX_SLOT``, else 0)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument(
        "--slot", type=int, default=int(os.environ.get("CALLROUTER_SANDBOX_SLOT", "0"))
    )
    return parser


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--pdd-calls", type=int, default=100)
    parser.add_argument("--pdd-rate", type=float, default=3.0)
    parser.add_argument("--sustained-rate", type=float, default=5.0)
    parser.add_argument("--sustained-seconds", type=float, default=20.0)
    parser.add_argument("--short-rate", type=float, default=30.0)
    parser.add_argument("--short-seconds", type=float, default=4.0)
    parser.add_argument("--peak", type=int, default=100)
    parser.add_argument(
        "--pdd-only", action="store_true", help="measure the post-dial delay only (quick)"
    )
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
