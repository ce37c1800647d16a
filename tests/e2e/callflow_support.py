"""Helpers of the call-flow end-to-end tests (tests/e2e/test_calls.py and others).

* :func:`write_rota` — a rota open around the clock whose ring order is the given pstn
  numbers (see ``tests/asterisk/README.md`` for how each number behaves).
* :func:`running_router` — the real ``callrouter serve`` (``callrouter.app.serve``) in this
  test's event loop, connected to the sandbox pbx over real ARI, writing to a real database.
* :func:`wait_for_call` — the ``calls`` row of a caller number and its ``call_attempts``,
  once the call has ended and the row says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.app import ServeOptions
from callrouter.calls.vocabulary import LEG_ID_PREFIX
from callrouter.sandbox.router import Router
from callrouter.settings import Settings
from callrouter.store.db import make_engine
from callrouter.store.models import Call, CallAttempt, CallEvent
from callrouter.web.settings import WebSettings
from tests.e2e.harness import Harness, PlacedCall, SandboxInfo

CALLS = Call.__table__
EVENTS = CallEvent.__table__
ATTEMPTS = CallAttempt.__table__

OFFICERS = (
    ("an", "Nguyễn Văn An"),
    ("binh", "Trần Thị Bình"),
    ("chi", "Lê Thị Chi"),
)


def write_rota(
    path: Path,
    numbers: list[str],
    *,
    ring_timeout: int = 5,
    rounds: int = 1,
    max_wait: int = 30,
    strategy: str = "sequential",
    nobody_answered: str = "message",
    confirm: tuple[bool, ...] = (),
    confirm_timeout: int = 2,
    closed: bool = False,
    after_hours: str = "message",
    days: str = "mon-sun",
) -> Path:
    """A rota open 24/7 that rings ``numbers`` in order (officer i at number i).

    ``confirm[i]`` marks number i for press-1 confirmation (default: none is).
    ``closed``: an override closes the line from yesterday to tomorrow (after hours);
    ``days``: the days of both shifts (e.g. ``"wed"``: outside shifts on other days)."""
    lines = [
        "unit: Trung tâm Y tế kiểm thử",
        "timezone: Asia/Ho_Chi_Minh",
        "branch: 3",
        "numbers:",
    ]
    for i, number in enumerate(numbers):
        flag = "true" if i < len(confirm) and confirm[i] else "false"
        lines += [f"  - label: so-{i + 1}", f'    number: "{number}"', f"    confirm: {flag}"]
    lines.append("officers:")
    for i, (officer_id, name) in enumerate(OFFICERS[: len(numbers)]):
        lines += [
            f"  - id: {officer_id}",
            f"    name: {name}",
            f'    phone: "091100000{i + 1}"',
            f"    email: {officer_id}@example.vn",
        ]
    duty = [f"      - {{ officer: {OFFICERS[i][0]}, at: so-{i + 1} }}" for i in range(len(numbers))]
    lines += [
        "shifts:",
        "  - name: Sáng",
        f"    days: {days}",
        '    start: "00:00"',
        '    end: "12:00"',
        "    duty:",
        *duty,
        "  - name: Chiều tối",
        f"    days: {days}",
        '    start: "12:00"',
        '    end: "00:00"',
        "    duty:",
        *duty,
        "holidays:",
        "  default: normal",
    ]
    if closed:
        today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
        lines += [
            "overrides:",
            f"  - from: {(today - timedelta(days=1)).isoformat()}",
            f"    to: {(today + timedelta(days=1)).isoformat()}",
            "    reason: Kiểm thử ngoài giờ",
            "    closed: true",
        ]
    lines += [
        "policy:",
        f"  strategy: {strategy}",
        f"  ring_timeout: {ring_timeout}",
        f"  rounds: {rounds}",
        f"  max_wait: {max_wait}",
        f"  confirm_timeout: {confirm_timeout}",
        "  confirm_own_phone: false",
        f"  nobody_answered_action: {nobody_answered}",
        f"  after_hours_action: {after_hours}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def officer_id_at(index: int) -> str:
    return OFFICERS[index][0]


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A test's keyword options as (Settings fields, ServeOptions fields): a setting has one
    home, so a test configures serve as an operator would."""
    fields = Settings.model_fields
    return (
        {k: v for k, v in options.items() if k in fields},
        {k: v for k, v in options.items() if k not in fields},
    )


