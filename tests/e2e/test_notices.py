"""Health notices heard by a caller while the officer's phone rings, end to end (issue 21).

Real pbx + pstn, the real ``callrouter serve`` in ARI and FastAGI mode, the notice spoken by
espeak-ng on this machine into the pbx's sounds directory. What the caller heard comes from
the pbx's own log (:mod:`tests.e2e.caller_support`): ARI mode plays the notice as a sound
after the greeting; FastAGI mode (and the dialplan fallback) dial with the notice's music
class, whose announcement is the notice. An expired notice in the same file is never heard.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callrouter.asterisk import contract
from callrouter.asterisk.fallback import write_fallback_include
from callrouter.notices.board import NoticeBoard, music_class, sound_name
from callrouter.rota import parse_rota
from callrouter.web import WebSettings
from tests.e2e.agi_support import free_port
from tests.e2e.caller_support import (
    heard,
    log_lines,
    missing_sound_warnings,
    moh_classes,
    moh_stops,
    pbx_channel,
    rootfs,
    wait_heard,
)
from tests.e2e.callflow_support import engine_for, running_router, wait_for_call, write_rota
from tests.e2e.harness import (
    ANSWERS,
    RINGS_FOREVER,
    AmiEvent,
    Harness,
    Sandbox,
    SandboxInfo,
    officer_number,
)
from tests.e2e.router_modes import RouterMode
from tests.integration.test_web_browser import _wait_for_text, browser, log_in, run
from tests.integration.test_web_notices_browser import write_notice
from tests.integration.web_harness import PASSWORD_HASH, USER

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120, func_only=True)]
__all__ = ["browser"]

# Longer once spoken (about 13 s) than the 8 s the officer's phone rings before answering:
# the bridge must cut it in every mode.
NOTICE = (
    "Thông báo của TTYT: từ 15/12 tiêm chủng miễn phí cho trẻ em dưới 5 tuổi tại trạm y tế"
    " xã, phường; khi đi tiêm xin mang theo thẻ BHYT và sổ tiêm chủng của trẻ."
)
EXPIRED = "Thông báo cũ: lịch tiêm ngày 1/6 đã kết thúc."
AFTER_HOURS = "Ngoài giờ làm việc, cấp cứu xin gọi 115."
WEB_NOTICE = "Trạm Y tế xã tiêm chủng miễn phí cho trẻ em vào ngày 25 hằng tháng."


def write_notices(path: Path) -> None:
    """One notice valid for the hour around now, one that expired yesterday, one for callers
    after hours (UTC dates)."""
    now = datetime.now(UTC)
    fmt = "%Y-%m-%d %H:%M"
    path.write_text(
        "timezone: UTC\n"
        "notices:\n"
        "  - id: cu\n"
        f"    text: {json.dumps(EXPIRED, ensure_ascii=False)}\n"
        f"    valid_from: {now - timedelta(days=3):{fmt}}\n"
        f"    valid_until: {now - timedelta(days=1):{fmt}}\n"
        "  - id: tiem-chung\n"
        f"    text: {json.dumps(NOTICE, ensure_ascii=False)}\n"
        f"    valid_from: {now - timedelta(hours=1):{fmt}}\n"
        f"    valid_until: {now + timedelta(hours=1):{fmt}}\n"
        "  - id: ngoai-gio\n"
        f"    text: {json.dumps(AFTER_HOURS, ensure_ascii=False)}\n"
        f"    valid_from: {now - timedelta(hours=1):{fmt}}\n"
        f"    valid_until: {now + timedelta(hours=1):{fmt}}\n"
        "    audience: after_hours\n",
        encoding="utf-8",
    )


@pytest.fixture
async def notice_board(sandbox: Sandbox, harness: Harness, tmp_path: Path) -> NoticeBoard:
    """What `callrouter notices install` does on a server: the notices spoken into the pbx's
    sounds directory, both include files written, the dialplan and music classes reloaded."""
    info = harness.info
    board = NoticeBoard(
        tmp_path / "notices.yaml",
        sounds_dir=rootfs(info) / "usr/share/asterisk/sounds",
        etc_dir=info.pbx.etc_dir,
    )
    write_notices(board.path)
    assert await asyncio.to_thread(board.reload)
    assert board.current_set is not None
    assert board.current_set.problems == ()
    sandbox.cli("pbx", "dialplan reload")
    sandbox.cli("pbx", "moh reload")
    return board


@dataclass(frozen=True)
class AnsweredCall:
    """A branch-3 call the officer's phone answered: the caller's pbx channel and the
    officer's OfficerRinging and OfficerAnswered events."""

    channel: str
    ringing: AmiEvent
    answered: AmiEvent


