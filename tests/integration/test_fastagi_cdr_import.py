"""Importing fallback calls from a CDR file (real files, real call log on SQLite): bad lines
are named and skipped, a file rotated between or during imports loses and duplicates nothing,
half-written lines wait for the next run, and a second import adds nothing."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.asterisk import cdr_import, contract
from callrouter.asterisk.cdr_import import ImportReport, import_fallback
from callrouter.asterisk.cdr_lines import parse_line
from callrouter.cases.config import CasesConfig
from callrouter.report.figures import UnitInfo
from callrouter.report.periods import month_period
from callrouter.report.queries import compute_figures
from callrouter.rota import load_rota
from callrouter.settings import Settings
from callrouter.store.db import make_engine
from callrouter.store.models import Call, CallAttempt, CallEvent, call_id_for
from callrouter.store.writer import CallLog
from tests.e2e.callflow_support import write_rota

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def cdr(linkedid: str, n: int, *, result: str = "answered", **extra: Any) -> str:
    start = T0 + timedelta(minutes=n)
    dial_at = int((start + timedelta(seconds=5)).timestamp()) if result == "answered" else ""
    fields: dict[str, Any] = {
        "linkedid": linkedid,
        "uniqueid": linkedid,
        "src": f"09870000{n:02d}",
        "dst": "s",
        "dcontext": "callrouter-fallback",
        "channel": "PJSIP/pstn-trunk-00000001",
        "dstchannel": "PJSIP/pstn-trunk-00000002",
        "lastapp": "Dial",
        "start": start.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "answer": start.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "end": (start + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "duration": 30,
        "billsec": 30,
        "disposition": "ANSWERED" if result == "answered" else "NO ANSWER",
        "userfield": f"callrouter=fallback;linkedid={linkedid};reason=stasis-failed;rota=abc;"
        f"result={result};answered_by={'0901100001' if result == 'answered' else ''};"
        f"dial_at={dial_at}",
        "sequence": n,
    }
    fields.update(extra)
    return json.dumps({k: v for k, v in fields.items() if v is not ...}) + "\n"


@dataclass
class Env:
    cdr: Path
    state: Path
    log: CallLog
    engine: AsyncEngine

    async def run(self) -> ImportReport:
        return await import_fallback(self.cdr, self.state, self.log, self.engine)

    async def rows(self) -> dict[str, dict[str, Any]]:
        async with self.engine.connect() as conn:
            result = await conn.execute(select(Call.__table__))
            return {r["linkedid"]: dict(r) for r in result.mappings().all()}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    (tmp_path / "cdr").mkdir()
    engine = make_engine(url)
    try:
        async with CallLog(url, tmp_path / "spool", tz="Asia/Ho_Chi_Minh") as log:
            yield Env(
                tmp_path / "cdr" / "callrouter-cdr.json", tmp_path / "state.json", log, engine
            )
    finally:
        await engine.dispose()


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


async def test_a_fallback_call_is_imported_once_with_the_outcome_asterisk_saw(env: Env) -> None:
    append(env.cdr, cdr("pbx-1.1", 1) + cdr("pbx-1.2", 2, result="abandoned"))
    # A call that is not a fallback call (no marker) is not imported.
    append(env.cdr, cdr("pbx-1.3", 3, userfield=""))
    report = await env.run()
    assert (report.imported, report.completed, report.already) == (2, 0, 0)
    rows = await env.rows()
    assert set(rows) == {"pbx-1.1", "pbx-1.2"}
    a = rows["pbx-1.1"]
    assert (a["mode"], a["outcome"], a["answered_number"]) == ("fallback", "answered", "0901100001")
    assert a["talk_seconds"] == pytest.approx(25.0)  # from dial_at (5 s of ringing) to the end
    assert rows["pbx-1.2"]["outcome"] == "abandoned"
    again = await env.run()
    assert (again.imported, again.completed) == (0, 0)
    # Even from the start of the file (state lost): nothing is imported twice.
    env.state.unlink()
    third = await env.run()
    assert (third.imported, third.already) == (0, 2)
    assert len(await env.rows()) == 2


async def test_a_fallback_row_starts_when_the_caller_chose_branch_3_as_callrouter_rows_do(
    env: Env,
) -> None:
    # The dialplan notes with milliseconds when the caller chose branch 3 (routed_at): the
    # row starts there, as a row callrouter writes starts at StasisStart, so the wait counts
    # neither greeting nor menu. The CDR's start (arrival, whole seconds) is 3.4 s earlier.
    start = T0 + timedelta(minutes=1)
    routed = start.timestamp() + 3.4
    mark = f"callrouter=fallback;linkedid=pbx-2.1;reason=stasis-failed;routed_at={routed:.3f}"
    dial_at = int(start.timestamp()) + 5
    answered = f";rota=abc;result=answered;answered_by=0901100001;dial_at={dial_at}"
    line = cdr("pbx-2.1", 1, userfield=mark + answered)
    # The Dial's times, noted by the dialplan to the millisecond: wait and talk are exact (the
    # call ended during the Dial, 0.6 s after the CDR's whole-second end).
    dial, picked = start.timestamp() + 4.5, start.timestamp() + 6.125
    attempts = f"|1:0901100001:BRIDGED:16:{dial:.3f}:{start.timestamp() + 30.6:.3f}:{picked:.3f}:"
    exact = cdr(
        "pbx-2.3",
        1,  # the same minute as pbx-2.1, another caller
        src="0987000013",
        userfield=mark.replace("pbx-2.1", "pbx-2.3") + ";result=answered;answered_by=0901100001",
        **{contract.CDR_ATTEMPTS_VAR: attempts},
    )
    # An older dialplan's line (no routed_at): the CDR's start, as before.
    append(env.cdr, line + cdr("pbx-2.2", 2) + exact)
    await env.run()
    rows = await env.rows()
    new, old = rows["pbx-2.1"], rows["pbx-2.2"]
    assert new["started_at"].replace(tzinfo=UTC).timestamp() == pytest.approx(routed, abs=0.001)
    assert new["wait_seconds"] == pytest.approx(5 - 3.4, abs=0.001)  # not 5: no menu in it
    assert old["wait_seconds"] == pytest.approx(5.0)
    assert rows["pbx-2.3"]["wait_seconds"] == pytest.approx(6.125 - 3.4, abs=0.001)
    assert rows["pbx-2.3"]["talk_seconds"] == pytest.approx(30.6 - 6.125, abs=0.001)


async def test_lines_with_missing_fields_are_named_and_skipped(env: Env) -> None:
    good = cdr("pbx-2.1", 1)
    bad = [
        json.dumps({"uniqueid": "x", "start": "2026-11-02T08:00:00+0000"}),  # no linkedid
        cdr("pbx-2.2", 2, start=None).rstrip("\n"),
        cdr("pbx-2.3", 3, end="yesterday").rstrip("\n"),
        "{not json",
        "[1, 2]",
    ]
    append(env.cdr, "\n".join(bad) + "\n" + good)
    with structlog.testing.capture_logs() as logs:
        report = await env.run()
    assert report.bad_lines == 5
    assert report.imported == 1
    problems = [(e["line"], e["field"]) for e in logs if e["event"] == "cdr.bad_line"]
    assert problems == [(1, "linkedid"), (2, "start"), (3, "end"), (4, "-"), (5, "-")]
    assert all(e["file"] == str(env.cdr) for e in logs if e["event"] == "cdr.bad_line")
    assert set(await env.rows()) == {"pbx-2.1"}


async def test_a_half_written_last_line_waits_for_the_next_run(env: Env) -> None:
    line = cdr("pbx-3.1", 1)
    append(env.cdr, cdr("pbx-3.0", 0) + line[:40])
    assert (await env.run()).imported == 1
    append(env.cdr, line[40:])
    assert (await env.run()).imported == 1
    assert set(await env.rows()) == {"pbx-3.0", "pbx-3.1"}


async def test_a_file_rotated_between_imports_loses_and_duplicates_nothing(env: Env) -> None:
    append(env.cdr, cdr("pbx-4.1", 1))
    assert (await env.run()).imported == 1
    append(env.cdr, cdr("pbx-4.2", 2))  # written after the last import, before rotation
    os.rename(env.cdr, env.cdr.with_name(env.cdr.name + ".1"))
    append(env.cdr, cdr("pbx-4.3", 3))  # Asterisk starts a new file
    with structlog.testing.capture_logs() as logs:
        report = await env.run()
    assert report.imported == 2
    assert any(e["event"] == "cdr.rotated" for e in logs)
    assert set(await env.rows()) == {"pbx-4.1", "pbx-4.2", "pbx-4.3"}
    assert (await env.run()).imported == 0


async def test_a_file_rotated_while_an_import_reads_it_loses_and_duplicates_nothing(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(env.cdr, cdr("pbx-5.1", 1) + cdr("pbx-5.2", 2))
    real_read_fh = cdr_import._read_fh
    rotated = False

    def rotating_read_fh(fh: Any, path: Path, *args: Any, **kwargs: Any) -> tuple[int, int]:
        nonlocal rotated
        end = real_read_fh(fh, path, *args, **kwargs)
        if not rotated:  # rotate right after this import read the file, before it saves
            rotated = True
            append(path, cdr("pbx-5.3", 3))  # written just before the rotation
            os.rename(path, path.with_name(path.name + "-20261102"))
            append(path, cdr("pbx-5.4", 4))
        return end

    monkeypatch.setattr(cdr_import, "_read_fh", rotating_read_fh)
    assert (await env.run()).imported == 2
    monkeypatch.setattr(cdr_import, "_read_fh", real_read_fh)
    assert (await env.run()).imported == 2
    assert set(await env.rows()) == {"pbx-5.1", "pbx-5.2", "pbx-5.3", "pbx-5.4"}
    assert (await env.run()).imported == 0


async def test_a_truncated_file_is_read_again_from_its_start_without_duplicates(env: Env) -> None:
    append(env.cdr, cdr("pbx-6.1", 1) + cdr("pbx-6.2", 2))
    assert (await env.run()).imported == 2
    env.cdr.write_text(cdr("pbx-6.3", 3), encoding="utf-8")  # truncated in place, new line
    report = await env.run()
    assert report.imported == 1
    assert len(await env.rows()) == 3


def test_a_line_names_its_file_line_and_field() -> None:
    with pytest.raises(ValueError, match=r"x\.json:7: field 'end'"):
        parse_line(cdr("pbx-7.1", 1, end="soon"), Path("x.json"), 7)


async def attempt_rows(env: Env, linkedid: str) -> list[tuple[Any, ...]]:
    table = CallAttempt.__table__
    async with env.engine.connect() as conn:
        rows = await conn.execute(
            select(table.c.seq, table.c.number, table.c.result, table.c.cause, table.c.channel_id)
            .where(table.c.call_id == call_id_for(linkedid))
            .order_by(table.c.seq)
        )
        return [tuple(r) for r in rows.all()]


def epoch(n: int, seconds: int) -> int:
    return int((T0 + timedelta(minutes=n, seconds=seconds)).timestamp())


def dials(n: int, *entries: str) -> str:
    """``callrouter_attempts`` of call ``n``: entries ``index:number:status:cause:ring:end:
    answered:key`` with times in seconds after the call's start."""
    out = []
    for entry in entries:
        index, number, status, cause, ring, end, answered, key = entry.split(":")
        times = [str(epoch(n, int(t))) if t else "" for t in (ring, end, answered)]
        out.append(":".join([index, number, status, cause, *times, key]))
    return "|" + "|".join(out)


