"""Notifications delivered to a real SMTP server (aiosmtpd) started by the test, through the
real outbox on SQLite and PostgreSQL: each kind reaches the right people with the right
content, a restart sends nothing twice, an outage delays without losing, a refused recipient
is recorded while the others get theirs, and the guard's alarm is sent once and recorded."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.metrics import Metrics
from callrouter.notify.alarm import GuardAlarms, record_guard_alarms
from callrouter.notify.email import EmailNotifier
from callrouter.notify.scheduler import Scheduler
from callrouter.notify.settings import NotifySettings
from callrouter.notify.templates import load_templates
from callrouter.report.settings import ReportSettings
from callrouter.rota import Rota, load_rota, parse_rota
from callrouter.store.migrate import upgrade
from callrouter.store.missed import missed_callback_id
from callrouter.store.models import cases, notifications
from callrouter.store.writer import CallLog
from tests.integration.test_store_missed import _call

pytestmark = pytest.mark.integration

VALID = Path(__file__).resolve().parents[1] / "fixtures" / "rota" / "valid.yaml"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
ADMINS = ["qt@example.vn", "gd@example.vn"]
#: Friday 6 March 2026, 19:30: the evening reminders for Saturday's shifts are due
FRIDAY_EVENING = datetime(2026, 3, 6, 19, 30, tzinfo=HCM)
BASE_URL = "https://1022.ttyt.example/"
#: none of the kinds planned from the rota alone (shift reminders, gaps, duty changes)
NO_ROTA_KINDS: dict[str, Any] = {
    "shift_reminders": False,
    "uncovered_hours": False,
    "duty_changes": False,
}
MISSED_ONLY: dict[str, Any] = {**NO_ROTA_KINDS, "digest": False}


class Inbox:
    """aiosmtpd handler keeping every message; refuses the recipients in ``refuse``."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpts, m in self.messages if address in rcpts]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Smtp:
    def __init__(self, port: int, inbox: Inbox) -> None:
        self.controller = Controller(inbox, hostname="127.0.0.1", port=port)
        self.inbox = inbox

    def __enter__(self) -> Inbox:
        self.controller.start()
        return self.inbox

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def server(port: int) -> Iterator[Inbox]:
    with Smtp(port, Inbox()) as inbox:
        yield inbox


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _settings(**kw: Any) -> NotifySettings:
    return NotifySettings(_env_file=None, enabled=True, admins=ADMINS, **kw)


def _scheduler(
    engine: AsyncEngine,
    port: int,
    clock: Clock,
    rota: list[Rota],
    *,
    metrics: Metrics | None = None,
    **kw: Any,
) -> Scheduler:
    mail = ReportSettings(
        _env_file=None, smtp_host="127.0.0.1", smtp_port=port, mail_from="callrouter@ttyt.example"
    )
    return Scheduler(
        engine,
        EmailNotifier(mail.model_copy(update={"smtp_timeout": 5.0})),
        _settings(**kw),
        load_templates(None),
        lambda: rota[-1],
        clock=clock,
        base_url=BASE_URL,
        metrics=metrics,
    )


async def _rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(select(notifications).order_by(notifications.c.id)))


def _text(msg: EmailMessage) -> str:
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