async def answered_call(harness: Harness, officer: str, *, hold: float) -> AnsweredCall:
    """Place a branch-3 call the officer's phone answers; returns once the caller hung up."""
    call = await harness.place_call(digits="3", hold=hold)
    ringing = await harness.wait_user_event(
        "OfficerRinging", source="pstn", Number=officer, within=15
    )
    answered = await harness.wait_user_event(
        "OfficerAnswered", source="pstn", Number=officer, within=20
    )
    channel = pbx_channel(harness, call)
    await harness.wait_caller_hangup(call, within=30)
    return AnsweredCall(channel, ringing, answered)


def assert_the_bridge_cut_the_notice(
    info: SandboxInfo, call: AnsweredCall, started: float, seconds: float
) -> None:
    """The notice's music class (started at ``started``, ``seconds`` long) stopped when the
    officer answered, before it would have ended by itself."""
    answered = call.answered.timestamp
    assert answered < started + seconds - 1.0, "the notice ends before the answer: no proof"
    stops = [t for t in moh_stops(info, call.channel) if t >= started]
    assert stops, "the notice's music was never stopped"
    assert answered - 0.5 <= stops[0] <= answered + 1.5, (stops[0], answered)


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"


async def test_given_a_notice_valid_now_then_the_caller_hears_it_while_the_officer_rings(
    router_mode: RouterMode,
    notice_board: NoticeBoard,
    harness: Harness,
    tmp_path: Path,
    sqlite_url: str,
) -> None:
    """The officer's phone rings 8 s, then answers: the caller hears the greeting, then
    the notice (ARI: a sound; FastAGI: the Dial's music class with the notice as its
    announcement) after the officer's phone began to ring, and is bridged with the officer;
    the expired notice of the same file is never heard."""
    info = harness.info
    board = notice_board
    [current] = [r for r in board.ready() if r.notice.id == "tiem-chung"]
    [expired] = [r for r in board.ready() if r.notice.id == "cu"]
    await router_mode.dialplan_reloaded()
    officer = officer_number(ANSWERS, 8)
    rota = write_rota(tmp_path / "rota.yaml", [officer], ring_timeout=30, max_wait=60)
    async with router_mode.running(rota, sqlite_url, tmp_path / "state", notices=board):
        call = await answered_call(harness, officer, hold=16)
    channel, ringing = call.channel, call.ringing

    log = heard(info, channel)
    names = [h.what for h in log]
    if router_mode.name == "ari":
        notice = next(h for h in log if h.what == sound_name(current.key))
        assert names.index("callrouter/greeting") < names.index(notice.what)
        assert "callrouter/please-hold" not in names  # the bridge cut the notice short
    else:
        notice = next(h for h in moh_classes(info, channel) if h.what == music_class(current.key))
        assert_the_bridge_cut_the_notice(info, call, notice.at, current.seconds)
    assert notice.at >= ringing.timestamp - 0.5  # the officer's phone was already ringing
    assert sound_name(expired.key) not in names
    [after_hours] = [r for r in board.ready() if r.notice.id == "ngoai-gio"]
    assert sound_name(after_hours.key) not in names
    assert music_class(expired.key) not in [h.what for h in moh_classes(info, channel)]
    # Asterisk found the notice's sound (a missing announcement logs "Unable to open file").
    assert missing_sound_warnings(info, current.key) == []