BUSY_1 = "1:0902000001:BUSY:17:5:5::"
ANSWERED_2 = "2:0901100001:BRIDGED:16:5:30:8:"


async def test_each_dial_becomes_one_attempt_once_even_from_the_start_of_the_file(
    env: Env,
) -> None:
    append(env.cdr, cdr("pbx-8.1", 1, callrouter_attempts=dials(1, BUSY_1, ANSWERED_2)))
    report = await env.run()
    assert (report.imported, report.attempts) == (1, 2)
    expected = [
        (1, "0902000001", "busy", 17, "cdr:pbx-8.1:1"),
        (2, "0901100001", "answered", 16, "cdr:pbx-8.1:2"),
    ]
    assert await attempt_rows(env, "pbx-8.1") == expected
    row = (await env.rows())["pbx-8.1"]
    assert row["talk_seconds"] == pytest.approx(22.0)  # from the officer's pick-up (8 s)
    assert (await env.run()).attempts == 0
    env.state.unlink()
    assert (await env.run()).attempts == 0
    assert await attempt_rows(env, "pbx-8.1") == expected


async def test_a_later_line_with_more_dials_adds_only_the_new_attempts(env: Env) -> None:
    # The chain's first line (first Dial over) is read before Asterisk writes the last one.
    append(
        env.cdr,
        cdr(
            "pbx-9.1",
            1,
            result="",
            userfield="callrouter=fallback;linkedid=pbx-9.1",
            callrouter_attempts=dials(1, BUSY_1),
        ),
    )
    assert (await env.run()).attempts == 1
    append(env.cdr, cdr("pbx-9.1", 1, callrouter_attempts=dials(1, BUSY_1, ANSWERED_2)))
    assert (await env.run()).attempts == 1
    assert [r[:3] for r in await attempt_rows(env, "pbx-9.1")] == [
        (1, "0902000001", "busy"),
        (2, "0901100001", "answered"),
    ]


