"""Benchmark: one month's report over N calls (with attempts, call-backs and cases) spread over
3 years, PostgreSQL.

    .venv/bin/python bench/bench_report.py                 # 10 M calls (the issue's figure)
    .venv/bin/python bench/bench_report.py --n 1000000     # quicker
    .venv/bin/python bench/bench_report.py --reuse         # keep the data generated last time

The schema comes from the store's Alembic migrations (in a private PostgreSQL schema of the
callrouter_bench database); the data is generated inside PostgreSQL with generate_series.
Then, in the same run, it times (a) callrouter's report queries (``compute_figures``, the
code the CLI runs) and (b) hand-written SQL for the same figures on a raw asyncpg connection,
prints both, the ratio, and checks both gave the same numbers. Targets: (a) ≤ 2 s, (a)/(b) ≤ 1.5.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]

from callrouter.cases.config import CasesConfig
from callrouter.report.figures import UnitInfo
from callrouter.report.periods import month_period
from callrouter.report.queries import POSTGRESQL_SETTINGS, compute_figures
from callrouter.store.db import make_engine
from callrouter.store.migrate import upgrade

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/callrouter_bench"
START = "2024-01-01 00:00:00+07"
DAYS = 3 * 365 + 1  # 2024-01-01 .. 2026-12-31 (2024 is a leap year)
CATEGORIES = (
    "ARRAY['kham_chua_benh','bao_hiem_y_te','tiem_chung','dich_benh',"
    "'an_toan_thuc_pham','duoc_pham','khac']"
)
KINDS = "ARRAY['hoi_dap','hoi_dap','hoi_dap','phan_anh','kien_nghi','khac']"
STATUSES = "ARRAY['answered','in_progress','forwarded','resolved','told']"
AGENCIES = "ARRAY['so_y_te','bhxh','ubnd_xa']"

CALLS_SQL = f"""
INSERT INTO calls (id, linkedid, uniqueid, branch, caller, started_at, answered_at, ended_at,
    local_day, local_hour, outcome, answered_officer_id, answered_officer_name, answered_number,
    wait_seconds, talk_seconds, hangup_cause, mode, rota_version)
