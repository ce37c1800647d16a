"""Officer call-backs: ring the officer first, then the caller, and bridge them.

**AMI (panoramisk) Originate into a dialplan context, not ARI.** The call-back is an ordinary
two-party call once both answer; letting Asterisk's own ``Dial`` ring the caller and hold the
bridge (``[callrouter-callback]`` in ``dialplan/extensions_callrouter_agi.conf``) means a
call-back in progress survives callrouter stopping or restarting, nobody is left alone in a
bridge when the other hangs up, and the channels never enter the ``callrouter`` Stasis
application (where the call flow would take them for incoming hotline calls). ARI would make
callrouter the owner of both legs and of the bridge for the whole conversation. AMI also works
the same in ARI and FastAGI mode. The AMI ``Originate`` is given a ``ChannelId`` so the
call-back's linkedid is known before anything rings.

Flow: ``Originate Channel=PJSIP/<officer>@<trunk> Context=callrouter-callback`` (async). The
officer's phone rings; ``OriginateResponse`` says whether the officer answered. If so, the
dialplan rings the caller and emits UserEvents ``CallrouterCallbackAnswered`` (the caller
answered: they are bridged) and ``CallrouterCallbackEnd`` (DIALSTATUS).

Recording: a call-back that bridged is marked done (``done_by`` = the officer,
``outbound_linkedid`` = the call-back's linkedid). A failed one stays open; its
``outbound_linkedid`` links the attempt, and both outcomes are written as a
``callback_attempt`` event on the original call (officer, result, linkedid).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import structlog
from panoramisk import Manager
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.asterisk import contract
from callrouter.asterisk.ami import connect_ami
from callrouter.errors import AsteriskError, CallrouterError, ConfigError
from callrouter.logs import mask_number
from callrouter.rota import Rota
from callrouter.routing import CallInfo, decide
from callrouter.settings import Settings
from callrouter.store.queries import (
    CallbackToDial,
    NotFound,
    callback_to_dial,
    mark_callback_done,
    note_callback_try,
)
from callrouter.store.writer import CallLog

log = structlog.get_logger(__name__)

CONTEXT_CALLBACK: Final = "callrouter-callback"
EVENT_OFFICER: Final = "CallrouterCallbackOfficer"
EVENT_ANSWERED: Final = "CallrouterCallbackAnswered"
EVENT_END: Final = "CallrouterCallbackEnd"
CALLER_ID: Final = '"1022" <1022>'

Result = Literal["bridged", "officer_unreachable", "caller_unreachable", "failed"]
# OriginateResponse "Reason" (Asterisk's AST_CONTROL_*): why the officer's leg did not answer.
_ORIGINATE_REASONS: Final = {
    0: "failed",
    1: "hangup",
    3: "no_answer",
    5: "busy",
    8: "congestion",
}


def field_of(event: Any, name: str) -> str:
    """One AMI field as text; panoramisk gives a list when a key repeats (a UserEvent's own
    ``Linkedid`` beside the channel's), and those carry the same value."""
    value = event.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return "" if value is None else str(value)


class CallbackError(CallrouterError):
    """A call-back that cannot be started (unknown entry, no officer, already done)."""


@dataclass
class Outcome:
    """How a call-back went."""

    callback_id: str
    linkedid: str
    officer_id: str
    officer_name: str
    officer_number: str
    result: Result | None = None
    detail: str = ""
    officer_answered_at: datetime | None = None
    caller_answered_at: datetime | None = None
    ended_at: datetime | None = None
    caller_number: str = ""
    record_outbound: bool = True
    written: bool = False
    record_task: asyncio.Future[None] | None = None
    originate: asyncio.Future[Any] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)  # result known
    over: asyncio.Event = field(default_factory=asyncio.Event)  # the call has ended


@dataclass(frozen=True)
class Officer:
    id: str
    name: str
    number: str


