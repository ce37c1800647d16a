"""Benchmark: decide() on a rota with a year of shifts and 200 overrides.

    .venv/bin/python bench/bench_decide.py [--calls N] [--seed S]

Builds the rota in memory (30 officers, 28 weekly shifts with overlaps and night shifts,
200 overrides spread over 2026, holiday rules, closed dates, make-up days), validates it
through the real loader, then times decide() at random instants of the year for each
strategy. Prints µs per decision (target: ≤ 50 µs): wall-clock per batch (mean, best,
worst) and CPU time of this process (steadier on a machine shared with other work).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from callrouter.rota import Rota, parse_rota, who_is_on_duty
from callrouter.routing import CallInfo, decide

TARGET_US = 50.0


def build_yaml(seed: int) -> str:
    rng = random.Random(seed)
    officers = [f"cb{i:02d}" for i in range(30)]
    lines = [
        "timezone: Asia/Ho_Chi_Minh",
        "branch: 3",
        "numbers:",
        '  - {label: co-dinh, number: "0226 3851 234"}',
        '  - {label: di-dong, number: "0912 680 135"}',
        "officers:",
    ]
    for i, oid in enumerate(officers):
        lines.append(
            f'  - {{id: {oid}, name: "Cán bộ {i}", phone: "09{i:08d}", email: {oid}@x.vn}}'
        )
    lines.append("shifts:")
    windows = [("07:00", "11:30"), ("11:00", "13:30"), ("13:00", "17:00"), ("17:00", "07:00")]
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        for begin, finish in windows:
            duty = ", ".join(
                f"{{officer: {o}, at: {rng.choice(['co-dinh', 'di-dong', 'own'])}}}"
                for o in rng.sample(officers, 3)
            )
            lines.append(
                f'  - {{days: [{day}], start: "{begin}", end: "{finish}", duty: [{duty}]}}'
            )
    lines.append('  - {days: [holiday], start: "08:00", end: "17:00", duty: [{officer: cb00}]}')
    lines.append("overrides:")
    year_start = datetime(2026, 1, 1)
    for i in range(200):
        start = year_start + timedelta(minutes=rng.randrange(0, 365 * 24 * 60 // 30) * 30)
        kind = i % 4
        if kind == 0:
            lines.append(
                f"  - {{date: {start:%Y-%m-%d}, reason: đổi ca {i}, "
                f"duty: [{{officer: {rng.choice(officers)}}}]}}"
            )
        elif kind == 3:
            end = start + timedelta(hours=rng.randint(1, 6))
            lines.append(
                f'  - {{from: "{start:%Y-%m-%d %H:%M}", to: "{end:%Y-%m-%d %H:%M}", '
                f"reason: đóng {i}, closed: true}}"
            )
        else:
            end = start + timedelta(hours=rng.randint(1, 72))
            duty = ", ".join(f"{{officer: {o}}}" for o in rng.sample(officers, 2))
            lines.append(
                f'  - {{from: "{start:%Y-%m-%d %H:%M}", to: "{end:%Y-%m-%d %H:%M}", '
                f"reason: thay {i}, duty: [{duty}]}}"
            )
    lines += [
        "holidays:",
        "  default: like:sun",
        "  rules:",
        "    - {match: Tết Nguyên Đán, staffing: shifts}",
        "    - {match: Quốc khánh, staffing: closed}",
        "  closed_dates: [2026-06-01, 2026-12-31]",
        "  make_up_days: [{date: 2026-08-22, like: mon}]",
        "policy: {strategy: sequential}",
    ]
    return "\n".join(lines) + "\n"


def with_strategy(rota: Rota, strategy: str) -> Rota:
    return rota.model_copy(update={"policy": rota.policy.model_copy(update={"strategy": strategy})})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1022)
    args = parser.parse_args()

    text = build_yaml(args.seed)
    started = time.perf_counter()
    rota = parse_rota(text, "bench-rota.yaml")
    load_ms = (time.perf_counter() - started) * 1000
    print(
        f"rota: {len(rota.officers)} officers, {len(rota.shifts)} weekly shifts, "
        f"{len(rota.overrides)} overrides, {len(text) // 1024} KiB; load+validate {load_ms:.0f} ms"
    )

    rng = random.Random(args.seed)
    year = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    moments = [
        datetime.fromtimestamp(year + rng.randrange(365 * 86400), UTC) for _ in range(args.calls)
    ]
    officers = [o.id for o in rota.officers]
    calls = [CallInfo(str(i), "0987654321", 3, rng.choice(officers)) for i in range(args.calls)]

    # cold: the first decision on each date computes that date's holiday/make-up plan
    cold_rota = parse_rota(text, "bench-rota.yaml")
    started = time.perf_counter_ns()
    for moment, call in zip(moments[:2000], calls[:2000], strict=True):
        decide(cold_rota, moment, call)
    cold_us = (time.perf_counter_ns() - started) / 2000 / 1000
    print(f"cold (first 2000 decisions, day plans being built): {cold_us:.1f} µs/decision")

    for strategy in ("sequential", "simultaneous", "rotate"):
        variant = with_strategy(rota, strategy)
        for moment, call in zip(moments[:5000], calls[:5000], strict=True):  # warm up
            decide(variant, moment, call)
        batches: list[float] = []
        cpu_started = time.process_time_ns()
        batch = 10_000
        for offset in range(0, args.calls, batch):
            chunk = list(
                zip(moments[offset : offset + batch], calls[offset : offset + batch], strict=True)
            )
            started = time.perf_counter_ns()
            for moment, call in chunk:
                decide(variant, moment, call)
            batches.append((time.perf_counter_ns() - started) / len(chunk) / 1000)
        cpu_us = (time.process_time_ns() - cpu_started) / args.calls / 1000
        mean = statistics.fmean(batches)
        verdict = "OK" if mean <= TARGET_US else "SLOW"
        print(
            f"{strategy:>12}: {mean:6.2f} µs/decision wall (best batch {min(batches):.2f}, "
            f"worst {max(batches):.2f}), {cpu_us:.2f} µs CPU, over {args.calls} decisions "
            f"[{verdict}, target ≤ {TARGET_US:.0f} µs]"
        )

    variant = with_strategy(rota, "sequential")
    started = time.perf_counter_ns()
    for moment in moments:
        who_is_on_duty(variant, moment)
    who_us = (time.perf_counter_ns() - started) / len(moments) / 1000
    opened = sum(decide(variant, m, c).open for m, c in zip(moments, calls, strict=True))
    print(
        f"who_is_on_duty: {who_us:.2f} µs/lookup; "
        f"{opened * 100 / len(moments):.0f} % of the sampled instants are open"
    )


if __name__ == "__main__":
    main()