async def test_a_notice_counts_inside_max_wait_and_is_cut_when_it_is_reached(
    router_mode: RouterMode,
    notice_board: NoticeBoard,
    harness: Harness,
    tmp_path: Path,
    sqlite_url: str,
) -> None:
    """Nobody answers and max wait is 10 s (one 10 s round), shorter than greeting plus
    notice: the notice does not stretch the wait; the caller stops hearing it at max wait
    (ARI: the next sound starts before the notice would have ended; FastAGI: the Dial's
    notice class stops)."""
    info = harness.info
    [current] = [r for r in notice_board.ready() if r.notice.id == "tiem-chung"]
    await router_mode.dialplan_reloaded()
    officer = officer_number(RINGS_FOREVER, 0)
    rota = write_rota(tmp_path / "rota.yaml", [officer], ring_timeout=10, max_wait=10)
    engine = engine_for(sqlite_url)
    try:
        async with router_mode.running(
            rota, sqlite_url, tmp_path / "state", notices=notice_board, message_max_seconds=5
        ):
            call = await harness.place_call(digits="3", hold=40)
            await harness.wait_user_event(
                "OfficerRinging", source="pstn", Number=officer, within=15
            )
            channel = pbx_channel(harness, call)
            await harness.wait_caller_hangup(call, within=60)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()
    assert rows.call["outcome"] == "unanswered"
    assert rows.call["wait_seconds"] == pytest.approx(10, abs=1.5)
    if router_mode.name == "ari":
        log = heard(info, channel)
        names = [h.what for h in log]
        notice = log[names.index(sound_name(current.key))]
        after = log[names.index(notice.what) + 1]  # what the caller heard next
        assert after.at < notice.at + current.seconds - 1.0, (after, notice, current.seconds)
    else:
        notice = next(h for h in moh_classes(info, channel) if h.what == music_class(current.key))
        stops = [t for t in moh_stops(info, channel) if t >= notice.at]
        assert stops, "the notice's music was never stopped"
        assert stops[0] < notice.at + current.seconds - 1.0, (stops[0], notice, current.seconds)


async def test_given_the_officer_answers_at_once_then_the_caller_hears_no_notice(
    notice_board: NoticeBoard, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """ARI mode: an officer who answers as soon as the phone rings is bridged before the
    notice's turn; the bridge stops the greeting and the queued notice is never played."""
    info = harness.info
    [current] = [r for r in notice_board.ready() if r.notice.id == "tiem-chung"]
    officer = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [officer], ring_timeout=30, max_wait=60)
    async with running_router(info, rota, sqlite_url, tmp_path / "state", notices=notice_board):
        call = await harness.place_call(digits="3", hold=6)
        await harness.wait_user_event("OfficerAnswered", source="pstn", Number=officer, within=20)
        channel = pbx_channel(harness, call)
        await harness.wait_caller_hangup(call, within=30)
    assert sound_name(current.key) not in [h.what for h in heard(info, channel)]


async def test_given_the_router_is_down_then_the_fallback_plays_the_notice_while_it_rings(
    notice_board: NoticeBoard, sandbox: Sandbox, harness: Harness, tmp_path: Path
) -> None:
    """No router: Stasis fails, the dialplan fallback checks the notices' dates itself and
    dials with the valid notice's music class; the expired one is not used."""
    info = harness.info
    [current] = [r for r in notice_board.ready() if r.notice.id == "tiem-chung"]
    [expired] = [r for r in notice_board.ready() if r.notice.id == "cu"]
    officer = officer_number(ANSWERS, 6)
    rota = parse_rota(
        write_rota(tmp_path / "rota.yaml", [officer], ring_timeout=30, max_wait=60).read_text(
            encoding="utf-8"
        ),
        "rota.yaml",
    )
    write_fallback_include(rota, info.pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME)
    sandbox.cli("pbx", "dialplan reload")
    call = await answered_call(harness, officer, hold=12)
    classes = moh_classes(info, call.channel)
    notice = next(h for h in classes if h.what == music_class(current.key))
    assert notice.at >= call.ringing.timestamp - 0.5
    assert_the_bridge_cut_the_notice(info, call, notice.at, current.seconds)
    assert music_class(expired.key) not in [h.what for h in classes]
    assert missing_sound_warnings(info, current.key) == []


async def test_given_closed_then_the_caller_hears_the_after_hours_notice_after_the_closed_message(
    router_mode: RouterMode,
    notice_board: NoticeBoard,
    harness: Harness,
    tmp_path: Path,
    sqlite_url: str,
) -> None:
    """Closed, after-hours action message: "closed", the after-hours notice, then "leave a
    message"; the notice for waiting callers is not played. ARI mode plays the notice
    itself; FastAGI mode's dialplan picks it from the include (dates checked against EPOCH)
    and plays it between the two prompts."""
    info = harness.info
    [waiting] = [r for r in notice_board.ready() if r.notice.id == "tiem-chung"]
    [after_hours] = [r for r in notice_board.ready() if r.notice.id == "ngoai-gio"]
    await router_mode.dialplan_reloaded()
    officer = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [officer], closed=True, after_hours="message")
    async with router_mode.running(rota, sqlite_url, tmp_path / "state", notices=notice_board):
        call = await harness.place_call(digits="3", hold=14)
        await harness.wait_user_event("CallerSentDigits", source="pstn", Tag=call.tag, within=15)
        channel = pbx_channel(harness, call)
        await wait_heard(info, channel, "callrouter/leave-message", within=30)
        await harness.wait_caller_hangup(call, within=40)
    names = [h.what for h in heard(info, channel)]
    assert after_closed(names) == [sound_name(after_hours.key), "callrouter/leave-message"]
    assert sound_name(waiting.key) not in names


