"""Calls the dialplan fallback handled while callrouter was down reach the call log.

callrouter is stopped; real calls go through the pbx's fallback (answered, busy, no answer,
abandoned, and a caller named ``Nguyen "Ba" Van`` whose call rings a busy number, a confirm
number that presses 9, then one that answers); Asterisk writes their CDR (cdr_custom JSON with
the fallback's marker and its per-Dial attempts). Then callrouter starts and its importer
writes one ``calls`` row per call (``mode=fallback``, the outcome Asterisk saw) and one
``call_attempts`` row per Dial within a minute — and importing again, even from the start of
the file, adds nothing. A call callrouter started and handed to the fallback keeps its one
row, completed from the CDR, its attempts numbered after callrouter's own. An officer who
hangs up while asked to press 1 does not take the caller with him: the next number rings and
takes the call, and the import logs that attempt ``declined`` with its cause, as ARI mode does.
"""

from __future__ import annotations

import asyncio
import json
import time
import wave
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from callrouter.asterisk import contract
from callrouter.asterisk.cdr_import import (
    CDR_FILENAME,
    REJECTED_FILENAME,
    STATE_FILENAME,
    import_once,
    serve_importer,
)
from callrouter.asterisk.fallback import write_fallback_include
from callrouter.rota import load_rota
from callrouter.rota_source import RotaSource
from callrouter.settings import Settings
from tests.e2e.agi_support import agi_mode, agi_url, free_port, running_agi_router
from tests.e2e.caller_support import rootfs
from tests.e2e.callflow_support import (
    ATTEMPTS,
    CALLS,
    call_events,
    engine_for,
    running_router,
    wait_for_call,
    write_rota,
)
from tests.e2e.harness import (
    ANSWERS,
    BUSY,
    HANGS_UP,
    PRESSES_9,
    RINGS_FOREVER,
    Harness,
    PlacedCall,
    Sandbox,
    officer_number,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240, func_only=True)]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"


@pytest.fixture
def cdr_file(sandbox: Sandbox) -> Path:
    return sandbox.info().pbx.log_dir / "cdr-custom" / CDR_FILENAME


def settings_for(tmp_path: Path, url: str, rota: Path) -> Settings:
    return Settings(
        database_url=SecretStr(url), state_dir=tmp_path / "state", rota_path=rota, branch=3
    )


async def fallback_call(
    harness: Harness,
    sandbox: Sandbox,
    rota_path: Path,
    *,
    hold: float,
    caller_name: str | None = None,
) -> PlacedCall:
    """One call through the fallback (no callrouter connected) ringing the rota's numbers."""
    write_fallback_include(
        load_rota(rota_path), sandbox.info().pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME
    )
    sandbox.cli("pbx", "dialplan reload")
    call = await harness.place_call(digits="3", hold=hold, caller_name=caller_name)
    await harness.events.wait_for(
        lambda e: (
            e.user_event == contract.EVENT_FALLBACK_END
            and e.get("CallerIDNum") == call.caller_number
        ),
        within=hold + 40,
        what="the fallback's end",
    )
    await harness.wait_caller_hangup(call, within=hold + 40)
    return call


async def rows_by_caller(url: str) -> dict[str, dict[str, Any]]:
    engine = engine_for(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(CALLS))).mappings().all()
    finally:
        await engine.dispose()
    return {r["caller"]: dict(r) for r in rows}


async def rows_if_created(url: str, path: Path) -> dict[str, dict[str, Any]]:
    """``rows_by_caller``, or nothing while the importer has not created the call log yet: its
    file appears when its engine first connects, its tables a moment later (the migration)."""
    if not await asyncio.to_thread(path.exists):
        return {}
    try:
        return await rows_by_caller(url)
    except OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return {}


