"""``/thong-bao``: the notifications callrouter sent (or is still trying to send).

Newest first, filterable by state (``?status=failed``); each row says who, what kind, when,
how many attempts, and the SMTP error when there was one. Read-only: the scheduler retries
by itself, and a notice given up stays listed so the admin can tell the person by phone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from starlette.requests import Request
from starlette.responses import Response

from callrouter.store import outbox

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
        rows, counts = await outbox.listing(
            self.web.ctx.engine, status=status or None, limit=PAGE_SIZE
        )
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