def after_closed(names: list[str]) -> list[str]:
    """The two sounds the caller heard after "closed"."""
    start = names.index("callrouter/closed")
    return names[start + 1 : start + 3]


@pytest.mark.parametrize("router_mode", ["agi"], indirect=True)
async def test_given_closed_and_forward_then_agi_mode_plays_the_after_hours_notice_first(
    router_mode: RouterMode,
    notice_board: NoticeBoard,
    harness: Harness,
    tmp_path: Path,
    sqlite_url: str,
) -> None:
    """FastAGI mode, closed, after-hours action forward: "closed", the after-hours notice,
    "forwarding", then the forward number rings (the dialplan plays all three before its
    Dial, so the forward number's ring time does not cut them)."""
    info = harness.info
    [after_hours] = [r for r in notice_board.ready() if r.notice.id == "ngoai-gio"]
    await router_mode.dialplan_reloaded()
    officer, forward = officer_number(ANSWERS, 0), officer_number(ANSWERS, 1)
    rota = write_rota(
        tmp_path / "rota.yaml", [officer], closed=True, after_hours=f"forward:{forward}"
    )
    async with router_mode.running(rota, sqlite_url, tmp_path / "state", notices=notice_board):
        call = await harness.place_call(digits="3", hold=25)
        await harness.wait_user_event("OfficerAnswered", source="pstn", Number=forward, within=40)
        channel = pbx_channel(harness, call)
        await harness.wait_caller_hangup(call, within=40)
    names = [h.what for h in heard(info, channel)]
    assert after_closed(names) == [sound_name(after_hours.key), "callrouter/forwarding"]


