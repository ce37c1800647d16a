"""The web's health notices for callers (issue 21): an admin writes a short notice, its
validity and who hears it; it is saved into the notices file serve plays from.

Routes (admins only: an officer's account gets 403)::

    GET  /notices               the notices in use (what callers hear now), the file's
                                notices, a form to add one, the journal of changes
    POST /notices               add a notice
    GET  /notices/{id}          one notice's form and its changes
    POST /notices/{id}          save it
    POST /notices/{id}/remove   take it out of the file (kept in the journal)

One home: the page edits the notices file (``CALLROUTER_NOTICES_PATH``) through
:class:`callrouter.notices.edit.NoticesEditor` — the same validation as the loader and
``callrouter notices add``, the notice spoken and measured before the file is written, a
refused change leaving the file and the running set as they are — and serve's watcher
reloads it and rewrites the dialplan fallback's include as after any edit of the file.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import structlog
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from callrouter.errors import NoticeError
from callrouter.notices.board import NoticeBoard
from callrouter.notices.config import Audience, Notice
from callrouter.notices.edit import (
    Action,
    NoticeChangeRefused,
    NoticeConflict,
    NoticeDraft,
    NoticesEditor,
    Snapshot,
    read_journal,
    read_snapshot,
    suggest_id,
)

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from callrouter.web.app import AdminWeb

log = structlog.get_logger(__name__)

AUDIENCE_LABELS: Final[dict[str, str]] = {
    Audience.ALL.value: "Mọi người gọi (khi chờ và ngoài giờ)",
    Audience.WAITING.value: "Chỉ người đang chờ cán bộ nghe máy",
    Audience.AFTER_HOURS.value: "Chỉ người gọi ngoài giờ trực",
}
ACTION_LABELS: Final[dict[str, str]] = {"add": "Thêm", "edit": "Sửa", "remove": "Bỏ"}
JOURNAL_SHOWN: Final = 100
WARNINGS_KEY: Final = "notice_warnings"


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _field_time(at: datetime, tz: ZoneInfo) -> str:
    """A notice's date as a ``datetime-local`` field shows it (in the file's time zone)."""
    local = at.astimezone(tz) if at.tzinfo is not None else at
    return local.strftime("%Y-%m-%dT%H:%M")


def _state(notice: Notice, tz: ZoneInfo, now: datetime) -> str:
    start, end = notice.window(tz)
    if end <= now:
        return "hết hạn"
    return "đang hiệu lực" if start <= now else "chưa đến ngày"


class NoticesPages:
    """Handlers bound to the admin web; ``board`` is serve's running notice set (None: no
    notices file configured, the pages say how to set one)."""

    def __init__(self, web: AdminWeb, board: NoticeBoard | None) -> None:
        self.web = web
        self.board = board
        self.editor = (
            NoticesEditor(board.path, board.sounds_dir, board.folder) if board is not None else None
        )

    def routes(self) -> list[Route]:
        return [
            Route("/notices", self.listing, methods=["GET"]),
            Route("/notices", self.create, methods=["POST"]),
            Route("/notices/{notice_id}", self.detail, methods=["GET"]),
            Route("/notices/{notice_id}", self.update, methods=["POST"]),
            Route("/notices/{notice_id}/remove", self.remove, methods=["POST"]),
        ]

    # -- guards -----------------------------------------------------------------------------
    _WHY = "Chỉ quản trị viên được viết thông báo phát cho người gọi."

    async def _admin_get(self, request: Request) -> str | Response:
        return await self.web.admin_get(request, self._WHY)

    async def _admin_post(self, request: Request) -> tuple[str, FormData] | Response:
        return await self.web.admin_post(request, self._WHY)

    # -- pages ------------------------------------------------------------------------------
    async def _snapshot(self) -> Snapshot | None:
        if self.editor is None:
            return None
        return await asyncio.to_thread(read_snapshot, self.editor.path)

    def _running(self) -> dict[str, Any]:
        """What serve plays now (the board), for the page."""
        board = self.board
        if board is None:
            return {"ready": [], "problems": [], "refused": None, "pending": False}
        current = board.current_set
        return {
            "ready": list(current.ready) if current is not None else [],
            "problems": list(current.problems) if current is not None else [],
            "refused": board.refused,
            "pending": not board.up_to_date(),
            "tz": current.file.tz if current is not None else None,
        }

    def _rows(self, snap: Snapshot | None) -> list[dict[str, Any]]:
        if snap is None or snap.file is None:
            return []
        tz, now = snap.file.tz, self.web._now()
        ready = {r.notice.id: r for r in (self.board.ready() if self.board else ())}
        rows = []
        for n in snap.file.notices:
            start, end = n.window(tz)
            in_use = ready.get(n.id)
            rows.append(
                {
                    "n": n,
                    "start": start,
                    "end": end,
                    "state": _state(n, tz, now),
                    "seconds": in_use.seconds if in_use and in_use.notice == n else None,
                }
            )
        return rows

    async def _page(
        self,
        request: Request,
        user: str,
        template: str,
        extra: dict[str, Any],
        *,
        status: int = 200,
    ) -> Response:
        snap = await self._snapshot()
        journal = (
            await asyncio.to_thread(read_journal, self.editor.path, JOURNAL_SHOWN)
            if self.editor is not None
            else []
        )
        context = {
            "configured": self.editor is not None,
            "path": self.editor.path if self.editor is not None else None,
            "snap": snap,
            "rows": self._rows(snap),
            "running": self._running(),
            "journal": journal,
            "warnings": request.session.pop(WARNINGS_KEY, None) or [],
            "AUDIENCE_LABELS": AUDIENCE_LABELS,
            "ACTION_LABELS": ACTION_LABELS,
            "max_seconds": snap.file.max_seconds if snap and snap.file else None,
            **extra,
        }
        return self.web.page(request, template, context, status=status, user=user)

    async def listing(self, request: Request) -> Response:
        user = await self._admin_get(request)
        if isinstance(user, Response):
            return user
        return await self._page(request, user, "notices.html", {"f": {}, "problems": []})

    async def detail(self, request: Request) -> Response:
        user = await self._admin_get(request)
        if isinstance(user, Response):
            return user
        return await self._detail(request, user, request.path_params["notice_id"], None, [])

    async def _detail(
        self,
        request: Request,
        user: str,
        notice_id: str,
        kept: dict[str, Any] | None,
        problems: list[str],
        *,
        status: int = 200,
    ) -> Response:
        snap = await self._snapshot()
        notice = None
        if snap is not None and snap.file is not None:
            notice = next((n for n in snap.file.notices if n.id == notice_id), None)
        if notice is None and kept is None:
            return self.web.error(request, 404, "Không tìm thấy", "Không có thông báo này.")
        shown = kept
        if shown is None and notice is not None and snap is not None and snap.file is not None:
            shown = {
                "id": notice.id,
                "text": notice.text,
                "valid_from": _field_time(notice.valid_from, snap.file.tz),
                "valid_until": _field_time(notice.valid_until, snap.file.tz),
                "audience": notice.audience.value,
                "recording": notice.recording or "",  # shown, not sent back
                "digest": snap.digest,
            }
        return await self._page(
            request,
            user,
            "notice.html",
            {"notice_id": notice_id, "f": shown or {}, "problems": problems},
            status=status,
        )

    # -- changes ----------------------------------------------------------------------------
    def _draft(self, form: FormData, notice_id: str) -> NoticeDraft:
        return NoticeDraft(
            id=notice_id,
            text=_text(form, "text"),
            valid_from=_text(form, "valid_from"),
            valid_until=_text(form, "valid_until"),
            audience=_text(form, "audience") or Audience.WAITING.value,
        )

    async def _save(
        self,
        request: Request,
        user: str,
        action: Action,
        *,
        draft: NoticeDraft | None,
        notice_id: str,
        form: FormData,
    ) -> Response:
        if self.editor is None:
            return self.web.error(
                request,
                409,
                "Chưa cấu hình tệp thông báo",
                "Đặt CALLROUTER_NOTICES_PATH rồi khởi động lại callrouter serve.",
            )
        problems: list[str] = []
        if draft is not None:
            for name, label in (("valid_from", "Bắt đầu phát"), ("valid_until", "Ngừng phát")):
                if not _text(form, name):
                    problems.append(f"{label}: cần ngày giờ")
        if not problems:
            try:
                saved = await asyncio.to_thread(
                    self.editor.save,
                    action,
                    draft,
                    notice_id=notice_id,
                    expected=_text(form, "digest") or "",
                    account=user,
                    now=self.web._now(),
                )
            except NoticeConflict as exc:
                return await self._again(
                    request,
                    user,
                    action,
                    notice_id=notice_id,
                    form=form,
                    problems=[str(exc)],
                    status=409,
                )
            except NoticeChangeRefused as exc:
                problems = exc.problems
            except NoticeError as exc:
                problems = [str(exc)]
            else:
                change = saved.checked.ready
                log.info(
                    "web.notice_saved",
                    action=action,
                    notice=notice_id,
                    user=user,
                    seconds=change.seconds if change else None,
                    warnings=len(saved.checked.warnings),
                )
                length = f" (đọc dài {change.seconds:.1f} giây)" if change else ""
                request.session["flash"] = (
                    f"Đã {ACTION_LABELS[action].lower()} thông báo {notice_id}{length}; "
                    "callrouter sẽ phát theo tệp mới trong vài giây."
                )
                if saved.checked.warnings:
                    request.session[WARNINGS_KEY] = list(saved.checked.warnings)
                target = "/notices" if action == "remove" else f"/notices/{quote(notice_id)}"
                return RedirectResponse(target, status_code=303)
        log.info("web.notice_refused", action=action, notice=notice_id, user=user)
        return await self._again(
            request, user, action, notice_id=notice_id, form=form, problems=problems, status=400
        )

    async def _again(
        self,
        request: Request,
        user: str,
        action: Action,
        *,
        notice_id: str,
        form: FormData,
        problems: list[str],
        status: int,
    ) -> Response:
        """The form again with what was typed and why it was refused."""
        kept = {k: v for k, v in form.items() if k != "csrf" and isinstance(v, str)}
        if action == "add":
            return await self._page(
                request, user, "notices.html", {"f": kept, "problems": problems}, status=status
            )
        return await self._detail(
            request, user, notice_id, kept if action == "edit" else None, problems, status=status
        )

    async def create(self, request: Request) -> Response:
        guarded = await self._admin_post(request)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        notice_id = _text(form, "id")
        if not notice_id:
            snap = await self._snapshot()
            taken = set(snap.entries) if snap is not None else set()
            notice_id = suggest_id(_text(form, "text"), taken)
        return await self._save(
            request, user, "add", draft=self._draft(form, notice_id), notice_id=notice_id, form=form
        )

    async def update(self, request: Request) -> Response:
        guarded = await self._admin_post(request)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        notice_id = request.path_params["notice_id"]
        return await self._save(
            request,
            user,
            "edit",
            draft=self._draft(form, notice_id),
            notice_id=notice_id,
            form=form,
        )

    async def remove(self, request: Request) -> Response:
        guarded = await self._admin_post(request)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        return await self._save(
            request,
            user,
            "remove",
            draft=None,
            notice_id=request.path_params["notice_id"],
            form=form,
        )