async def test_each_kind_reaches_the_right_people_with_the_right_content(
    engine: AsyncEngine, server: Inbox, port: int
) -> None:
    await upgrade(engine)
    rota = [load_rota(VALID)]
    clock = Clock(FRIDAY_EVENING)
    scheduler = _scheduler(engine, port, clock, rota)

    assert await scheduler.tick() == 4  # two shift reminders, the gaps to two admins

    # Saturday: Bình 08:00–12:00 at her own phone, Chi's night from 17:00 at the duty mobile
    (binh,) = server.to("binh@example.vn")
    assert "08:00 07/03/2026" in str(binh["Subject"])
    text = _text(binh)
    assert "Trần Thị Bình" in text
    assert "từ 08:00 07/03/2026 đến 12:00 07/03/2026" in text
    assert "0912000102" in text  # Bình's own phone, where she answers
    (ics,) = list(binh.iter_attachments())
    assert ics.get_content_type() == "text/calendar"
    calendar = ics.get_payload(decode=True)
    assert isinstance(calendar, bytes)
    assert b"BEGIN:VEVENT" in calendar
    assert b"DTSTART:20260307T010000Z" in calendar  # 08:00 in Hồ Chí Minh
    (chi,) = server.to("chi@example.vn")
    assert "từ 17:00 07/03/2026" in _text(chi)
    assert not server.to("an@example.vn")  # An's next shift is Monday: not yet

    for admin in ADMINS:
        (gap,) = server.to(admin)
        assert "Trạm thử nghiệm" in str(gap["Subject"])
        assert "2026-03-07 (Thứ Bảy) 07:00–08:00" in _text(gap)
        assert "2026-03-08 (Chủ Nhật) 12:00–17:00" in _text(gap)

    # A reload moves Saturday morning from Bình to An: both are told, nobody else.
    rota.append(
        parse_rota(
            VALID.read_text(encoding="utf-8").replace(
                "      - { officer: binh, at: own }", "      - { officer: an, at: own }"
            ),
            str(VALID),
        )
    )
    clock.at += timedelta(minutes=1)
    assert await scheduler.tick() >= 2
    changed = [m for _, m in server.messages if "đã thay đổi" in str(m["Subject"])]
    assert sorted(str(m["To"]) for m in changed) == ["an@example.vn", "binh@example.vn"]
    (to_an,) = [m for m in changed if str(m["To"]) == "an@example.vn"]
    assert "Ca trực mới:\n- 08:00 07/03/2026 đến 12:00 07/03/2026" in _text(to_an)

    rows = await _rows(engine)
    assert {r.status for r in rows} == {"sent"}
    assert all(r.sent_at is not None and r.error is None for r in rows)


async def test_a_restart_sends_nothing_twice(engine: AsyncEngine, server: Inbox, port: int) -> None:
    await upgrade(engine)
    rota = [load_rota(VALID)]
    clock = Clock(FRIDAY_EVENING)
    assert await _scheduler(engine, port, clock, rota).tick() == 4
    before = len(server.messages)
    # the service restarts: a new scheduler (no memory) at a later minute of the same evening
    clock.at += timedelta(minutes=5)
    assert await _scheduler(engine, port, clock, rota).tick() == 0
    assert len(server.messages) == before
    assert len(await _rows(engine)) == 4


async def test_an_smtp_outage_delays_but_loses_nothing(engine: AsyncEngine, port: int) -> None:
    await upgrade(engine)
    rota = [load_rota(VALID)]
    clock = Clock(FRIDAY_EVENING)
    scheduler = _scheduler(engine, port, clock, rota, retry_seconds=60)
    assert await scheduler.tick() == 0  # nothing listens on the port
    rows = await _rows(engine)
    assert len(rows) == 4
    assert all(r.status == "pending" and r.attempts == 1 and r.error for r in rows)
    assert all(r.not_before == clock.at + timedelta(seconds=60) for r in rows)

    with Smtp(port, Inbox()) as inbox:
        clock.at += timedelta(seconds=30)
        assert await scheduler.tick() == 0  # backoff: not yet
        clock.at += timedelta(seconds=31)
        assert await scheduler.tick() == 4
    assert sorted(r for rcpts, _ in inbox.messages for r in rcpts) == sorted(
        ["binh@example.vn", "chi@example.vn", *ADMINS]
    )
    assert {r.status for r in await _rows(engine)} == {"sent"}


