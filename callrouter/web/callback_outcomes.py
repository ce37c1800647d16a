"""The call-back list's extra columns and its "how did the try go" buttons.

Each open call-back shows its age, when it is due (:mod:`callrouter.cases.due`: working
hours on the unit's calendar) and its earlier tries; an officer records a try as reached, no
answer or wrong number (``POST /callbacks/<id>/attempt``); reached and wrong number close it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from callrouter.calls.outcomes import CALLBACK_TRY_LABELS
from callrouter.cases.due import due_at
from callrouter.store.callback_attempts import attempts_of, record_attempt
from callrouter.store.models import CALLBACK_OUTCOMES

if TYPE_CHECKING:
    from callrouter.store.dashboard import CallbackRow
    from callrouter.web.app import AdminWeb

log = structlog.get_logger(__name__)


def age_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} phút"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} giờ {minutes} phút"
    days, hours = divmod(hours, 24)
    return f"{days} ngày {hours} giờ"


class CallbackOutcomes:
    def __init__(self, web: AdminWeb) -> None:
        self.web = web

    async def columns(self, rows: list[CallbackRow], now: datetime) -> dict[str, dict[str, Any]]:
        """Per call-back id: its age, due time, whether overdue, and its tries."""
        rules = self.web.ctx.case_rules
        tries = await attempts_of(self.web.ctx.engine, [cb.id for cb in rows])
        out: dict[str, dict[str, Any]] = {}
        for cb in rows:
            due = due_at(cb.created_at, rules.calendar, rules.tz)
            out[cb.id] = {
                "age": age_text(max(0.0, (now - cb.created_at).total_seconds())),
                "due": due,
                "overdue": due < now,
                "tries": tries.get(cb.id, []),
            }
        return out

    async def record(self, request: Request) -> Response:
        guarded = await self.web._guard_post(request)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        callback_id = request.path_params["callback_id"]
        outcome = form.get("outcome")
        if not isinstance(outcome, str) or outcome not in CALLBACK_OUTCOMES:
            return self.web.error(
                request, 400, "Biểu mẫu không hợp lệ", "Kết quả gọi lại không hợp lệ."
            )
        engine = self.web.ctx.engine
        if not await record_attempt(
            engine, callback_id, outcome=outcome, by=user, at=self.web._now()
        ):
            return self.web.callback_pages.no_callback(request, callback_id)
        log.info("web.callback_attempt", callback=callback_id, outcome=outcome, user=user)
        request.session["flash"] = f"Đã ghi kết quả gọi lại: {CALLBACK_TRY_LABELS[outcome]}."
        return RedirectResponse("/callbacks", status_code=303)