async def test_a_handed_back_call_keeps_its_attempts_and_the_fallbacks_follow(env: Env) -> None:
    start = T0 + timedelta(minutes=1)
    env.log.call_started(
        linkedid="pbx-10.1",
        uniqueid="pbx-10.1",
        branch=3,
        caller="0987000001",
        started_at=start,
        mode="ari",
        rota_version="abc",
    )
    for seq, result in ((1, "no_answer"), (2, "busy")):
        env.log.attempt_started(
            linkedid="pbx-10.1",
            seq=seq,
            officer_id="an",
            officer_name="An",
            number=f"090300000{seq}",
            number_label=None,
            channel_id=f"callrouter-leg-{seq}",
            started_at=start + timedelta(seconds=seq),
        )
        env.log.attempt_ended(
            linkedid="pbx-10.1",
            seq=seq,
            result=result,
            cause=19,
            ended_at=start + timedelta(seconds=seq + 1),
        )
    env.log.call_ended(linkedid="pbx-10.1", ended_at=start, outcome="failed", hangup_cause=None)
    await env.log.flush()
    append(env.cdr, cdr("pbx-10.1", 1, callrouter_attempts=dials(1, BUSY_1, ANSWERED_2)))
    report = await env.run()
    assert (report.completed, report.attempts) == (1, 2)
    env.state.unlink()
    assert (await env.run()).attempts == 0
    assert [(r[0], r[4]) for r in await attempt_rows(env, "pbx-10.1")] == [
        (1, "callrouter-leg-1"),
        (2, "callrouter-leg-2"),
        (3, "cdr:pbx-10.1:1"),
        (4, "cdr:pbx-10.1:2"),
    ]
    assert (await env.rows())["pbx-10.1"]["outcome"] == "answered"