SELECT md5('bench' || i)::uuid::text, 'bench-' || i, 'bench-' || i,
    CASE WHEN r_branch < 0.9 THEN 3 ELSE 4 END,
    CASE WHEN r_caller < 0.98 THEN '09' || lpad(floor(r_caller * 3000000)::int::text, 8, '0') END,
    t,
    CASE WHEN o = 'answered' THEN t + w * interval '1 second' END,
    t + (w + coalesce(talk, 0) + 1) * interval '1 second',
    (t AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
    extract(hour FROM t AT TIME ZONE 'Asia/Ho_Chi_Minh')::smallint,
    o,
    CASE WHEN o = 'answered' THEN 'o' || officer END,
    CASE WHEN o = 'answered' THEN 'Cán bộ trực số ' || officer END,
    CASE WHEN o = 'answered' THEN '091000000' || officer END,
    CASE WHEN o IN ('answered', 'abandoned', 'unanswered') THEN w END,
    talk,
    16,
    CASE WHEN r_mode < 0.03 THEN 'fallback' ELSE 'ari' END,
    'bench0000000'
FROM (
    SELECT i, t, r_branch, r_caller, r_mode, 1 + floor(r_officer * 8)::int AS officer,
        CASE WHEN r_out < 0.60 THEN 'answered' WHEN r_out < 0.70 THEN 'abandoned'
             WHEN r_out < 0.75 THEN 'unanswered' WHEN r_out < 0.97 THEN 'after_hours'
             WHEN r_out < 0.995 THEN 'failed' END AS o,
        round((r_wait * r_wait * 60)::numeric, 1)::float8 AS w,
        CASE WHEN r_out < 0.60 THEN round((r_talk * 400)::numeric, 1)::float8 END AS talk
    FROM (
        SELECT i,
            timestamptz '{START}' + (i * ({DAYS}::float8 * 86400 / $3)) * interval '1 second' AS t,
            random() AS r_branch, random() AS r_caller, random() AS r_mode,
            random() AS r_officer, random() AS r_out, random() AS r_wait,
            random() AS r_talk
        FROM generate_series($1::bigint, $2::bigint) AS g(i)
    ) AS r
) AS c
"""  # noqa: S608 (only this file's constants are interpolated)

# Attempts for the calls started in [$1, $2): answered after a 15 s wait went through a first
# officer who did not answer; unanswered calls rang two officers; abandoned calls one.
ATTEMPTS_SQL = """
INSERT INTO call_attempts (call_id, seq, officer_id, officer_name, number, number_label,
    channel_id, started_at, answered_at, ended_at, result, cause)
SELECT c.id, s.seq,
    CASE WHEN s.seq = s.last AND c.outcome = 'answered' THEN c.answered_officer_id
         ELSE 'o' || (1 + (s.seq + length(c.id)) % 8) END,
    'Cán bộ', CASE WHEN s.seq = s.last AND c.outcome = 'answered' THEN c.answered_number
                   ELSE '0910000001' END,
    NULL, c.linkedid || '-' || s.seq, c.started_at + s.seq * interval '20 second',
    CASE WHEN s.seq = s.last AND c.outcome = 'answered' THEN c.answered_at END,
    c.started_at + s.seq * interval '20 second' + interval '15 second',
    CASE WHEN s.seq = s.last AND c.outcome = 'answered' THEN 'answered'
         WHEN c.outcome = 'abandoned' THEN 'cancelled'
         WHEN c.outcome = 'unanswered' AND s.seq = 1 THEN 'busy'
         ELSE 'no_answer' END,
    16
FROM calls c
CROSS JOIN LATERAL (
    SELECT seq, last FROM (
        SELECT CASE WHEN c.outcome = 'answered' AND c.wait_seconds > 15 THEN 1
                    WHEN c.outcome = 'unanswered' THEN 1
                    WHEN c.outcome IN ('answered', 'abandoned') THEN 0
                    ELSE -1 END AS last
    ) l, generate_series(0, l.last) AS seq
) s
WHERE c.started_at >= $1 AND c.started_at < $2
"""

CALLBACKS_SQL = """
INSERT INTO callbacks (id, call_id, number, reason, created_at, done_by, done_at)
SELECT md5('cb' || c.id)::uuid::text, c.id, c.caller,
    CASE WHEN c.outcome = 'abandoned' THEN 'abandoned' ELSE 'after_hours_message' END,
    c.ended_at, CASE WHEN random() < 0.7 THEN 'o1' END, NULL
FROM calls c
WHERE c.started_at >= $1 AND c.started_at < $2
  AND c.outcome IN ('abandoned', 'after_hours') AND c.caller IS NOT NULL AND random() < 0.33
"""

# Cases for 80 % of the answered calls started in [$1, $2): a reference per branch and year,
# a deadline two weeks on, closed when answered at once or told back, 1 % notable.
CASES_SQL = f"""
INSERT INTO cases (id, branch, ref_year, ref_seq, call_id, opened_at, opened_by, local_day,
    kind, topic, summary, answer, status, deadline, agency, forwarded_on, result, result_on,
    told_by, told_at, closed_on, notable, version, updated_at, updated_by)
SELECT md5('case' || id)::uuid::text, branch, extract(year FROM local_day)::int,
    $3 + row_number() OVER (ORDER BY started_at, id), id, ended_at, 'o1', local_day,
    kind, ({CATEGORIES})[1 + floor(r_topic * 7)::int], 'Nội dung ' || linkedid,
    CASE WHEN status = 'answered' THEN 'Đã hướng dẫn' END, status, local_day + 14,
    CASE WHEN status <> 'answered' THEN ({AGENCIES})[1 + floor(r_agency * 3)::int] END,
    CASE WHEN status <> 'answered' THEN local_day + 1 END,
    CASE WHEN status IN ('resolved', 'told') THEN 'Đã giải quyết' END,
    CASE WHEN status IN ('resolved', 'told') THEN local_day + 7 END,
    CASE WHEN status = 'told' THEN 'o1' END,
    CASE WHEN status = 'told' THEN ended_at + interval '8 days' END,
    CASE WHEN status = 'answered' THEN local_day WHEN status = 'told' THEN local_day + 8 END,
    r_notable < 0.01, 1, ended_at, 'o1'
FROM (
    SELECT c.*, k.kind,
        CASE WHEN k.kind = 'hoi_dap' THEN 'answered'
             ELSE ({STATUSES})[2 + floor(random() * 4)::int] END AS status,
        random() AS r_topic, random() AS r_agency, random() AS r_notable
    FROM calls c
    CROSS JOIN LATERAL (SELECT ({KINDS})[1 + floor(random() * 6)::int] AS kind) k
    WHERE c.started_at >= $1 AND c.started_at < $2 AND c.outcome = 'answered'
      AND random() < 0.8
) s
"""  # noqa: S608 (only this file's constants are interpolated)

# The same figures, written by hand as one would without callrouter's query builder.
HAND_SQL: dict[str, str] = {
    "totals": """
        SELECT count(*) AS received,
            count(*) FILTER (WHERE outcome = 'answered') AS answered,
            count(*) FILTER (WHERE outcome = 'abandoned') AS abandoned,
            count(*) FILTER (WHERE outcome = 'abandoned' AND wait_seconds <= 10) AS abandoned_short,
            count(*) FILTER (WHERE outcome = 'unanswered') AS unanswered,
            count(*) FILTER (WHERE outcome = 'after_hours') AS after_hours,
            count(*) FILTER (WHERE outcome = 'failed') AS failed,
            count(*) FILTER (WHERE outcome IS NULL) AS in_progress,
            count(*) FILTER (WHERE mode = 'fallback') AS fallback,
            count(*) FILTER (WHERE outcome = 'answered' AND wait_seconds <= $4)
                AS answered_within_sl,
            coalesce(sum(wait_seconds) FILTER (WHERE outcome = 'answered'), 0) AS wait_seconds_sum,
            count(wait_seconds) FILTER (WHERE outcome = 'answered') AS wait_count,
            coalesce(sum(talk_seconds) FILTER (WHERE outcome = 'answered'), 0) AS talk_seconds_sum,
            count(talk_seconds) FILTER (WHERE outcome = 'answered') AS talk_count,
            percentile_disc(0.9) WITHIN GROUP (ORDER BY wait_seconds)
                FILTER (WHERE outcome = 'answered') AS wait_p90_seconds
        FROM calls WHERE branch = $1 AND local_day BETWEEN $2 AND $3""",
    "histogram": """
        SELECT ceil(wait_seconds)::int, count(*) FROM calls
        WHERE branch = $1 AND local_day BETWEEN $2 AND $3 AND outcome = 'answered'
          AND wait_seconds IS NOT NULL
        GROUP BY 1 ORDER BY 1""",
    "repeat_callers": """
        SELECT count(*) FROM (SELECT caller FROM calls
            WHERE branch = $1 AND local_day BETWEEN $2 AND $3 AND caller IS NOT NULL
            GROUP BY caller HAVING count(*) >= 2) r""",
    "callbacks": """
        SELECT count(*), count(*) FILTER (WHERE b.done_at IS NOT NULL),
               count(*) FILTER (WHERE b.done_at IS NULL)
        FROM callbacks b LEFT JOIN calls c ON c.id = b.call_id
        WHERE b.created_at >= ($2::date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')
          AND b.created_at < (($3::date + 1)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')
          AND (b.call_id IS NULL OR c.branch = $1)""",
    "by_day": """
        SELECT local_day, count(*), count(*) FILTER (WHERE outcome = 'answered'),
            count(*) FILTER (WHERE outcome = 'abandoned'),
            count(*) FILTER (WHERE outcome = 'unanswered'),
            count(*) FILTER (WHERE outcome = 'after_hours')
        FROM calls WHERE branch = $1 AND local_day BETWEEN $2 AND $3 GROUP BY local_day""",
    "by_hour": """
        SELECT local_hour, count(*), count(*) FILTER (WHERE outcome = 'answered'),
            count(*) FILTER (WHERE outcome = 'abandoned')
        FROM calls WHERE branch = $1 AND local_day BETWEEN $2 AND $3 GROUP BY local_hour""",
    "officers": """
        SELECT answered_officer_id, max(answered_officer_name), count(*),
            coalesce(sum(talk_seconds), 0), count(talk_seconds),
            coalesce(sum(wait_seconds), 0), count(wait_seconds)
        FROM calls WHERE branch = $1 AND local_day BETWEEN $2 AND $3 AND outcome = 'answered'
          AND answered_officer_id IS NOT NULL
        GROUP BY answered_officer_id""",
    "officer_attempts": """
        SELECT a.officer_id, max(a.officer_name), count(*)
        FROM call_attempts a JOIN calls c ON c.id = a.call_id
        WHERE c.branch = $1 AND c.local_day BETWEEN $2 AND $3
          AND a.started_at >= ($2::date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')
                              - interval '1 day'
          AND a.started_at < (($3::date + 1)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')
                             + interval '2 days'
        GROUP BY a.officer_id""",
    "numbers": """
        SELECT a.number, max(a.number_label), count(*),
            count(*) FILTER (WHERE a.result = 'answered'),
            count(*) FILTER (WHERE a.result = 'busy'),
            count(*) FILTER (WHERE a.result = 'no_answer'),
            count(*) FILTER (WHERE a.result = 'declined'),
            count(*) FILTER (WHERE a.result = 'failed'),
            count(*) FILTER (WHERE a.result = 'cancelled')
        FROM call_attempts a JOIN calls c ON c.id = a.call_id
        WHERE c.branch = $1 AND c.local_day BETWEEN $2 AND $3
          AND a.started_at >= ($2::date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')
                              - interval '1 day'
          AND a.started_at < (($3::date + 1)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh')
                             + interval '2 days'
        GROUP BY a.number""",
    "answered_numbers": """
        SELECT answered_number, count(*) FROM calls
        WHERE branch = $1 AND local_day BETWEEN $2 AND $3 AND outcome = 'answered'
          AND answered_number IS NOT NULL GROUP BY answered_number""",
    "cases": """
        SELECT kind, topic, status, agency, count(*),
            count(*) FILTER (WHERE deadline < $4 AND (closed_on IS NULL OR closed_on > deadline)),
            count(*) FILTER (WHERE notable)
        FROM cases WHERE branch = $1 AND local_day BETWEEN $2 AND $3
        GROUP BY kind, topic, status, agency""",
    "notable": """
        SELECT ref_seq, ref_year, kind, topic, summary, status, agency, result FROM cases
        WHERE branch = $1 AND local_day BETWEEN $2 AND $3 AND notable
        ORDER BY local_day, ref_seq LIMIT 50""",
}


def _asyncpg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def generate(url: str, schema: str, n: int, chunk: int) -> None:
    conn = await asyncpg.connect(_asyncpg_url(url))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://"), search_path=schema)
    try:
        await upgrade(engine)  # the store's migrations: the same schema and indexes as production
    finally:
        await engine.dispose()

    conn = await asyncpg.connect(_asyncpg_url(url), server_settings={"search_path": schema})
    try:
        # Bulk load: foreign-key triggers off (the generator keeps references valid).
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SET synchronous_commit = off")
        t0 = time.perf_counter()
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk) - 1
            await conn.execute(CALLS_SQL, lo, hi, n)
            print(f"  calls {hi + 1:>11,} / {n:,}  {time.perf_counter() - t0:6.0f} s", flush=True)
        months = await conn.fetch(
            "SELECT m, m + interval '1 month' AS e FROM (SELECT generate_series("
            "date_trunc('month', min(started_at)), max(started_at), interval '1 month') AS m"
            " FROM calls) s"
        )
        for row in months:
            await conn.execute(ATTEMPTS_SQL, row["m"], row["e"])
            await conn.execute(CALLBACKS_SQL, row["m"], row["e"])
            # References continue across months (unique per branch and year is what counts).
            top = await conn.fetchval("SELECT coalesce(max(ref_seq), 0) FROM cases")
            await conn.execute(CASES_SQL, row["m"], row["e"], top)
        print(f"  attempts, call-backs, cases  {time.perf_counter() - t0:6.0f} s", flush=True)
        await conn.execute("RESET session_replication_role")
        await conn.execute("VACUUM (ANALYZE) calls")
        await conn.execute("VACUUM (ANALYZE) call_attempts")
        await conn.execute("VACUUM (ANALYZE) callbacks")
        await conn.execute("VACUUM (ANALYZE) cases")
        print(f"  vacuum analyze               {time.perf_counter() - t0:6.0f} s", flush=True)
    finally:
        await conn.close()


async def time_callrouter(
    url: str, schema: str, month: str, repeat: int, now: datetime
) -> tuple[list[float], Any]:
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://"), search_path=schema)
    period = month_period(month)
    times, figures = [], None
    try:
        for _ in range(repeat + 1):  # the first run warms the cache and the connection pool
            t0 = time.perf_counter()
            figures = await compute_figures(
                engine,
                period=period,
                branch=3,
                service_level_seconds=20,
                timezone="Asia/Ho_Chi_Minh",
                unit=UnitInfo(name="bench"),
                cases_config=CasesConfig(topics={"khac": "Khác"}),
                now=now,
            )
            times.append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
    return times[1:], figures


async def time_hand_sql(
    url: str, schema: str, month: str, repeat: int, as_of: date
) -> tuple[list[float], Any]:
    period = month_period(month)
    conn = await asyncpg.connect(_asyncpg_url(url), server_settings={"search_path": schema})
    times, results = [], {}
    try:
        for _ in range(repeat + 1):
            t0 = time.perf_counter()
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                for setting in POSTGRESQL_SETTINGS:  # the same session settings, to be fair
                    await conn.execute(setting)
                for name, sql in HAND_SQL.items():
                    args: list[Any] = [3, period.start, period.end]
                    if "$4" in sql:
                        args.append(as_of if name == "cases" else 20)
                    results[name] = await conn.fetch(sql, *args)
            times.append(time.perf_counter() - t0)
    finally:
        await conn.close()
    return times[1:], results


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000, help="calls to generate (default 10 M)")
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument("--schema", default="report_bench")
    ap.add_argument("--month", default="2026-06")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=1_000_000)
    ap.add_argument("--reuse", action="store_true", help="reuse the data of a previous run")
    args = ap.parse_args()

    if not args.reuse:
        print(f"generating {args.n:,} calls over 3 years into schema {args.schema} …")
        await generate(args.url, args.schema, args.n, args.chunk)
    else:  # data from an earlier run: bring its schema up to the current migrations
        engine = make_engine(
            args.url.replace("postgresql://", "postgresql+asyncpg://"), search_path=args.schema
        )
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
    conn = await asyncpg.connect(
        _asyncpg_url(args.url), server_settings={"search_path": args.schema}
    )
    try:
        calls = await conn.fetchval("SELECT count(*) FROM calls")
        attempts = await conn.fetchval("SELECT count(*) FROM call_attempts")
        cases = await conn.fetchval("SELECT count(*) FROM cases")
    finally:
        await conn.close()

    now = datetime.now(UTC)
    as_of = now.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    cr_times, figures = await time_callrouter(args.url, args.schema, args.month, args.repeat, now)
    hand_times, hand = await time_hand_sql(args.url, args.schema, args.month, args.repeat, as_of)
    t = figures.totals
    h = hand["totals"][0]
    counts = ("received", "answered", "abandoned", "abandoned_short", "unanswered",
              "after_hours", "failed", "in_progress", "fallback", "answered_within_sl",
              "wait_count", "talk_count")  # fmt: skip
    c = figures.cases.counts
    hand_cases = hand["cases"]
    checks = {
        "counts": all(getattr(t, k) == h[k] for k in counts),
        "sums": abs(t.wait_seconds_sum - h["wait_seconds_sum"]) < 1e-6 * max(1, t.wait_seconds_sum)
        and abs(t.talk_seconds_sum - h["talk_seconds_sum"]) < 1e-6 * max(1, t.talk_seconds_sum),
        "p90": t.wait_p90_seconds == h["wait_p90_seconds"],
        "histogram": t.wait_histogram == [(r[0], r[1]) for r in hand["histogram"]],
        "repeat callers": t.repeat_callers == hand["repeat_callers"][0][0],
        "call-backs": (t.callbacks_requested, t.callbacks_done, t.callbacks_open)
        == tuple(hand["callbacks"][0]),
        "by day": {d.day: d.received for d in figures.by_day if d.received}
        == {r[0]: r[1] for r in hand["by_day"]},
        "cases": (c.received, c.overdue, c.notable)
        == (
            sum(r[4] for r in hand_cases),
            sum(r[5] for r in hand_cases),
            sum(r[6] for r in hand_cases),
        )
        and {k.key: k.count for k in figures.cases.by_kind} == _sum_by(hand_cases, 0)
        and c.forwarded == _sum_by(hand_cases, 2).get("forwarded", 0)
        and len(figures.cases.notable) == len(hand["notable"]),
        "officers": {o.officer_id: o.attempts for o in figures.officers if o.attempts}
        == {r[0]: r[2] for r in hand["officer_attempts"]},
    }
    cr, hd = statistics.median(cr_times), statistics.median(hand_times)
    print(f"\ndata: {calls:,} calls, {attempts:,} attempts, {cases:,} cases; month {args.month}: "
          f"{t.received:,} calls, {c.received:,} cases of branch 3; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"callrouter report (compute_figures): median {cr:.3f} s, best {min(cr_times):.3f} s "
          "(runs: " + ", ".join(f"{x:.3f}" for x in cr_times) + ")")  # fmt: skip
    print(f"hand-written SQL (asyncpg):          median {hd:.3f} s, best {min(hand_times):.3f} s "
          "(runs: " + ", ".join(f"{x:.3f}" for x in hand_times) + ")")  # fmt: skip
    print(f"ratio callrouter / hand-written:     {cr / hd:.2f}× (medians)")
    bad = [k for k, ok in checks.items() if not ok]
    print("same figures: " + ("yes (" + ", ".join(checks) + ")" if not bad else f"NO: {bad}"))
    print(f"targets: ≤ 2 s {'met' if cr <= 2 else 'MISSED'}; "
          f"≤ 1.5× {'met' if cr / hd <= 1.5 else 'MISSED'}")  # fmt: skip


def _sum_by(rows: Any, column: int) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for r in rows:
        out[r[column]] = out.get(r[column], 0) + r[4]
    return out


if __name__ == "__main__":
    asyncio.run(main())
