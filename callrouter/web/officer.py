"""The officer's screen while a call is up (``/tiep-nhan``), built for a phone in one hand.

Routes::

    GET  /tiep-nhan                     the screen: calls ringing or bridged to me, the
                                        "to finish" list (answered calls without a case)
    GET  /tiep-nhan/su-kien             server-sent events: my live calls, at every change
    GET  /tiep-nhan/lich-su/{call_id}   the caller's history (earlier calls and cases from
                                        that number, most recent first; ``?truoc=`` pages)
    GET  /tiep-nhan/cau-tra-loi?q=      the answer book searched beside the call (a fragment:
                                        ranked hits, matches highlighted, expired struck through)
    POST /tiep-nhan/ho-so/{call_id}     record a case for the call (with the agreed answers
                                        picked from that search), then back to the screen

The live part comes from the same in-memory registry the dashboard reads
(:class:`~callrouter.calls.live.LiveCalls`, fed by the call flow's observer): the event stream
waits on :meth:`LiveCalls.wait_change`, it never polls. One same-origin script
(``/static/officer.js``) draws the calls from the events and never touches a form the
officer is typing in; a call that ended keeps its card and form, and stays on the "to
finish" list until a case is recorded. An officer sees their own calls (the legs rung at
their numbers); an admin sees every live call of the unit.

Opening a caller's history writes an audit entry (``history_viewed`` in the call's
``call_events``; see :mod:`callrouter.store.history`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import structlog
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from callrouter.answers.fold import MAX_QUERY
from callrouter.calls.live import STATE_LABELS, LiveCall, LiveLeg
from callrouter.logs import mask_number
from callrouter.store import dashboard as q
from callrouter.store import history as h
from callrouter.store.answers import search
from callrouter.store.models import call_id_for

if TYPE_CHECKING:
    from callrouter.web.app import AdminWeb

log = structlog.get_logger(__name__)

HEARTBEAT_SECONDS = 15.0  # a comment line keeps proxies from closing an idle stream
STREAM_SECONDS = 300.0  # then the browser reconnects (and the session is checked again)
RETRY_MS = 2000
TO_FINISH_DAYS = 7
PICK_RESULTS = 8  # answers offered beside a call: the officer reads them on a phone
LEG_LABELS = {"ringing": "Đang đổ chuông máy của bạn", "talking": "Đang nối máy với bạn"}


class OfficerScreen:
    """Handlers bound to the admin web (its guards, pages and context)."""

    def __init__(self, web: AdminWeb) -> None:
        self.web = web
        #: seconds of quiet before a heartbeat, when the log-in is also checked again
        self.heartbeat = HEARTBEAT_SECONDS

    def routes(self) -> list[Route]:
        return [
            Route("/tiep-nhan", self.screen, methods=["GET"]),
            Route("/tiep-nhan/su-kien", self.events, methods=["GET"]),
            Route("/tiep-nhan/lich-su/{call_id}", self.history, methods=["GET"]),
            Route("/tiep-nhan/cau-tra-loi", self.find_answers, methods=["GET"]),
            Route("/tiep-nhan/ho-so/{call_id}", self.record_case, methods=["POST"]),
        ]

    # -- what this user sees ---------------------------------------------------------
    def _officer_id(self, request: Request) -> str | None:
        account = getattr(request.state, "account", None)
        return None if account is None else str(account.id)

    def _branch(self, request: Request) -> int:
        account = getattr(request.state, "account", None)
        return self.web.ctx.branch if account is None else int(account.branch)

    def my_calls(self, request: Request) -> list[tuple[LiveCall, LiveLeg | None]]:
        """The live calls this user sees: an officer's legs, or (admin) the unit's calls."""
        officer = self._officer_id(request)
        branch = self._branch(request)
        out: list[tuple[LiveCall, LiveLeg | None]] = []
        for call in self.web.ctx.live.snapshot(self.web._now()):
            if call.branch != branch:
                continue
            if officer is None:
                out.append((call, call.legs[0] if call.legs else None))
            elif (leg := call.leg_of(officer)) is not None:
                out.append((call, leg))
        return out

    def calls_json(self, request: Request) -> list[dict[str, Any]]:
        return [_call_json(call, leg) for call, leg in self.my_calls(request)]

    # -- the screen ------------------------------------------------------------------
    async def screen(self, request: Request) -> Response:
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        officer = self._officer_id(request)
        todo = await h.calls_to_finish(
            self.web.ctx.engine,
            officer_id=officer,
            branch=self._branch(request),
            since=self.web._now() - timedelta(days=TO_FINISH_DAYS),
        )
        return self.web.page(
            request,
            "officer.html",
            {"todo": todo, "days": TO_FINISH_DAYS, "admin": officer is None, **self._labels()},
            user=user,
        )

    def _labels(self) -> dict[str, Any]:
        return {**self.web.cases.labels(), "answer_query_max": MAX_QUERY}

    # -- server-sent events ----------------------------------------------------------
    async def events(self, request: Request) -> Response:
        user = await self.web._user(request)
        if not isinstance(user, str):
            # EventSource would follow a redirect to the log-in page and give up silently.
            return PlainTextResponse("Chưa đăng nhập.", status_code=401)
        return StreamingResponse(
            self._stream(request),
            media_type="text/event-stream",
            headers={"x-accel-buffering": "no"},
        )

    async def _stream(self, request: Request) -> AsyncIterator[str]:
        live = self.web.ctx.live
        ends = time.monotonic() + STREAM_SECONDS
        yield f"retry: {RETRY_MS}\n\n"
        seen, last = -1, ""
        while not live.closed and time.monotonic() < ends:
            version = await live.wait_change(seen, self.heartbeat)
            if version == seen:
                if not isinstance(await self.web._user(request), str):
                    return  # logged out, expired or disabled meanwhile: the reconnect gets 401
                yield ": ping\n\n"
                continue
            seen = version
            calls = json.dumps(self.calls_json(request), ensure_ascii=False)
            if calls == last:
                continue
            last = calls
            now_ms = int(self.web._now().timestamp() * 1000)
            yield f'event: calls\ndata: {{"now": {now_ms}, "calls": {calls}}}\n\n'

    # -- the caller's history --------------------------------------------------------
    async def _caller_of(self, request: Request, call_id: str) -> tuple[str | None, bool]:
        """The number of the call ``call_id`` if this user may see it (a live call of
        theirs, or a logged call of their unit), and whether it was found."""
        for call, _leg in self.my_calls(request):
            if call_id_for(call.linkedid) == call_id:
                return call.caller, True
        row = await q.get_call(self.web.ctx.engine, call_id)
        if row is None or not self.web.may_see(request, row.branch):
            return None, False
        return row.caller, True

    async def history(self, request: Request) -> Response:
        user = await self.web._user(request)
        if not isinstance(user, str):
            return PlainTextResponse("Chưa đăng nhập.", status_code=401)
        call_id = request.path_params["call_id"][:64]
        number, found = await self._caller_of(request, call_id)
        if not found:
            return PlainTextResponse("Không tìm thấy cuộc gọi.", status_code=404)
        before = _before(request.query_params.get("truoc"))
        past = None
        if number:
            account = getattr(request.state, "account", None)
            past = await h.caller_history(
                self.web.ctx.engine,
                number,
                exclude_call_id=call_id,
                branch=None if account is None else account.branch,
                before=before,
            )
            audited = await h.record_history_view(
                self.web.ctx.engine,
                call_id,
                by=user,
                at=self.web._now(),
                shown_calls=len(past.calls),
                shown_cases=len(past.cases) if before is None else 0,
            )
            if not audited:  # the call is not in the log yet: nothing shown unaudited
                return PlainTextResponse("Cuộc gọi chưa vào nhật ký, thử lại.", status_code=409)
            log.info("web.history_viewed", call_id=call_id, user=user, number=mask_number(number))
        # A fragment, not a page: rendered without taking the session's flash message.
        return self.web.templates.TemplateResponse(
            request,
            "_history.html",
            {
                "past": past,
                "number": number,
                "call_id": call_id,
                "first_page": before is None,
                "this_call": [c for c in past.cases if c.call_id == call_id] if past else [],
                "next_url": _next_url(call_id, past),
                **self._labels(),
            },
        )

    # -- the answer book beside the call ---------------------------------------------
    async def find_answers(self, request: Request) -> Response:
        """The book's answers matching ``q``, as the card's picker shows them (a fragment)."""
        user = await self.web._user(request)
        if not isinstance(user, str):
            return PlainTextResponse("Chưa đăng nhập.", status_code=401)
        query = request.query_params.get("q", "")[:MAX_QUERY]
        hits = await search(self.web.ctx.engine, query, limit=PICK_RESULTS)
        return self.web.templates.TemplateResponse(
            request,
            "_answer_pick.html",
            {
                "q": query,
                "hits": hits,
                "topics": self.web.cases.config.topics,
                "today": self.web.cases._today(),
            },
        )

    # -- the case form ---------------------------------------------------------------
    async def record_case(self, request: Request) -> Response:
        """The case form of a call card: recorded as from the call's page (same checks),
        then back to this screen with the reference to read out."""
        return await self.web.cases.open_for_call(request, back="/tiep-nhan")


def _call_json(call: LiveCall, leg: LiveLeg | None) -> dict[str, Any]:
    state = leg.state if leg is not None else call.state
    label = LEG_LABELS.get(state) if leg is not None else None
    return {
        "linkedid": call.linkedid,
        "call_id": call_id_for(call.linkedid),
        "caller": call.caller or "",
        "state": state,
        "state_label": label or STATE_LABELS.get(state, state),
        "started": int(call.started_at.timestamp() * 1000),
        "since": int((leg.since if leg is not None else call.started_at).timestamp() * 1000),
        "number": (leg.number if leg is not None else call.number) or "",
        "number_label": (leg.number_label if leg is not None else None) or "",
        "officer": (leg.officer_name if leg is not None else call.officer_name) or "",
    }


def _before(text: str | None) -> datetime | None:
    if not text or len(text) > 40:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _next_url(call_id: str, past: h.CallerHistory | None) -> str | None:
    if past is None or past.next_before is None:
        return None
    return f"/tiep-nhan/lich-su/{quote(call_id)}?truoc={quote(past.next_before.isoformat())}"