async def test_a_refused_recipient_is_recorded_and_the_others_still_get_theirs(
    engine: AsyncEngine, port: int
) -> None:
    await upgrade(engine)
    rota = [load_rota(VALID)]
    clock = Clock(FRIDAY_EVENING)
    scheduler = _scheduler(engine, port, clock, rota)
    with Smtp(port, Inbox(refuse=frozenset({"chi@example.vn"}))) as inbox:
        assert await scheduler.tick() == 3
        clock.at += timedelta(hours=1)
        assert await scheduler.tick() == 0  # refused for good (5xx): not retried
    assert not inbox.to("chi@example.vn")
    assert len(inbox.to("binh@example.vn")) == 1
    rows = {r.recipient: r for r in await _rows(engine)}
    assert rows["chi@example.vn"].status == "failed"
    assert rows["chi@example.vn"].attempts == 1
    assert "550" in rows["chi@example.vn"].error
    assert {rows[a].status for a in ["binh@example.vn", *ADMINS]} == {"sent"}


async def test_the_guard_alarm_is_sent_once_and_recorded_once_the_router_is_back(
    engine: AsyncEngine, server: Inbox, port: int, tmp_path: Path
) -> None:
    mail = ReportSettings(_env_file=None, smtp_host="127.0.0.1", smtp_port=port)

    def alarms() -> GuardAlarms:
        return GuardAlarms(
            EmailNotifier(mail), ADMINS, load_templates(None), "Trạm thử nghiệm", tmp_path
        )

    values = {"at": "10:00 07/03/2026", "callers": "1"}
    assert await alarms().raise_alarm("fallback:1", "fallback_alarm", values) == 2
    assert await alarms().raise_alarm("fallback:1", "fallback_alarm", values) == 0  # restart
    assert sorted(r for rcpts, _ in server.messages for r in rcpts) == sorted(ADMINS)
    assert "KHẨN" in str(server.messages[0][1]["Subject"])
    assert "phương án dự phòng" in _text(server.messages[0][1])

    await upgrade(engine)
    assert await record_guard_alarms(engine, tmp_path) == 2
    assert await record_guard_alarms(engine, tmp_path) == 0
    rows = await _rows(engine)
    assert {(r.kind, r.recipient, r.status) for r in rows} == {
        ("fallback_alarm", a, "sent") for a in ADMINS
    }


async def test_quiet_hours_hold_an_officers_reminder_until_they_end(
    engine: AsyncEngine, server: Inbox, port: int
) -> None:
    await upgrade(engine)
    text = VALID.read_text(encoding="utf-8").replace(
        "email: binh@example.vn }", 'email: binh@example.vn, quiet_hours: "19:00-06:30" }'
    )
    rota = [parse_rota(text, str(VALID))]
    clock = Clock(FRIDAY_EVENING)
    scheduler = _scheduler(engine, port, clock, rota)
    await scheduler.tick()
    assert not server.to("binh@example.vn")  # 19:30 is inside her quiet hours
    assert server.to("chi@example.vn")  # Chi has none
    for admin in ADMINS:
        assert server.to(admin)
    clock.at = datetime(2026, 3, 7, 6, 29, tzinfo=HCM)
    await scheduler.tick()
    assert not server.to("binh@example.vn")
    clock.at = datetime(2026, 3, 7, 6, 30, tzinfo=HCM)
    await scheduler.tick()
    (held,) = server.to("binh@example.vn")
    assert "08:00 07/03/2026" in str(held["Subject"])


async def _gave_up(url: str, spool: Path, *calls: tuple[str, str, datetime, float]) -> None:
    """Callers (linkedid, number, start, seconds waited) who hung up while it rang, written
    through the real call log (its missed-caller rule, misdial threshold 10 s)."""
    async with CallLog(url, spool, misdial_seconds=10) as log:
        for linkedid, number, start, waited in calls:
            _call(log, linkedid, caller=number, start=start, waited=waited, outcome="abandoned")
        await log.flush()


