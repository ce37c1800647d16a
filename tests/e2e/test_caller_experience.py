"""What a caller of branch 3 hears, and the closed / nobody-answered actions, end to end.

Real pbx + pstn, the real ``callrouter serve``. What the caller heard is read from the pbx's
own log (:mod:`tests.e2e.caller_support`): each sound Asterisk opened on the caller's channel
(with its language) and each music-on-hold start, with Asterisk's times. Recorded messages
are read from the pbx's recordings directory; rows from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import wave
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callrouter.calls.vocabulary import FORWARD_OFFICER_ID
from callrouter.store.models import callbacks
from tests.e2e.caller_support import (
    heard,
    missing_sound_warnings,
    pbx_channel,
    recordings_dir,
    rootfs,
    wait_heard,
)
from tests.e2e.callflow_support import (
    call_events,
    engine_for,
    running_router,
    wait_for_call,
    write_rota,
)
from tests.e2e.harness import (
    ANSWERS,
    BUSY,
    RINGS_FOREVER,
    Harness,
    officer_number,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120, func_only=True)]


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"


async def callback_rows(url: str, linkedid: str, within: float = 10.0) -> list[dict[str, Any]]:
    engine = engine_for(url)
    deadline = time.monotonic() + within
    try:
        while True:
            async with engine.connect() as conn:
                rows = [
                    dict(r._mapping)
                    for r in (
                        await conn.execute(select(callbacks).order_by(callbacks.c.created_at))
                    ).all()
                ]
            if rows or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return float(w.getnframes() / w.getframerate())


def wav_peak(path: Path) -> int:
    """Largest absolute 16-bit sample."""
    with wave.open(str(path)) as w:
        data = w.readframes(w.getnframes())
    samples = memoryview(data).cast("h")
    return max((abs(x) for x in samples), default=0)


def gsm_seconds(path: Path) -> float:
    """Length of a GSM 06.10 file: 33-byte frames of 20 ms."""
    return path.stat().st_size / 33 * 0.02


def sounds(items: list[Any]) -> list[str]:
    return [h.what for h in items]


# ------------------------------------------------------------------------------ scenarios


async def test_given_officers_ring_then_caller_hears_greeting_hold_music_and_periodic_reminders(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """Greeting, "please hold", music; every 4 s (as configured) music stops for the
    "please stay on the line" reminder and starts again after it."""
    silent = officer_number(RINGS_FOREVER, 0)
    rota = write_rota(tmp_path / "rota.yaml", [silent], ring_timeout=60, max_wait=60)
    engine = engine_for(sqlite_url)
    try:
        async with running_router(
            harness.info,
            rota,
            sqlite_url,
            tmp_path / "state",
            hold_reminder_seconds=4,
        ):
            call = await harness.place_call(digits="3", hold=19)
            await harness.wait_user_event("OfficerRinging", source="pstn", Number=silent, within=15)
            channel = pbx_channel(harness, call)
            await wait_heard(harness.info, channel, "callrouter/hold-reminder", count=2, within=25)
            exp = await harness.wait_caller_hangup(call, within=30)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()

    assert exp.hung_up_by == "caller"
    played = heard(harness.info, channel)
    names = sounds(played)
    # The menu (dialplan), then callrouter: greeting, please hold, music.
    start = names.index("callrouter/greeting")
    assert names[start : start + 3] == ["callrouter/greeting", "callrouter/please-hold", "moh"]
    assert all(h.lang == "vi" for h in played if h.what.startswith("callrouter/"))
    reminders = [h for h in played if h.what == "callrouter/hold-reminder"]
    assert len(reminders) >= 2
    # Each reminder is followed by music again, and reminders come about every 4 s
    # (a reminder is skipped while another prompt still plays).
    for reminder in reminders[:-1]:
        after = names[played.index(reminder) + 1]
        assert after == "moh"
    gaps = [b.at - a.at for a, b in itertools.pairwise(reminders)]
    assert all(3.5 <= gap <= 9.0 for gap in gaps), gaps
    assert reminders[0].at - played[start].at >= 3.5
    assert rows.call["outcome"] == "abandoned"


async def test_given_closed_then_caller_hears_so_and_leaves_a_message_for_a_callback(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """after_hours_action message: closed message, "leave a message after the beep", beep;
    the caller speaks (the pstn plays vm-intro into the call) and presses #; thanks, hang
    up. A call-back entry holds the recording; outcome after_hours; nobody rang."""
    officer = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [officer], closed=True, after_hours="message")
    root = rootfs(harness.info)
    vi = root / "usr/share/asterisk/sounds/vi/callrouter"
    before_beep = wav_seconds(vi / "closed.wav") + wav_seconds(vi / "leave-message.wav")
    spoken = gsm_seconds(root / "usr/share/asterisk/sounds/en_US_f_Allison/vm-intro.gsm")
    engine = engine_for(sqlite_url)
    try:
        async with running_router(
            harness.info,
            rota,
            sqlite_url,
            tmp_path / "state",
            message_max_seconds=30,
        ):
            call = await harness.place_call(
                digits="3", hold=30, say="vm-intro", say_after=before_beep + 2, then_digits="#"
            )
            exp = await harness.wait_caller_hangup(call, within=60)
            rows = await wait_for_call(engine, call.caller_number)
            events = await call_events(engine, rows.call["id"])
    finally:
        await engine.dispose()

    assert exp.hung_up_by == "network"  # the pbx hung up after the thanks, not at 30 s
    assert harness.events.find(lambda e: e.user_event == "CallerSaid" and e.get("Tag") == call.tag)
    assert harness.officers_rung(call) == []
    names = sounds(heard(harness.info, pbx_channel(harness, call)))
    start = names.index("callrouter/closed")
    assert names[start:] == [
        "callrouter/closed",
        "callrouter/leave-message",
        "beep",
        "callrouter/message-saved",
    ]
    c = rows.call
    assert c["outcome"] == "after_hours"
    assert rows.attempts == []
    assert "action" in [e["type"] for e in events]
    found = await callback_rows(sqlite_url, c["linkedid"])
    assert len(found) == 1
    entry = found[0]
    assert entry["call_id"] == c["id"]
    assert entry["number"] == call.caller_number
    assert entry["reason"] == "after_hours_message"
    assert entry["recording"].endswith(".wav")
    path = recordings_dir(harness.info) / entry["recording"]
    assert path.is_file(), path
    # What the caller said is in it: about as long as vm-intro (ended by #), and not silent.
    seconds = wav_seconds(path)
    assert spoken - 1.0 <= seconds <= spoken + 2.5, (seconds, spoken)
    assert wav_peak(path) > 1000


async def test_given_nobody_answers_and_forward_then_forward_number_takes_it_as_unanswered(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """nobody_answered_action forward:<number>: after the rota's numbers, callrouter rings
    the forward number itself (no second round of the rota) and bridges it; the call stays
    ``unanswered`` (no officer of the rota took it) and the forward is an attempt row."""
    busy, forward = officer_number(BUSY, 0), officer_number(ANSWERS, 1)
    rota = write_rota(tmp_path / "rota.yaml", [busy], nobody_answered=f"forward:{forward}")
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call = await harness.place_call(digits="3", hold=12)
            await harness.wait_user_event(
                "OfficerAnswered", source="pstn", Number=forward, within=20
            )
            exp = await harness.wait_caller_hangup(call, within=30)
            rows = await wait_for_call(engine, call.caller_number)
            events = await call_events(engine, rows.call["id"])
    finally:
        await engine.dispose()

    assert exp.hung_up_by == "caller"
    assert harness.officers_rung(call) == [busy, forward]
    assert harness.bridged(call) is not None
    names = sounds(heard(harness.info, pbx_channel(harness, call)))
    assert "callrouter/forwarding" in names
    c = rows.call
    assert c["outcome"] == "unanswered"
    assert c["answered_officer_id"] is None
    assert [(a["officer_id"], a["number"], a["result"]) for a in rows.attempts] == [
        ("an", busy, "busy"),
        (FORWARD_OFFICER_ID, forward, "answered"),
    ]
    types = [e["type"] for e in events]
    assert "forward" in types
    assert "forward_answered" in types


async def test_given_closed_and_forward_then_forward_number_rings_and_call_is_after_hours(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    # The forward number rings 8 s: "closed" and "forwarding" (6.5 s) are heard in full
    # before the bridge stops whatever still plays.
    officer, forward = officer_number(ANSWERS, 0), officer_number(ANSWERS, 8)
    rota = write_rota(
        tmp_path / "rota.yaml", [officer], closed=True, after_hours=f"forward:{forward}"
    )
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call = await harness.place_call(digits="3", hold=20)
            await harness.wait_caller_hangup(call, within=30)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()

    assert harness.officers_rung(call) == [forward]
    assert harness.bridged(call) is not None
    names = sounds(heard(harness.info, pbx_channel(harness, call)))
    start = names.index("callrouter/closed")
    assert names[start : start + 2] == ["callrouter/closed", "callrouter/forwarding"]
    assert rows.call["outcome"] == "after_hours"
    assert [(a["officer_id"], a["result"]) for a in rows.attempts] == [
        (FORWARD_OFFICER_ID, "answered")
    ]


# --------------------------------------------------------------------- English fallback


@contextlib.contextmanager
def prompt_folder(root: Path, folder: str, *, vi_missing: set[str]) -> Any:
    """A prompt folder ``folder`` in the pbx's sounds (sounds/<lang>/<folder>): every
    Vietnamese prompt but ``vi_missing``, and every English one; removed afterwards."""
    sounds = root / "usr/share/asterisk/sounds"
    en_target = (root / "etc/alternatives/asterisk-prompt-en").readlink()
    en_dir = root / str(en_target).lstrip("/")
    made = []
    for lang_dir, skip in ((sounds / "vi", vi_missing), (en_dir, set[str]())):
        src, dst = lang_dir / "callrouter", lang_dir / folder
        dst.mkdir(parents=True, exist_ok=True)
        made.append(dst)
        for wav in src.glob("*.wav"):
            if wav.stem not in skip:
                (dst / wav.name).write_bytes(wav.read_bytes())
    view = root.parent / f"sounds-view-{folder}"  # callrouter's view: en resolved on the host
    view.mkdir(exist_ok=True)
    for name, target in (("vi", sounds / "vi"), ("en", en_dir)):
        link = view / name
        if not link.exists():
            link.symlink_to(target)
    try:
        yield view
    finally:
        for path in made:
            for f in path.glob("*"):
                f.unlink()
            path.rmdir()
        for name in ("vi", "en"):
            (view / name).unlink(missing_ok=True)
        view.rmdir()


@pytest.mark.parametrize("explicit", [True, False], ids=["callrouter-checks", "asterisk-only"])
async def test_given_a_vietnamese_prompt_is_missing_then_the_caller_hears_it_in_english(
    harness: Harness, tmp_path: Path, sqlite_url: str, explicit: bool
) -> None:
    """The greeting exists only in English. With the sounds directory visible, callrouter
    plays it with lang=en (the pbx log says language 'en'); without, Asterisk's own
    language fallback finds the English file (no "does not exist" warning, unlike a
    prompt missing in both languages, which is skipped: the call goes on)."""
    folder = f"callrouter-e2e-{harness.info.slot}-{'x' if explicit else 'a'}"
    silent = officer_number(RINGS_FOREVER, 0)
    rota = write_rota(tmp_path / "rota.yaml", [silent], ring_timeout=60, max_wait=60)
    root = rootfs(harness.info)
    with prompt_folder(root, folder, vi_missing={"greeting"}) as view:
        async with running_router(
            harness.info,
            rota,
            sqlite_url,
            tmp_path / "state",
            prompt_folder=folder,
            sounds_dir=view if explicit else None,
        ):
            call = await harness.place_call(digits="3", hold=8)
            await harness.wait_user_event("OfficerRinging", source="pstn", Number=silent, within=15)
            channel = pbx_channel(harness, call)
            await wait_heard(harness.info, channel, "moh", within=20)
            await harness.wait_caller_hangup(call, within=20)

    played = [h for h in heard(harness.info, channel) if h.what.startswith(folder)]
    assert [h.what for h in played] == [f"{folder}/greeting", f"{folder}/please-hold"]
    greeting, hold = played
    assert hold.lang == "vi"
    if explicit:
        assert greeting.lang == "en"
    else:
        assert greeting.lang == "vi"  # asked in vi; Asterisk found the English file
    assert missing_sound_warnings(harness.info, f"{folder}/greeting") == []


async def test_given_nobody_answers_and_the_caller_hangs_up_while_speaking_then_the_message_is_kept(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """nobody_answered_action message: "nobody answered", "leave a message", beep; the
    caller speaks and hangs up without #: what they said is recorded and a call-back entry
    (reason unanswered) holds it; the call is unanswered, its wait the ringing only."""
    busy = officer_number(BUSY, 0)
    rota = write_rota(tmp_path / "rota.yaml", [busy], nobody_answered="message")
    root = rootfs(harness.info)
    vi = root / "usr/share/asterisk/sounds/vi/callrouter"
    before_beep = wav_seconds(vi / "nobody-answered.wav") + wav_seconds(vi / "leave-message.wav")
    spoken = gsm_seconds(root / "usr/share/asterisk/sounds/en_US_f_Allison/vm-intro.gsm")
    engine = engine_for(sqlite_url)
    try:
        async with running_router(
            harness.info,
            rota,
            sqlite_url,
            tmp_path / "state",
            message_max_seconds=30,
        ):
            call = await harness.place_call(
                digits="3", hold=0, say="vm-intro", say_after=before_beep + 2
            )
            exp = await harness.wait_caller_hangup(call, within=60)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()

    assert exp.hung_up_by == "caller"
    names = sounds(heard(harness.info, pbx_channel(harness, call)))
    start = names.index("callrouter/nobody-answered")
    assert names[start:] == ["callrouter/nobody-answered", "callrouter/leave-message", "beep"]
    c = rows.call
    assert c["outcome"] == "unanswered"
    assert c["wait_seconds"] < 3.0  # the busy number, not the message
    [entry] = await callback_rows(sqlite_url, c["linkedid"])
    assert entry["call_id"] == c["id"]
    assert entry["reason"] == "unanswered"
    path = recordings_dir(harness.info) / entry["recording"]
    assert path.is_file(), path
    assert spoken - 1.0 <= wav_seconds(path) <= spoken + 2.5
    assert wav_peak(path) > 1000