def pick_officer(rota: Rota, officer_id: str | None, now: datetime) -> Officer:
    """``officer_id`` at their own phone, or the first officer on duty now at their number."""
    if officer_id is not None:
        for officer in rota.officers:
            if officer.id == officer_id:
                return Officer(officer.id, officer.name, officer.phone)
        raise CallbackError(f"không có cán bộ mã {officer_id!r} trong lịch trực")
    decision = decide(rota, now, CallInfo(linkedid="callback", caller=None, branch=rota.branch))
    if not decision.targets:
        raise CallbackError(
            "hiện không có cán bộ trực (ngoài giờ): chọn cán bộ gọi lại bằng --officer"
        )
    first = decision.targets[0]
    return Officer(first.officer_id, first.officer_name, first.number)


class AmiCallbackDialer:
    """Call-backs over AMI; also the admin web's ``CallbackDialer``."""

    def __init__(
        self,
        manager: Manager,
        engine: AsyncEngine,
        rota: Callable[[], Rota],
        *,
        call_log: CallLog | None = None,
        trunk: str = contract.DEFAULT_TRUNK,
        ring_seconds: int = 30,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.manager = manager
        self.engine = engine
        self.rota = rota
        self.call_log = call_log
        self.trunk = trunk
        self.ring_seconds = ring_seconds
        self.clock = clock
        self.calls: dict[str, Outcome] = {}
        manager.register_event("OriginateResponse", self._on_originate)
        manager.register_event("UserEvent", self._on_user_event)

    @classmethod
    async def connect(  # noqa: PLR0917 -- host, port, user, secret, engine, rota
        cls,
        host: str,
        port: int,
        user: str,
        secret: str,
        engine: AsyncEngine,
        rota: Callable[[], Rota],
        **kwargs: Any,
    ) -> AmiCallbackDialer:
        if not secret:
            raise ConfigError(
                "no AMI password: set CALLROUTER_AMI_PASSWORD or CALLROUTER_AMI_PASSWORD_FILE"
            )
        manager = await connect_ami(host, port, user, secret)
        return cls(manager, engine, rota, **kwargs)

    def close(self) -> None:
        self.manager.close()

    async def reload_dialplan(self) -> None:
        """Reload Asterisk's dialplan over this AMI connection (FastAGI mode has no ARI):
        the ``Reload`` action on ``pbx_config.so``, which the shipped AMI user may run
        (``write = system``; a ``Command`` action would need ``command`` rights too)."""
        await self.reload_module("pbx_config.so")

    async def reload_module(self, module: str) -> None:
        """The AMI ``Reload`` action on ``module`` (e.g. ``res_musiconhold.so``)."""
        try:
            async with asyncio.timeout(5.0):
                reply = await self.manager.send_action({"Action": "Reload", "Module": module})
        except (OSError, TimeoutError) as exc:
            raise AsteriskError(f"AMI reload {module}: {exc or 'timeout'}") from None
        if not getattr(reply, "success", False):
            raise AsteriskError(f"AMI reload {module} refused: {field_of(reply, 'Message')}")

    # ------------------------------------------------------------- CallbackDialer protocol

    async def call_back(self, *, callback_id: str, number: str) -> str:
        outcome = await self.start(callback_id, number=number, record_outbound=False)
        return outcome.linkedid

    def in_progress(self, outbound_linkedid: str) -> bool:
        outcome = self.calls.get(outbound_linkedid)
        return outcome is not None and not outcome.over.is_set()

    # ------------------------------------------------------------------------- calling

    async def start(
        self,
        callback_id: str,
        *,
        number: str | None = None,
        officer_id: str | None = None,
        record_outbound: bool = True,
    ) -> Outcome:
        """Ring the officer for call-back ``callback_id``; returns once Asterisk took it."""
        row = await self._callback(callback_id)
        if row.done_at is not None:
            raise CallbackError(f"yêu cầu gọi lại {callback_id} đã được xử lý")
        number = number or row.number
        if not number:
            raise CallbackError(f"yêu cầu gọi lại {callback_id} không còn số điện thoại")
        officer = pick_officer(self.rota(), officer_id, self.clock())
        try:
            dial = contract.dial_string(officer.number, self.trunk)
            contract.dial_string(number, self.trunk)
        except ValueError as exc:
            raise CallbackError(str(exc)) from None
        linkedid = f"callback-{uuid.uuid4()}"
        outcome = Outcome(
            callback_id,
            linkedid,
            officer.id,
            officer.name,
            officer.number,
            caller_number=number,
            record_outbound=record_outbound,
        )
        self.calls[linkedid] = outcome
        # panoramisk resolves an async Originate only with its OriginateResponse (once the
        # officer answered or gave up): it runs in the background, its result handled below.
        action = asyncio.ensure_future(
            self.manager.send_action(
                {
                    "Action": "Originate",
                    "Channel": dial,
                    "Context": CONTEXT_CALLBACK,
                    "Exten": "s",
                    "Priority": "1",
                    "Timeout": str(self.ring_seconds * 1000),
                    "CallerID": CALLER_ID,
                    "ChannelId": linkedid,
                    "Async": "true",
                    "Variable": [
                        f"CALLROUTER_CALLBACK_ID={callback_id}",
                        f"CALLROUTER_CALLBACK_NUMBER={number}",
                        f"CALLROUTER_CALLBACK_RING={self.ring_seconds}",
                    ],
                }
            )
        )
        outcome.originate = action
        action.add_done_callback(lambda task: self._originated(outcome, task))
        await asyncio.wait({action}, timeout=0.5)  # a refusal comes back at once
        if outcome.result == "failed":
            self.calls.pop(linkedid, None)
            raise AsteriskError(f"AMI Originate refused: {outcome.detail}")
        log.info(
            "callback.ringing_officer",
            callback_id=callback_id,
            officer=officer.id,
            caller=mask_number(number),
            linkedid=linkedid,
        )
        return outcome

    async def call(
        self, callback_id: str, *, officer_id: str | None = None, within: float = 120.0
    ) -> Outcome:
        """``callrouter callbacks call``: start, wait until bridged or failed, record."""
        outcome = await self.start(callback_id, officer_id=officer_id)
        try:
            await asyncio.wait_for(outcome.done.wait(), within)
        except TimeoutError:
            self._finish(outcome, "failed", "no answer from Asterisk in time")
        if outcome.record_task is not None:
            await outcome.record_task
        else:
            await self._recorded(outcome)
        return outcome

    # -------------------------------------------------------------------------- events

    def _originated(self, outcome: Outcome, task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._finish(outcome, "failed", f"AMI: {exc}")
            outcome.over.set()
            return
        reply = task.result()
        messages = reply if isinstance(reply, list) else [reply]
        for message in messages:
            if message.get("Event") == "OriginateResponse":
                self._on_originate(self.manager, message)
                return
        first = messages[0] if messages else None
        if first is None or first.get("Response") != "Success":
            self._finish(outcome, "failed", str(first.get("Message") if first else "no reply"))
            outcome.over.set()

    def _on_originate(self, _manager: Manager, event: Any) -> None:
        linkedid = field_of(event, "Uniqueid") or field_of(event, "ChannelId")
        outcome = self.calls.get(linkedid)
        if outcome is None:
            return
        if field_of(event, "Response") == "Success":
            outcome.officer_answered_at = self.clock()
            log.info("callback.officer_answered", linkedid=linkedid)
            return
        raw = field_of(event, "Reason")
        reason = _ORIGINATE_REASONS.get(int(raw) if raw.isdigit() else 0, "failed")
        self._finish(outcome, "officer_unreachable", reason)
        outcome.over.set()

    def _on_user_event(self, _manager: Manager, event: Any) -> None:
        try:
            self._user_event(event)
        except Exception:  # an odd event must not break the AMI connection
            log.exception("callback.bad_event")

    def _user_event(self, event: Any) -> None:
        name = field_of(event, "UserEvent")
        if name not in (EVENT_ANSWERED, EVENT_END):
            return
        outcome = self.calls.get(field_of(event, "Linkedid"))
        if outcome is None:
            return
        now = self.clock()
        if name == EVENT_ANSWERED:
            outcome.caller_answered_at = now
            self._finish(outcome, "bridged", "")
            return
        outcome.ended_at = now
        outcome.over.set()
        if outcome.result is None:
            status = field_of(event, "DialStatus").lower() or "hangup"
            self._finish(outcome, "caller_unreachable", status)
        if outcome.done.is_set():
            self._schedule_record(outcome)

    def _finish(self, outcome: Outcome, result: Result, detail: str) -> None:
        if outcome.result is not None:
            return
        outcome.result = result
        outcome.detail = detail
        outcome.done.set()
        log.info("callback.result", linkedid=outcome.linkedid, result=result, detail=detail or None)
        self._schedule_record(outcome)

    def _schedule_record(self, outcome: Outcome) -> None:
        if outcome.record_task is None:
            outcome.record_task = asyncio.ensure_future(self._recorded(outcome))

    # ------------------------------------------------------------------------ database

    async def _callback(self, callback_id: str) -> CallbackToDial:
        try:
            return await callback_to_dial(self.engine, callback_id)
        except NotFound as exc:
            raise CallbackError(str(exc)) from None

    async def _recorded(self, outcome: Outcome) -> None:
        """Write the outcome once (idempotent: a second call does nothing)."""
        if outcome.written or outcome.result is None:
            return
        outcome.written = True
        at = outcome.caller_answered_at or outcome.ended_at or self.clock()
        if outcome.result == "bridged":
            await mark_callback_done(
                self.engine,
                outcome.callback_id,
                by=outcome.officer_name,
                at=at,
                outbound_linkedid=outcome.linkedid,
            )
        elif outcome.record_outbound:
            await note_callback_try(self.engine, outcome.callback_id, outcome.linkedid)
        row = await self._callback(outcome.callback_id)
        if self.call_log is not None and row.linkedid is not None:
            self.call_log.event(
                linkedid=row.linkedid,
                at=at,
                type="callback_attempt",
                data={
                    "callback_id": outcome.callback_id,
                    "outbound_linkedid": outcome.linkedid,
                    "officer_id": outcome.officer_id,
                    "officer_name": outcome.officer_name,
                    "officer_number": outcome.officer_number,
                    "result": outcome.result,
                    "detail": outcome.detail,
                },
            )
            with contextlib.suppress(CallrouterError):
                await self.call_log.flush()
        log.info(
            "callback.recorded",
            callback_id=outcome.callback_id,
            result=outcome.result,
            done=outcome.result == "bridged",
        )


RESULT_TEXT: Final[dict[str, str]] = {
    "bridged": "đã nối máy cán bộ với người gọi",
    "officer_unreachable": "cán bộ không nghe máy",
    "caller_unreachable": "người gọi không nghe máy",
    "failed": "tổng đài không thực hiện được",
}


async def call_back_once(
    settings: Settings,
    callback_id: str,
    *,
    officer_id: str | None = None,
    database_url: str | None = None,
    ring_seconds: int = 30,
) -> Outcome:
    """``callrouter callbacks call ID [--officer ID]``: one call-back, recorded."""
    from callrouter.rota import load_rota  # noqa: PLC0415
    from callrouter.store.db import make_engine  # noqa: PLC0415

    rota = await asyncio.to_thread(load_rota, settings.rota_path)
    url = database_url or settings.effective_database_url()
    engine = make_engine(url)
    try:
        spool = settings.effective_spool_dir().with_name("spool-callbacks")
        async with CallLog(url, spool, tz=rota.timezone) as call_log:
            dialer = await AmiCallbackDialer.connect(
                settings.ami_host,
                settings.ami_port,
                settings.ami_user,
                settings.ami_password.get_secret_value(),
                engine,
                lambda: rota,
                call_log=call_log,
                ring_seconds=ring_seconds,
            )
            try:
                return await dialer.call(
                    callback_id, officer_id=officer_id, within=2 * ring_seconds + 30
                )
            finally:
                dialer.close()
    finally:
        await engine.dispose()