def _full_texts(inbox: Inbox) -> str:
    return "\n".join(str(m["Subject"]) + "\n" + _text(m) for _, m in inbox.messages)


async def test_a_missed_call_reaches_the_officers_on_duty_masked_with_its_link_once(
    store_url: str, engine: AsyncEngine, server: Inbox, port: int, tmp_path: Path
) -> None:
    await upgrade(engine)
    rota = [load_rota(VALID)]
    monday = datetime(2026, 3, 2, 9, 30, tzinfo=HCM)  # the day shift: An and Bình
    await _gave_up(
        store_url,
        tmp_path / "spool",
        ("misdial", "0987000111", monday, 4),  # a misdial: nobody is told
        ("gave-up", "0912345678", monday + timedelta(minutes=1), 20),
    )
    clock = Clock(monday + timedelta(minutes=1, seconds=22))
    scheduler = _scheduler(engine, port, clock, rota, **MISSED_ONLY)

    assert await scheduler.quick() == 2
    entry = missed_callback_id(3, "0912345678", monday.date())
    assert sorted(r for rcpts, _ in server.messages for r in rcpts) == [
        "an@example.vn",
        "binh@example.vn",
    ]
    (to_an,) = server.to("an@example.vn")
    assert (
        str(to_an["Subject"])
        == "[Trạm thử nghiệm] Cuộc gọi nhỡ 1022 lúc 09:31:00 02/03/2026: 091*****78"
    )
    text = _text(to_an)
    assert "Kính gửi Nguyễn Văn An," in text
    assert "từ số 091*****78" in text
    assert "gác máy khi đang chờ, chờ 20 giây" in text
    assert f"https://1022.ttyt.example/callbacks#cb-{entry}" in text
    assert "Trần Thị Bình" in _text(server.to("binh@example.vn")[0])
    assert "0912345678" not in _full_texts(server)
    assert "0987" not in _full_texts(server)

    # The same number misses again that day: the same call-back entry, nobody told twice;
    # a restart (a new scheduler, no memory) sends nothing again either.
    await _gave_up(
        store_url,
        tmp_path / "spool",
        ("again", "0912345678", monday + timedelta(minutes=30), 40),
    )
    clock.at += timedelta(minutes=30)
    assert await scheduler.tick() == 0
    assert await _scheduler(engine, port, clock, rota, **MISSED_ONLY).tick() == 0
    assert len(server.messages) == 2
    rows = await _rows(engine)
    assert {(r.kind, r.key, r.status) for r in rows} == {
        ("missed_call", f"missed:{entry}|an@example.vn", "sent"),
        ("missed_call", f"missed:{entry}|binh@example.vn", "sent"),
    }

    # Switched off in the settings: a new missed call queues nothing.
    await _gave_up(
        store_url,
        tmp_path / "spool",
        ("off", "0977000222", monday + timedelta(hours=1), 30),
    )
    clock.at = monday + timedelta(hours=1, minutes=1)
    off = _scheduler(engine, port, clock, rota, missed_calls=False, **MISSED_ONLY)
    assert await off.quick() == 0
    assert len(await _rows(engine)) == 2


