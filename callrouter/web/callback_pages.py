"""The call-back pages: the open requests (with their recorded message and the tries so far),
dialling a caller back through the router (one call at a time per request, claimed in the
database first), marking a request done, and the message's recording."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from callrouter.logs import mask_number
from callrouter.store import dashboard as q
from callrouter.store.recordings import RecordingRefused, resolve_recording

if TYPE_CHECKING:
    from callrouter.web.app import AdminWeb

log = structlog.get_logger(__name__)

#: what the recordings endpoint serves, by file suffix
AUDIO_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".oga": "audio/ogg"}


class CallbackPages:
    def __init__(self, web: AdminWeb) -> None:
        self.web = web

    def routes(self) -> list[Route]:
        return [
            Route("/callbacks", self.listing),
            Route("/callbacks/{callback_id}/dial", self.dial, methods=["POST"]),
            Route("/callbacks/{callback_id}/done", self.close, methods=["POST"]),
            Route("/callbacks/{callback_id}/attempt", self.web.outcomes.record, methods=["POST"]),
            Route("/callbacks/{callback_id}/recording", self.recording),
        ]

    async def listing(self, request: Request) -> Response:
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        rows = await q.open_callbacks(self.web.ctx.engine)
        now = self.web._now()
        columns = await self.web.outcomes.columns(rows, now)
        items = [
            {
                "cb": cb,
                "busy": self._dial_in_progress(cb.outbound_linkedid, now),
                "audio": self._recording_path(cb.recording) is not None,
                **columns[cb.id],
            }
            for cb in rows
        ]
        return self.web.page(
            request,
            "callbacks.html",
            {"items": items, "can_dial": self.web.ctx.dialer is not None},
            user=user,
        )

    def _dial_in_progress(self, outbound: str | None, now: datetime) -> bool:
        if outbound is None:
            return False
        if outbound.startswith(q.PENDING_PREFIX):
            return q.claim_is_fresh(outbound, now)
        dialer = self.web.ctx.dialer
        return dialer is not None and dialer.in_progress(outbound)

    async def dial(self, request: Request) -> Response:
        guarded = await self.web._guard_post(request)
        if isinstance(guarded, Response):
            return guarded
        user, _form = guarded
        callback_id = request.path_params["callback_id"]
        cb = await q.get_callback(self.web.ctx.engine, callback_id)
        if cb is None or cb.number is None:
            return self.no_callback(request, callback_id)
        if cb.done_at is not None:
            return self.web.error(
                request, 409, "Đã xử lý", "Yêu cầu gọi lại này đã được đánh dấu là đã xử lý."
            )
        dialer = self.web.ctx.dialer
        if dialer is None:
            return self.web.error(
                request,
                503,
                "Chưa thể gọi lại",
                "Bộ định tuyến chưa kết nối tổng đài nên chưa gọi lại được. Hãy thử lại sau.",
            )
        now = self.web._now()
        refused = self.web.error(
            request,
            409,
            "Đang gọi lại",
            f"Đang có một cuộc gọi lại tới {cb.number}. Không tạo thêm cuộc gọi thứ hai.",
        )
        if self._dial_in_progress(cb.outbound_linkedid, now):
            self.web.ctx.metrics.callbacks_dialed.labels(result="refused").inc()
            return refused
        claim = q.pending_claim(secrets.token_hex(8), now)
        if not await q.swap_outbound(
            self.web.ctx.engine, callback_id, expected=cb.outbound_linkedid, new=claim
        ):
            # Someone else claimed it between our read and our write.
            self.web.ctx.metrics.callbacks_dialed.labels(result="refused").inc()
            return refused
        try:
            linkedid = await dialer.call_back(callback_id=callback_id, number=cb.number)
        except Exception as exc:  # the dialer's failure is shown, never a traceback
            await q.swap_outbound(
                self.web.ctx.engine, callback_id, expected=claim, new=cb.outbound_linkedid
            )
            self.web.ctx.metrics.callbacks_dialed.labels(result="failed").inc()
            log.error(
                "web.callback_failed",
                callback_id=callback_id,
                number=mask_number(cb.number),
                error=str(exc),
            )
            return self.web.error(
                request,
                502,
                "Không gọi lại được",
                f"Tổng đài không thực hiện được cuộc gọi lại tới {cb.number}. Hãy thử lại sau.",
            )
        await q.swap_outbound(self.web.ctx.engine, callback_id, expected=claim, new=linkedid)
        self.web.ctx.metrics.callbacks_dialed.labels(result="started").inc()
        log.info(
            "web.callback_started",
            callback_id=callback_id,
            number=mask_number(cb.number),
            user=user,
        )
        request.session["flash"] = f"Đang gọi lại số {cb.number}."
        return RedirectResponse("/callbacks", status_code=303)

    def no_callback(self, request: Request, callback_id: str) -> Response:
        return self.web.error(
            request,
            404,
            "Không tìm thấy yêu cầu gọi lại",
            f"Không có yêu cầu gọi lại mã «{callback_id[:64]}».",
        )

    async def close(self, request: Request) -> Response:
        guarded = await self.web._guard_post(request)
        if isinstance(guarded, Response):
            return guarded
        user, _form = guarded
        callback_id = request.path_params["callback_id"]
        cb = await q.get_callback(self.web.ctx.engine, callback_id)
        if cb is None:
            return self.no_callback(request, callback_id)
        if await q.close_callback(self.web.ctx.engine, callback_id, by=user, at=self.web._now()):
            request.session["flash"] = "Đã đánh dấu yêu cầu gọi lại là đã xử lý."
        return RedirectResponse("/callbacks", status_code=303)

    def _recording_path(self, recording: str | None) -> Path | None:
        """The recording file, only when it exists inside ``recordings_dir``."""
        if not recording:
            return None
        try:
            path = resolve_recording(self.web.ctx.settings.recordings_dir, recording)
        except RecordingRefused:
            return None
        return path if path.is_file() else None

    async def recording(self, request: Request) -> Response:
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        callback_id = request.path_params["callback_id"]
        cb = await q.get_callback(self.web.ctx.engine, callback_id)
        path = self._recording_path(cb.recording if cb is not None else None)
        if path is None:
            return self.web.error(
                request, 404, "Không có bản ghi âm", "Yêu cầu gọi lại này không có lời nhắn."
            )
        return FileResponse(path, media_type=AUDIO_TYPES[path.suffix.lower()])