@contextlib.asynccontextmanager
async def running_router(
    info: SandboxInfo,
    rota_path: Path,
    database_url: str,
    state_dir: Path,
    *,
    drain_seconds: float = 10.0,
    dialplan_include: Path | None = None,
    **options: Any,
) -> AsyncIterator[Router]:
    """``callrouter serve`` in this loop (the demo's :class:`~callrouter.sandbox.router.Router`);
    yields once its ARI events flow, stops after.

    ``drain_seconds=0`` stops it without letting calls in progress finish (what Asterisk
    sees when the router dies: the events socket closes, channels and bridges stay).
    ``dialplan_include``: where serve writes the fallback include (default: in
    ``state_dir``, which no Asterisk reads). ``options``: further Settings fields (what an
    operator configures, e.g. ``message_max_seconds``) or ServeOptions fields (the rest).
    """
    configured, serve_options = split_options(options)
    settings = Settings(
        ari_url=info.pbx.ari_url,
        ari_user=info.pbx.ari_user,
        ari_password=SecretStr(info.pbx.ari_password),
        rota_path=rota_path,
        database_url=SecretStr(database_url),
        state_dir=state_dir,
        spool_dir=state_dir / "spool",
        dialplan_include=dialplan_include or state_dir / "callrouter_fallback.conf",
        **configured,
    )
    await asyncio.to_thread(state_dir.mkdir, parents=True, exist_ok=True)
    # The admin web has its own tests; here it would only compete for a port (a test of
    # the web beside real calls passes its own ``web=WebSettings(...)``).
    serve_options.setdefault("web", WebSettings(enabled=False))
    router = Router(
        settings,
        lambda: ServeOptions(drain_seconds=drain_seconds, **serve_options),
        ready_within=20,
    )
    await router.start()
    try:
        yield router
    finally:
        await router.stop()


@dataclass
class CallRows:
    call: dict[str, Any]
    attempts: list[dict[str, Any]]


async def wait_for_call(
    engine: AsyncEngine,
    caller: str,
    *,
    within: float = 30.0,
    outcome_set: bool = True,
    until: Callable[[CallRows], bool] | None = None,
) -> CallRows:
    """The ``calls`` row of ``caller`` (with its attempts) once its outcome is written, and
    once ``until`` holds for it when given (a later writer, e.g. the CDR import, finishing it)."""
    deadline = time.monotonic() + within
    last: CallRows | None = None
    while True:
        async with engine.connect() as conn:
            calls = (await conn.execute(select(CALLS).where(CALLS.c.caller == caller))).all()
            if calls:
                call = dict(calls[-1]._mapping)
                attempts = [
                    dict(r._mapping)
                    for r in (
                        await conn.execute(
                            select(ATTEMPTS)
                            .where(ATTEMPTS.c.call_id == call["id"])
                            .order_by(ATTEMPTS.c.seq)
                        )
                    ).all()
                ]
                last = CallRows(call, attempts)
                complete = call["outcome"] is not None and all(
                    a["ended_at"] is not None for a in attempts
                )
                if len(calls) > 1:
                    raise AssertionError(f"{len(calls)} calls rows for one caller: {calls}")
                if (complete or not outcome_set) and (until is None or until(last)):
                    return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"no finished calls row for {caller} within {within} s: {last}")
        await asyncio.sleep(0.1)


def post_dial_delay(harness: Harness, call: PlacedCall) -> float:
    """Seconds from the caller's channel entering Stasis to the first officer leg being
    created, both from the pbx's own AMI event timestamps."""
    events = harness.events.events
    stasis = next(
        e
        for e in events
        if e.source == "pbx"
        and e.name == "Newexten"
        and e.get("Application") == "Stasis"
        and e.get("CallerIDNum") == call.caller_number
    )
    leg = next(
        e
        for e in events
        if e.source == "pbx"
        and e.name == "Newchannel"
        and e.get("Uniqueid").startswith(LEG_ID_PREFIX)
        and e.get("Linkedid") == stasis.get("Linkedid")
    )
    return leg.timestamp - stasis.timestamp


async def call_events(engine: AsyncEngine, call_id: str) -> list[dict[str, Any]]:
    """The ``call_events`` rows of a call, oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(EVENTS).where(EVENTS.c.call_id == call_id).order_by(EVENTS.c.at, EVENTS.c.id)
        )
        return [dict(r._mapping) for r in rows.all()]


def engine_for(url: str) -> AsyncEngine:
    return make_engine(url)