async def test_a_missed_call_waits_for_the_officers_quiet_hours_and_goes_to_admins_when_closed(
    store_url: str, engine: AsyncEngine, server: Inbox, port: int, tmp_path: Path
) -> None:
    await upgrade(engine)
    text = VALID.read_text(encoding="utf-8").replace(
        "email: chi@example.vn }", 'email: chi@example.vn, quiet_hours: "22:00-06:00" }'
    )
    rota = [parse_rota(text, str(VALID))]
    night = datetime(2026, 3, 2, 23, 10, tzinfo=HCM)  # Chi's night shift, in her quiet hours
    closed = datetime(2026, 6, 1, 10, 0, tzinfo=HCM)  # a closed date: nobody on duty
    await _gave_up(
        store_url,
        tmp_path / "spool",
        ("night", "0912345678", night, 25),
        ("closed", "0987654321", closed, 25),
    )
    clock = Clock(night + timedelta(seconds=30))
    scheduler = _scheduler(engine, port, clock, rota, **MISSED_ONLY)
    assert await scheduler.tick() == 0
    (row,) = await _rows(engine)
    assert (row.recipient, row.status) == ("chi@example.vn", "pending")
    assert row.not_before == datetime(2026, 3, 3, 6, 0, tzinfo=HCM)
    clock.at = datetime(2026, 3, 3, 5, 59, tzinfo=HCM)
    assert await scheduler.quick() == 0
    clock.at = datetime(2026, 3, 3, 6, 0, tzinfo=HCM)
    assert await scheduler.quick() == 1
    (held,) = server.to("chi@example.vn")
    assert "23:10:00 02/03/2026" in str(held["Subject"])

    clock.at = closed + timedelta(seconds=40)
    assert await scheduler.quick() == 2
    for admin in ADMINS:
        (told,) = server.to(admin)
        assert "098*****21" in _text(told)


async def _overdue_case(engine: AsyncEngine, opened: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            cases.insert().values(
                id="0b1e4c7e-0000-4000-8000-000000000042",
                branch=3,
                ref_year=2026,
                ref_seq=42,
                opened_at=opened,
                opened_by="an",
                local_day=opened.astimezone(HCM).date(),
                kind="phan_anh",
                status="forwarded",
                deadline=datetime(2026, 3, 2, tzinfo=HCM).date(),
                notable=False,
                version=1,
                updated_at=opened,
                updated_by="an",
            )
        )


async def test_the_daily_digest_goes_to_the_units_officers_and_admins_once_and_not_when_empty(
    store_url: str, engine: AsyncEngine, server: Inbox, port: int, tmp_path: Path
) -> None:
    await upgrade(engine)
    rota = [load_rota(VALID)]
    tuesday = datetime(2026, 3, 3, 7, 5, tzinfo=HCM)
    clock = Clock(tuesday)
    kinds = {**NO_ROTA_KINDS, "missed_calls": False, "digest_hour": 7}
    assert await _scheduler(engine, port, clock, rota, **kinds).tick() == 0  # nothing open
    assert await _rows(engine) == []

    await _gave_up(
        store_url,
        tmp_path / "spool",
        ("monday", "0912345678", datetime(2026, 3, 2, 9, 30, tzinfo=HCM), 20),
        ("today", "0987654321", datetime(2026, 3, 3, 6, 50, tzinfo=HCM), 20),
    )
    await _overdue_case(engine, datetime(2026, 2, 20, 9, 0, tzinfo=HCM))

    clock.at = datetime(2026, 3, 3, 6, 59, tzinfo=HCM)
    assert await _scheduler(engine, port, clock, rota, **kinds).tick() == 0  # before 07:00
    clock.at = tuesday
    assert await _scheduler(engine, port, clock, rota, **kinds).tick() == 6
    officers = [f"{o}@example.vn" for o in ("an", "binh", "chi", "dung")]
    assert sorted(r for rcpts, _ in server.messages for r in rcpts) == sorted([*officers, *ADMINS])
    (digest,) = server.to("dung@example.vn")
    # (the subject's tail is left out: the stdlib's header folding may drop a space there)
    assert "Tổng hợp ngày 03/03/2026: 2 cuộc cần gọi lại" in str(digest["Subject"])
    text = _text(digest)
    assert "Cuộc gọi chưa được gọi lại (2, trong đó 1 đã quá hạn):" in text
    assert "Hồ sơ quá hạn xử lý (1):" in text
    assert (
        "- 091*****78: người gọi gác máy khi đang chờ, lúc 09:30 02/03; "
        "hạn gọi lại 13:30 02/03 — QUÁ HẠN\n" in text
    )
    assert (
        "- 098*****21: người gọi gác máy khi đang chờ, lúc 06:50 03/03; hạn gọi lại 11:30 03/03\n"
        in text
    )
    assert "- Hồ sơ 42/2026 (Phản ánh, Đã chuyển): hạn 02/03/2026, quá 1 ngày" in text
    assert "0912345678" not in _full_texts(server)

    # Later the same day and after a restart: the day's digest is not sent again.
    clock.at = tuesday + timedelta(hours=5)
    assert await _scheduler(engine, port, clock, rota, **kinds).tick() == 0
    assert len(server.messages) == 6
    assert {r.kind for r in await _rows(engine)} == {"digest"}


