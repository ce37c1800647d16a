"""``/thong-bao``: the notifications callrouter sent (or is still trying to send).

Newest first, filterable by state (``?status=failed``); each row says who, what kind, when,
how many attempts, and the SMTP error when there was one. Read-only: the scheduler retries
by itself, and a notice given up stays listed so the admin can tell the person by phone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from callrouter.store.models import notifications

if TYPE_CHECKING:
    from callrouter.web.app import AdminWeb

PAGE_SIZE: Final = 200
KIND_LABELS: Final[dict[str, str]] = {
    "shift_reminder": "Nhắc ca trực",
    "uncovered_hours": "Giờ không có người trực",
    "duty_changed": "Lịch trực thay đổi",
    "fallback_alarm": "Báo động: chuyển dự phòng",
    "health_alarm": "Báo động: bộ định tuyến lỗi",
    "missed_call": "Cuộc gọi nhỡ",
    "digest": "Tổng hợp hằng ngày",
}
STATUS_LABELS: Final[dict[str, str]] = {
    "pending": "Đang chờ gửi",
    "sent": "Đã gửi",
    "failed": "Không gửi được",
}


class NotificationsPage:
    def __init__(self, web: AdminWeb) -> None:
        self.web = web

    async def listing(self, request: Request) -> Response:
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        status = request.query_params.get("status", "")
        if status and status not in STATUS_LABELS:
            return self.web.error(
                request, 400, "Bộ lọc không hợp lệ", f"Không có trạng thái {status[:20]!r}."
            )
        n = notifications.c
        query = select(
            n.id, n.kind, n.recipient, n.subject, n.status, n.attempts, n.created_at,
            n.sent_at, n.not_before, n.error,
        ).order_by(n.created_at.desc(), n.id.desc()).limit(PAGE_SIZE)  # fmt: skip
        if status:
            query = query.where(n.status == status)
        async with self.web.ctx.engine.connect() as conn:
            rows = list(await conn.execute(query))
            by_status = await conn.execute(select(n.status, func.count()).group_by(n.status))
            counts: dict[str, int] = {str(k): int(v) for k, v in by_status}
        return self.web.page(
            request,
            "notifications.html",
            {
                "rows": rows,
                "status": status,
                "counts": counts,
                "KIND_LABELS": KIND_LABELS,
                "STATUS_LABELS": STATUS_LABELS,
                "limit": PAGE_SIZE,
            },
            user=user,
        )