async def test_a_notice_edited_while_a_caller_listens_plays_on_to_its_end(
    notice_board: NoticeBoard, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """ARI mode: while the caller hears the notice, a clerk changes its text; serve reloads
    the file (a new text is a new sound file, the old one stays), and the caller's notice
    plays to its end before "please hold"."""
    info = harness.info
    [current] = [r for r in notice_board.ready() if r.notice.id == "tiem-chung"]
    officer = officer_number(RINGS_FOREVER, 0)
    rota = write_rota(tmp_path / "rota.yaml", [officer], ring_timeout=40, max_wait=40)
    async with running_router(info, rota, sqlite_url, tmp_path / "state", notices=notice_board):
        call = await harness.place_call(digits="3", hold=25)
        await harness.wait_user_event("OfficerRinging", source="pstn", Number=officer, within=15)
        channel = pbx_channel(harness, call)
        [notice] = await wait_heard(info, channel, sound_name(current.key), within=20)
        text = notice_board.path.read_text(encoding="utf-8")
        notice_board.path.write_text(text.replace("trẻ em", "người cao tuổi"), encoding="utf-8")
        deadline = time.monotonic() + 10
        while not any("người cao tuổi" in r.notice.text for r in notice_board.ready()):
            assert time.monotonic() < deadline, "serve did not reload the notices file"
            await asyncio.sleep(0.1)
        assert time.time() < notice.at + current.seconds  # edited while it played
        [hold] = await wait_heard(info, channel, "callrouter/please-hold", within=20)
        await harness.wait_caller_hangup(call, within=40)
    assert hold.at - notice.at >= current.seconds - 0.3
    assert (
        (rootfs(info) / "usr/share/asterisk/sounds/vi/callrouter/notices")
        .joinpath(current.key + ".wav")
        .exists()
    )


@pytest.mark.parametrize("router_mode", ["agi"], indirect=True)
async def test_agi_a_notice_edited_while_a_caller_listens_plays_on_to_its_end(
    router_mode: RouterMode,
    notice_board: NoticeBoard,
    harness: Harness,
    tmp_path: Path,
    sqlite_url: str,
) -> None:
    """FastAGI mode (the Dial's music class carries the notice): while the caller hears it a
    clerk changes its text; serve rewrites the includes and has the pbx reload its music
    classes (over AMI). The caller's class is neither stopped nor started again before the
    notice's end: the edit does not cut that caller's playback."""
    info = harness.info
    [current] = [r for r in notice_board.ready() if r.notice.id == "tiem-chung"]
    await router_mode.dialplan_reloaded()
    officer = officer_number(RINGS_FOREVER, 0)
    rota = write_rota(tmp_path / "rota.yaml", [officer], ring_timeout=40, max_wait=40)
    reloads = "Reloading module 'res_musiconhold.so'"
    async with router_mode.running(
        rota,
        sqlite_url,
        tmp_path / "state",
        notices=notice_board,
        dialplan_include=info.pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME,
    ):
        before = sum(reloads in line for line in log_lines(info))
        call = await harness.place_call(digits="3", hold=25)
        await harness.wait_user_event("OfficerRinging", source="pstn", Number=officer, within=15)
        channel = pbx_channel(harness, call)
        deadline = time.monotonic() + 10
        while not (classes := moh_classes(info, channel)):
            assert time.monotonic() < deadline, "the notice's music class never started"
            await asyncio.sleep(0.1)
        [notice] = classes
        assert notice.what == music_class(current.key)
        text = notice_board.path.read_text(encoding="utf-8")
        notice_board.path.write_text(text.replace("trẻ em", "người cao tuổi"), encoding="utf-8")
        deadline = time.monotonic() + 10
        while sum(reloads in line for line in log_lines(info)) <= before:
            assert time.monotonic() < deadline, "serve did not have the pbx reload music on hold"
            await asyncio.sleep(0.1)
        assert time.time() < notice.at + current.seconds - 1.0  # reloaded while it played
        await harness.wait_caller_hangup(call, within=40)
    starts = moh_classes(info, channel)
    assert [h.what for h in starts] == [music_class(current.key)]  # never started again
    stops = moh_stops(info, channel)
    assert stops, "the caller's music was never stopped"
    assert stops[0] >= notice.at + current.seconds  # not before the notice's end


async def test_a_notice_an_admin_writes_on_the_web_is_heard_by_the_next_caller(
    sandbox: Sandbox, harness: Harness, tmp_path: Path, sqlite_url: str, browser: Any
) -> None:
    """ARI mode, serve with its admin web: an admin writes a notice for waiting callers in
    Chromium; serve's watcher takes the file, and the next caller hears it after the greeting
    while the officer's phone rings."""
    info = harness.info
    board = NoticeBoard(
        tmp_path / "notices" / "notices.yaml",
        sounds_dir=rootfs(info) / "usr/share/asterisk/sounds",
        etc_dir=info.pbx.etc_dir,
    )
    board.path.parent.mkdir()
    board.path.write_text("timezone: UTC\nmax_seconds: 20\nnotices:\n", encoding="utf-8")
    officer = officer_number(ANSWERS, 9)
    rota = write_rota(tmp_path / "rota.yaml", [officer], ring_timeout=30, max_wait=60)
    port = free_port()
    web = WebSettings(
        port=port, users={USER: PASSWORD_HASH}, session_secret="s" * 40, plain_http=True
    )
    server = f"http://127.0.0.1:{port}"
    now = datetime.now(UTC).replace(tzinfo=None)  # the file's time zone is UTC
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    async with running_router(
        info, rota, sqlite_url, tmp_path / "state", notices=board, web=web, rota_poll_seconds=0.5
    ):
        await log_in(browser, server)
        await run(browser.get, f"{server}/notices")
        await run(write_notice, browser, WEB_NOTICE, start, end, "waiting")
        await run(_wait_for_text, browser, ".flash", "Đã thêm thông báo")
        deadline = time.monotonic() + 20
        while not board.ready():
            assert time.monotonic() < deadline, "serve did not take the notices file"
            await asyncio.sleep(0.1)
        [ready] = board.ready()
        assert ready.notice.text == WEB_NOTICE
        await includes_carry(board)
        call = await answered_call(harness, officer, hold=20)
    log = heard(info, call.channel)
    names = [h.what for h in log]
    notice = next(h for h in log if h.what == sound_name(ready.key))
    assert names.index("callrouter/greeting") < names.index(notice.what)
    assert notice.at >= call.ringing.timestamp - 0.5
    assert missing_sound_warnings(info, ready.key) == []


async def includes_carry(board: NoticeBoard) -> None:
    """serve rewrote the dialplan include from the file the web wrote (what FastAGI mode and
    the fallback would play)."""
    assert board.etc_dir is not None
    include = (board.etc_dir / contract.NOTICES_INCLUDE_FILENAME).read_text(encoding="utf-8")
    assert sound_name(board.ready()[0].key) in include