async def attempts_by_caller(url: str) -> dict[str, list[dict[str, Any]]]:
    """Each caller's ``call_attempts`` rows, in ``seq`` order."""
    engine = engine_for(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(CALLS.c.caller, ATTEMPTS)
                    .join(CALLS, CALLS.c.id == ATTEMPTS.c.call_id)
                    .order_by(CALLS.c.caller, ATTEMPTS.c.seq)
                )
            ).mappings()
            out: dict[str, list[dict[str, Any]]] = {}
            for r in rows:
                out.setdefault(r["caller"], []).append(dict(r))
    finally:
        await engine.dispose()
    return out


def summary(attempts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(a["seq"], a["officer_id"], a["number"], a["result"]) for a in attempts]


async def test_calls_handled_while_callrouter_was_down_are_imported_once_within_a_minute(
    harness: Harness, sandbox: Sandbox, tmp_path: Path, sqlite_url: str, cdr_file: Path
) -> None:
    answers, busy, silent, presses_9 = (
        officer_number(ANSWERS, 1),
        officer_number(BUSY, 0),
        officer_number(RINGS_FOREVER, 0),
        officer_number(PRESSES_9, 1),
    )
    rotas = tmp_path / "rotas"
    rotas.mkdir()
    # callrouter is not running: every call below is the dialplan fallback's.
    answered = await fallback_call(
        harness, sandbox, write_rota(rotas / "a.yaml", [answers]), hold=7
    )
    busy_call = await fallback_call(harness, sandbox, write_rota(rotas / "b.yaml", [busy]), hold=20)
    no_answer = await fallback_call(
        harness, sandbox, write_rota(rotas / "c.yaml", [silent], ring_timeout=5), hold=25
    )
    abandoned = await fallback_call(
        harness, sandbox, write_rota(rotas / "d.yaml", [silent], ring_timeout=20), hold=6
    )
    # A caller name with quotes (Asterisk 22's cdr_custom leaves them unescaped in clid); the
    # fallback rings a busy number, a confirm number that presses 9, then one that answers.
    quoted = await fallback_call(
        harness,
        sandbox,
        write_rota(rotas / "e.yaml", [busy, presses_9, answers], confirm=(False, True, False)),
        hold=20,
        caller_name='Nguyen "Ba" Van',
    )
    assert harness.officer(answers, answered).answered
    assert harness.officer(answers, quoted).answered
    assert harness.caller(abandoned).hung_up_by == "caller"
    # The shipped mapping writes valid JSON on every line, the quoted name's call included.
    cdr_text = await asyncio.to_thread(cdr_file.read_text, encoding="utf-8")
    for n, line in enumerate(cdr_text.splitlines(), start=1):
        assert isinstance(json.loads(line), dict), f"{cdr_file}:{n} {line}"

    # callrouter starts: its importer runs beside it. Its rota has the officers an, binh and
    # chi at the answering, busy and silent numbers (the confirm number is not in it).
    rota = write_rota(tmp_path / "rota.yaml", [answers, busy, silent])
    settings = settings_for(tmp_path, sqlite_url, rota)
    started = time.monotonic()
    importer = asyncio.create_task(
        serve_importer(settings, cdr_path=cdr_file, interval=30, first_delay=1)
    )
    try:
        callers = {c.caller_number for c in (answered, busy_call, no_answer, abandoned, quoted)}
        while True:
            rows = await rows_if_created(sqlite_url, tmp_path / "calls.sqlite3")
            if callers <= set(rows):
                break
            assert time.monotonic() - started < 60, f"not imported within a minute: {rows}"
            await asyncio.sleep(0.2)  # poll with the one-minute deadline above
        took = time.monotonic() - started
    finally:
        importer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await importer

    got = {caller: (r["mode"], r["outcome"]) for caller, r in rows.items() if caller in callers}
    assert got == {
        answered.caller_number: ("fallback", "answered"),
        busy_call.caller_number: ("fallback", "unanswered"),
        no_answer.caller_number: ("fallback", "unanswered"),
        abandoned.caller_number: ("fallback", "abandoned"),
        quoted.caller_number: ("fallback", "answered"),
    }
    a = rows[answered.caller_number]
    assert a["answered_number"] == answers
    assert a["answered_officer_id"] == "an"
    assert a["talk_seconds"] is not None
    assert a["talk_seconds"] > 1.0
    officer = harness.officer(answers, answered)
    assert officer.talk_seconds is not None
    # Talk time to the second, plus the officer's ring time (the CDR has no pick-up time).
    assert officer.talk_seconds - 1.0 <= a["talk_seconds"] <= officer.talk_seconds + 1.0 + 2.0
    assert a["wait_seconds"] is not None
    ab = rows[abandoned.caller_number]
    assert ab["answered_at"] is None
    assert ab["ended_at"] is not None
    q = rows[quoted.caller_number]
    assert (q["answered_number"], q["answered_officer_id"]) == (answers, "an")
    print(f"fallback calls imported {took:.1f} s after start")

    # One call_attempts row per Dial, results as in ARI mode (the officer from the rota).
    attempts = {c: a for c, a in (await attempts_by_caller(sqlite_url)).items() if c in callers}
    assert {c: summary(a) for c, a in attempts.items()} == {
        answered.caller_number: [(1, "an", answers, "answered")],
        busy_call.caller_number: [(1, "binh", busy, "busy")],
        no_answer.caller_number: [(1, "chi", silent, "no_answer")],
        abandoned.caller_number: [(1, "chi", silent, "cancelled")],
        quoted.caller_number: [
            (1, "binh", busy, "busy"),
            (2, "unknown", presses_9, "declined"),
            (3, "an", answers, "answered"),
        ],
    }
    assert attempts[busy_call.caller_number][0]["cause"] == 17
    assert attempts[no_answer.caller_number][0]["cause"] == 19
    for caller, rows_of_call in attempts.items():
        call_row = rows[caller]
        for att in rows_of_call:
            assert att["ended_at"] is not None
            assert call_row["started_at"] <= att["started_at"] <= att["ended_at"]
            assert att["ended_at"] <= call_row["ended_at"]
            assert att["channel_id"].startswith(f"cdr:{call_row['linkedid']}:")
            assert (att["answered_at"] is not None) == (att["result"] in ("answered", "declined"))
    # The answered attempt's pick-up time is the call's answer time: the talk time is right to
    # the second at each end (Asterisk's EPOCH and CDR times are whole seconds).
    bridged = attempts[answered.caller_number][0]
    assert bridged["answered_at"] == a["answered_at"]
    assert officer.talk_seconds - 2.0 <= a["talk_seconds"] <= officer.talk_seconds + 2.0
    assert not (settings.state_dir / REJECTED_FILENAME).exists()

    # Once and only once: the command imports nothing more, rows unchanged — even when it reads
    # the whole file again (its saved offset lost).
    report = await import_once(settings, cdr_path=cdr_file)
    assert (report.imported, report.completed, report.attempts) == (0, 0, 0)
    await asyncio.to_thread((settings.state_dir / STATE_FILENAME).unlink)
    report = await import_once(settings, cdr_path=cdr_file)
    assert (report.imported, report.completed, report.attempts) == (0, 0, 0)
    assert report.already >= len(callers)
    again = {c: a for c, a in (await attempts_by_caller(sqlite_url)).items() if c in callers}
    assert again == attempts
    engine = engine_for(sqlite_url)
    try:
        async with engine.connect() as conn:
            counts: dict[str, int] = dict(
                (
                    await conn.execute(
                        select(CALLS.c.caller, func.count()).group_by(CALLS.c.caller)
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    assert all(counts[c] == 1 for c in callers)


async def test_an_officer_hanging_up_during_the_press_1_prompt_does_not_lose_the_caller(
    harness: Harness, sandbox: Sandbox, tmp_path: Path, sqlite_url: str, cdr_file: Path
) -> None:
    # callrouter is down. The confirm number picks up at once and hangs up 1.5 s later, in the
    # middle of the ~5 s prompt; the second number (no confirm) picks up after 1 s of ringing.
    hangs_up, answers = officer_number(HANGS_UP, 0), officer_number(ANSWERS, 1)
    rota = write_rota(tmp_path / "rota.yaml", [hangs_up, answers], confirm=(True, False))
    call = await fallback_call(harness, sandbox, rota, hold=10)
    # The officer's own hang-up event comes from the pstn a moment after the caller's.
    await harness.wait_user_event(
        "OfficerHangup", source="pstn", Number=answers, Caller=call.caller_number, within=5
    )

    assert harness.officers_rung(call) == [hangs_up, answers]
    gone, officer = harness.officer(hangs_up, call), harness.officer(answers, call)
    assert gone.answered
    assert gone.pressed == []
    assert gone.hung_up_at is not None
    assert officer.answered_at is not None
    assert gone.hung_up_at < officer.answered_at  # the next number rang after the hang-up
    caller = harness.caller(call)
    assert caller.hung_up_by == "caller", "the caller stayed on and talked to the second number"
    bridged = harness.bridged(call)
    assert bridged is not None
    # The pstn stamps OfficerAnswered after its Answer() has returned; the pbx may bridge in that
    # gap (CI saw it 0.3 ms ahead). Bridged while still ringing would be ~1 s early.
    assert bridged[0] >= officer.answered_at - 0.05
    assert officer.talk_seconds is not None
    assert officer.talk_seconds > 2

    settings = settings_for(tmp_path, sqlite_url, rota)
    report = await import_once(settings, cdr_path=cdr_file)
    assert report.imported >= 1
    row = (await rows_by_caller(sqlite_url))[call.caller_number]
    assert (row["mode"], row["outcome"]) == ("fallback", "answered")
    assert (row["answered_number"], row["answered_officer_id"]) == (answers, "binh")
    attempts = (await attempts_by_caller(sqlite_url))[call.caller_number]
    # As ARI and FastAGI mode write it (tests/e2e/test_calls_confirm.py): declined, cause 16.
    assert summary(attempts) == [
        (1, "an", hangs_up, "declined"),
        (2, "binh", answers, "answered"),
    ]
    assert attempts[0]["cause"] == 16
    assert attempts[0]["ended_at"] <= attempts[1]["started_at"]
    assert not (settings.state_dir / REJECTED_FILENAME).exists()


@pytest.fixture
def agi_port(sandbox: Sandbox) -> Iterator[int]:
    port = free_port()
    with agi_mode(sandbox, port):
        yield port


async def test_a_call_callrouter_handed_to_the_fallback_keeps_its_one_row_completed_from_cdr(  # noqa: PLR0917 -- fixtures
    harness: Harness,
    sandbox: Sandbox,
    tmp_path: Path,
    sqlite_url: str,
    cdr_file: Path,
    agi_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = officer_number(ANSWERS, 1)
    rota_path = write_rota(tmp_path / "rota.yaml", [answers])
    write_fallback_include(
        load_rota(rota_path), sandbox.info().pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME
    )
    # `dialplan reload` resets the globals: switch to FastAGI mode again after it.
    sandbox.cli("pbx", "dialplan reload")
    sandbox.cli("pbx", f"dialplan set global {contract.GLOBAL_AGI_URL} {agi_url(agi_port)}")
    sandbox.cli("pbx", f"dialplan set global {contract.GLOBAL_ROUTER} {contract.ROUTER_AGI}")

    def broken_decide(self: RotaSource, now: datetime, call: Any) -> Any:
        raise RuntimeError("injected fault in the routing decision")

    monkeypatch.setattr(RotaSource, "decide", broken_decide)
    engine = engine_for(sqlite_url)
    try:
        async with running_agi_router(rota_path, sqlite_url, tmp_path / "state", port=agi_port):
            call = await harness.place_call(digits="3", hold=8)
            await harness.wait_caller_hangup(call, within=40)
            before = await wait_for_call(engine, call.caller_number)
            await harness.events.wait_for(
                lambda e: (
                    e.user_event == contract.EVENT_FALLBACK_END
                    and e.get("CallerIDNum") == call.caller_number
                ),
                within=20,
                what="the fallback's end",
            )
        assert (before.call["mode"], before.call["outcome"]) == ("agi", "failed")
        settings = settings_for(tmp_path, sqlite_url, rota_path)
        report = await import_once(settings, cdr_path=cdr_file)
        assert report.completed == 1
        after = await wait_for_call(engine, call.caller_number)
        again = await import_once(settings, cdr_path=cdr_file)
        assert (again.imported, again.completed) == (0, 0)
        events = await call_events(engine, after.call["id"])
    finally:
        await engine.dispose()

    assert harness.officer(answers, call).answered
    c = after.call
    assert c["id"] == before.call["id"]
    assert c["mode"] == "agi"  # the row callrouter started, completed
    assert c["outcome"] == "answered"
    assert c["answered_number"] == answers
    assert {e["type"] for e in events} >= {"handed_to_fallback", "fallback_imported"}
    # The fallback's attempts follow callrouter's own (if any), numbered after them, once.
    own = [x for x in before.attempts if not x["channel_id"].startswith("cdr:")]
    imported = [x for x in after.attempts if x["channel_id"].startswith("cdr:")]
    assert [x["seq"] for x in after.attempts] == list(range(1, len(after.attempts) + 1))
    assert len(after.attempts) == len(own) + len(imported)
    assert [(x["number"], x["result"]) for x in imported] == [(answers, "answered")]
    assert imported[0]["seq"] == len(own) + 1


async def test_the_same_phone_through_callrouter_and_the_fallback_starts_and_waits_alike(
    harness: Harness, sandbox: Sandbox, tmp_path: Path, sqlite_url: str, cdr_file: Path
) -> None:
    """One definition of start and wait for every door (callrouter/calls/recorder.py): a row
    starts when the caller chose branch 3. The same phone (answers after 1 s of ringing) takes
    one call routed by callrouter (ARI) and one rung by the fallback: both rows start within
    moments of the caller's key, and the waits differ by the "please hold" the fallback plays
    before it rings (callrouter rings while it plays), not by the greeting and menu."""
    answers = officer_number(ANSWERS, 1)
    rota = write_rota(tmp_path / "rota.yaml", [answers])
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            routed = await harness.place_call(digits="3", hold=6)
            await harness.wait_caller_hangup(routed, within=30)
            ari = (await wait_for_call(engine, routed.caller_number)).call
        fell_back = await fallback_call(harness, sandbox, rota, hold=9)
        await import_once(settings_for(tmp_path, sqlite_url, rota), cdr_path=cdr_file)
        fallback = (await wait_for_call(engine, fell_back.caller_number)).call
    finally:
        await engine.dispose()

    assert (ari["mode"], ari["outcome"]) == ("ari", "answered")
    assert (fallback["mode"], fallback["outcome"]) == ("fallback", "answered")
    # Both rows start at the caller's key 3 (the pbx hears it a moment after the pstn sent it).
    keys: dict[str, float] = {}
    for name, call, row in (("ari", routed, ari), ("fallback", fell_back, fallback)):
        sent = harness.caller(call).digits_sent_at
        assert sent is not None
        start = row["started_at"]
        keys[name] = start.replace(tzinfo=start.tzinfo or UTC).timestamp() - sent
    # The waits (the officer's pick-up noted to the millisecond by both): the fallback's counts
    # its "please hold", played before the first Dial; nothing of the menu.
    hold_path = rootfs(harness.info) / "usr/share/asterisk/sounds/vi/callrouter/please-hold.wav"
    with wave.open(str(hold_path)) as w:
        please_hold = w.getnframes() / w.getframerate()
    assert ari["wait_seconds"] is not None
    assert fallback["wait_seconds"] is not None
    extra = fallback["wait_seconds"] - ari["wait_seconds"]
    print(
        f"wait: ari {ari['wait_seconds']:.2f} s, fallback {fallback['wait_seconds']:.2f} s "
        f"(please-hold {please_hold:.2f} s); row start after the key: {keys}"
    )
    for name, after_key in keys.items():
        assert -0.6 <= after_key <= 0.8, (name, keys)
    assert abs(keys["fallback"] - keys["ari"]) < 0.5, keys
    assert abs(extra - please_hold) < 0.3, (extra, please_hold)