async def test_a_line_with_unescaped_quotes_is_repaired_and_bad_lines_are_kept(env: Env) -> None:
    quoted = cdr("pbx-11.1", 1, clid='"Nguyen "Ba" Van" <0987000001>')
    quoted = quoted.replace('\\"', '"')  # as Asterisk 22 writes it: not JSON
    missing = cdr("pbx-11.2", 2, end=...)
    append(env.cdr, quoted + "{broken\n" + missing)
    with structlog.testing.capture_logs() as logs:
        report = await env.run()
    assert (report.imported, report.repaired_lines, report.bad_lines) == (1, 1, 2)
    assert report.rejected_file == str(env.state.parent / cdr_import.REJECTED_FILENAME)
    assert set(await env.rows()) == {"pbx-11.1"}
    assert [e["line"] for e in logs if e["event"] == "cdr.repaired_line"] == [1]
    kept = [
        json.loads(line)
        for line in (env.state.parent / cdr_import.REJECTED_FILENAME).read_text().splitlines()
    ]
    assert [(k["file"], k["line"], k["field"]) for k in kept] == [
        (str(env.cdr), 2, "-"),
        (str(env.cdr), 3, "end"),
    ]
    assert kept[1]["text"] == missing.rstrip("\n")
    assert (await env.run()).bad_lines == 0  # kept once, not again at every run