def _skipped(metrics: Metrics, kind: str) -> float:
    value = metrics.registry.get_sample_value(
        "callrouter_notify_skipped_total", {"kind": kind, "reason": "no_email"}
    )
    assert value is not None
    return value


async def test_an_officer_without_an_email_is_skipped_and_counted_the_others_get_theirs(
    store_url: str, engine: AsyncEngine, server: Inbox, port: int, tmp_path: Path
) -> None:
    await upgrade(engine)
    text = VALID.read_text(encoding="utf-8")
    assert ", email: binh@example.vn }" in text
    rota = [parse_rota(text.replace(", email: binh@example.vn }", " }"), str(VALID))]
    assert rota[0].officer("binh") is not None
    metrics = Metrics()
    clock = Clock(FRIDAY_EVENING)
    scheduler = _scheduler(engine, port, clock, rota, metrics=metrics)

    # Shift reminders: Bình's (Saturday 08:00) is skipped, Chi's and the admins' gaps go out.
    with structlog.testing.capture_logs() as logs:
        assert await scheduler.tick() == 3
    assert server.to("chi@example.vn")
    assert all(a in ("chi@example.vn", *ADMINS) for rcpts, _ in server.messages for a in rcpts)
    assert _skipped(metrics, "shift_reminder") == 1
    (skip,) = [e for e in logs if e["event"] == "notify.skipped"]
    assert skip == {
        "event": "notify.skipped",
        "log_level": "warning",
        "kind": "shift_reminder",
        "officer": "binh",
        "reason": "no_email",
    }
    # the next round plans the same reminder again: nothing sent, nothing counted twice
    clock.at += timedelta(minutes=1)
    assert await scheduler.tick() == 0
    assert _skipped(metrics, "shift_reminder") == 1
    assert all(r.recipient != "None" and r.recipient for r in await _rows(engine))

    # A missed call on Monday's day shift (An and Bình): An is told, Bình is counted.
    monday = datetime(2026, 3, 2, 9, 30, tzinfo=HCM)
    await _gave_up(store_url, tmp_path / "spool", ("gave-up", "0912345678", monday, 20))
    clock.at = monday + timedelta(seconds=30)
    missed = _scheduler(engine, port, clock, rota, metrics=metrics, **MISSED_ONLY)
    assert await missed.quick() == 1
    assert len(server.to("an@example.vn")) == 1
    assert await missed.quick() == 0
    assert _skipped(metrics, "missed_call") == 1

    # The daily digest: every officer but Bình, and the admins.
    clock.at = datetime(2026, 3, 3, 7, 5, tzinfo=HCM)
    kinds = {**NO_ROTA_KINDS, "missed_calls": False, "digest_hour": 7}
    before = len(server.messages)
    assert await _scheduler(engine, port, clock, rota, metrics=metrics, **kinds).tick() == 5
    digests = [rcpts for rcpts, m in server.messages[before:]]
    assert sorted(r for rcpts in digests for r in rcpts) == sorted(
        ["an@example.vn", "chi@example.vn", "dung@example.vn", *ADMINS]
    )
    assert _skipped(metrics, "digest") == 1
    assert _skipped(metrics, "duty_changed") == 0
    assert "binh" not in metrics.render().decode()
