"""The read-only JSON API for the switchboard's systems (``/api/v1/…``).

Every request carries ``Authorization: Bearer <token>`` (``callrouter api-tokens issue``);
a missing, unknown or revoked token is 401. Each use is logged (token name, path) and
counted on the token's row.

* ``GET /api/v1/duty[?at=ISO date-time]``: open or closed and who is on duty (officer id
  and name; no phone numbers), now or at ``at``;
* ``GET /api/v1/cases/status?ref=42/2026&number=0912…``: a case's status, only when the
  number is the caller's of the call or call-back the case was opened on; any mismatch is
  the same 404 after the same single query.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from callrouter.cases.lifecycle import Status
from callrouter.rota import duty_status
from callrouter.store.api_tokens import use_token
from callrouter.store.case_status import case_status
from callrouter.store.cases import parse_ref
from callrouter.store.privacy import number_forms

if TYPE_CHECKING:
    from callrouter.web.app import AdminWeb

log = structlog.get_logger(__name__)

_NO_NUMBER = ("-",)  # matches no stored number: the lookup runs the same query anyway
MAX_PARAM = 40


class JsonApi:
    def __init__(self, web: AdminWeb) -> None:
        self.web = web

    async def _token(self, request: Request) -> str | Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        name = None
        if scheme.lower() == "bearer":
            name = await use_token(self.web.ctx.engine, token.strip(), self.web._now())
        if name is None:
            log.warning("api.refused", path=request.url.path)
            return JSONResponse(
                {"error": "unauthorized"},
                status_code=401,
                headers={"www-authenticate": 'Bearer realm="callrouter api"'},
            )
        log.info("api.use", token=name, path=request.url.path)
        return name

    async def duty(self, request: Request) -> Response:
        token = await self._token(request)
        if isinstance(token, Response):
            return token
        rota = self.web.ctx.rota.rota
        if rota is None:
            return JSONResponse({"error": "rota not loaded"}, status_code=503)
        at = self.web._now()
        given = request.query_params.get("at")
        if given:
            try:
                at = datetime.fromisoformat(given[:MAX_PARAM])
            except ValueError:
                return JSONResponse({"error": "at: expected an ISO 8601 date-time"}, 400)
            if at.tzinfo is None:
                at = at.replace(tzinfo=rota.timezone)
        status = duty_status(rota, at)
        return JSONResponse(
            {
                "at": at.astimezone(rota.timezone).isoformat(),
                "open": status.open,
                "officers": [
                    {"id": a.officer_id, "name": a.officer_name} for a in status.assignments
                ],
            }
        )

    async def case_status(self, request: Request) -> Response:
        token = await self._token(request)
        if isinstance(token, Response):
            return token
        params = request.query_params
        ref = parse_ref(params.get("ref", "")[:MAX_PARAM]) or (0, 0)
        try:
            numbers = number_forms(params.get("number", "")[:MAX_PARAM])
        except ValueError:
            numbers = _NO_NUMBER
        found = await case_status(
            self.web.ctx.engine, branch=self.web.ctx.branch, ref=ref, numbers=numbers
        )
        if found is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        status = Status(found.status)
        return JSONResponse(
            {
                "ref": f"{ref[0]}/{ref[1]}",
                "status": status.value,
                "status_label": status.label,
                "closed": status.closed,
                "deadline": found.deadline.isoformat(),
                "closed_on": found.closed_on.isoformat() if found.closed_on else None,
            }
        )