async def test_a_rotated_files_last_line_without_newline_is_read(env: Env) -> None:
    append(env.cdr, cdr("pbx-12.1", 1))
    assert (await env.run()).imported == 1
    append(env.cdr, cdr("pbx-12.2", 2).rstrip("\n"))  # Asterisk stopped mid-way, then rotated
    rotated = env.cdr.with_name(env.cdr.name + ".1")
    os.rename(env.cdr, rotated)
    append(env.cdr, cdr("pbx-12.3", 3))
    # Changed a moment ago: a record may still be landing in it; the next run reads it all.
    assert (await env.run()).imported == 0
    settled = rotated.stat().st_mtime - cdr_import.ROTATED_SETTLE_SECONDS - 1
    os.utime(rotated, (settled, settled))
    assert (await env.run()).imported == 2
    assert set(await env.rows()) == {"pbx-12.1", "pbx-12.2", "pbx-12.3"}


async def test_the_monthly_report_counts_imported_fallback_calls_and_their_attempts(
    env: Env,
) -> None:
    append(
        env.cdr,
        cdr("pbx-13.1", 1, callrouter_attempts=dials(1, BUSY_1, ANSWERED_2))
        + cdr(
            "pbx-13.2",
            2,
            result="abandoned",
            callrouter_attempts=dials(
                2, "1:0902000001:BUSY:17:5:5::", "2:0901100001:CANCEL:16:5:9::"
            ),
        ),
    )
    assert (await env.run()).attempts == 4
    f = await compute_figures(
        env.engine,
        period=month_period("2026-11"),
        branch=3,
        service_level_seconds=20,
        timezone="Asia/Ho_Chi_Minh",
        unit=UnitInfo(name="TRUNG TÂM Y TẾ", governing_body="UBND HUYỆN"),
        cases_config=CasesConfig(topics={"khac": "Khác"}),
    )
    t = f.totals
    assert (t.received, t.answered, t.abandoned, t.fallback) == (2, 1, 1, 2)
    numbers = {n.number: n for n in f.numbers}
    busy, answering = numbers["0902000001"], numbers["0901100001"]
    assert (busy.attempts, busy.busy) == (2, 2)
    assert (answering.attempts, answering.answered, answering.cancelled) == (2, 1, 1)
    assert answering.answered_calls == 1
    assert t.talk_seconds_sum == pytest.approx(22.0)


async def test_the_forward_numbers_dial_is_an_attempt_of_officer_forward(env: Env) -> None:
    append(
        env.cdr,
        cdr(
            "pbx-14.1",
            1,
            result="forwarded",
            callrouter_attempts=dials(
                1, "1:0903000001:NOANSWER:0:5:25::", "f:0243000000:BRIDGED:16:26:50:28:"
            ),
        ),
    )
    assert (await env.run()).attempts == 2
    table = CallAttempt.__table__
    async with env.engine.connect() as conn:
        rows = await conn.execute(
            select(table.c.officer_id, table.c.number, table.c.result, table.c.cause)
            .where(table.c.call_id == call_id_for("pbx-14.1"))
            .order_by(table.c.seq)
        )
        got = [tuple(r) for r in rows.all()]
    assert got == [
        ("unknown", "0903000001", "no_answer", 19),
        ("forward", "0243000000", "answered", 16),
    ]
    row = (await env.rows())["pbx-14.1"]
    assert (row["outcome"], row["answered_at"]) == ("unanswered", None)


async def test_import_by_hand_works_while_serve_holds_its_spools(tmp_path: Path) -> None:
    """`callrouter calls import-fallback` beside a running `serve`: serve holds the main
    spool and its importer's; the run by hand writes through a spool of its own."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    settings = Settings(
        _env_file=None, database_url=SecretStr(url), state_dir=tmp_path / "state", branch=3
    )
    settings.state_dir.mkdir()
    spool = settings.effective_spool_dir()
    cdr_path = tmp_path / "callrouter-cdr.json"
    append(cdr_path, cdr("pbx-77.1", 1))
    async with (
        CallLog(url, spool) as _serve_log,
        CallLog(url, spool.with_name(cdr_import.IMPORTER_SPOOL)) as _serve_importer,
    ):
        report = await cdr_import.import_once(settings, cdr_path=cdr_path)
    assert report.imported == 1


async def test_a_killed_routers_open_attempts_are_closed_from_the_legs_cdr(env: Env) -> None:
    """SIGKILL while officers rang: attempts without a result are closed from what Asterisk's
    CDR says of each leg; a leg without a line of its own ends with the fallback's call."""
    start = T0 + timedelta(minutes=1)
    env.log.call_started(
        linkedid="pbx-12.1",
        uniqueid="pbx-12.1",
        branch=3,
        caller="0987000001",
        started_at=start,
        mode="ari",
        rota_version="abc",
    )
    for seq in (1, 2):
        env.log.attempt_started(
            linkedid="pbx-12.1",
            seq=seq,
            officer_id="an",
            officer_name="An",
            number=f"090100000{seq}",
            number_label=None,
            channel_id=f"callrouter-leg-{seq}-x",
            started_at=start,
        )
    await env.log.flush()
    leg_end = start + timedelta(seconds=4)
    leg = cdr(
        "pbx-12.1",
        1,
        uniqueid="callrouter-leg-1-x",
        userfield="",
        disposition="ANSWERED",
        end=leg_end.strftime("%Y-%m-%dT%H:%M:%S+0000"),
    )
    append(env.cdr, leg + cdr("pbx-12.1", 1, callrouter_attempts=dials(1, ANSWERED_2)))
    report = await env.run()
    assert report.completed == 1
    rows = await attempt_rows(env, "pbx-12.1")
    assert [(r[0], r[2]) for r in rows] == [(1, "answered"), (2, "cancelled"), (3, "answered")]
    table = CallAttempt.__table__
    async with env.engine.connect() as conn:
        ends = dict(
            (await conn.execute(select(table.c.seq, table.c.ended_at).order_by(table.c.seq))).all()
        )
    assert ends[1] == leg_end  # the leg's own CDR line
    assert all(ended is not None for ended in ends.values())
    assert (await env.rows())["pbx-12.1"]["outcome"] == "answered"


async def test_a_fallback_answer_goes_to_the_officer_on_duty_at_that_number_marked_inferred(
    env: Env, tmp_path: Path
) -> None:
    """The fallback knows numbers, not officers: the import names the officer the rota had on
    duty at that number then (not "unknown"), and says so in an ``answerer_inferred`` event."""
    rota = load_rota(write_rota(tmp_path / "rota.yaml", ["0901100001"]))
    append(env.cdr, cdr("pbx-13.1", 1))
    await import_fallback(env.cdr, env.state, env.log, env.engine, rota=rota)
    row = (await env.rows())["pbx-13.1"]
    assert (row["answered_officer_id"], row["answered_officer_name"]) == ("an", "Nguyễn Văn An")
    events = CallEvent.__table__
    async with env.engine.connect() as conn:
        [data] = (
            await conn.execute(
                select(events.c.data).where(
                    events.c.call_id == call_id_for("pbx-13.1"),
                    events.c.type == "answerer_inferred",
                )
            )
        ).scalars()
    assert data == {"officer_id": "an", "how": "on_duty_at_number", "rota": "abc"}
