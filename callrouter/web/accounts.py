"""The one-time set-password link an officer receives by e-mail (``callrouter accounts
send-link``): ``/dat-mat-khau/<token>`` shows the form, a POST with the CSRF token sets the
password and spends the link. An unknown, spent or expired link is one 404 page."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from callrouter.store import accounts as store
from callrouter.web.security import MIN_PASSWORD, hash_password

if TYPE_CHECKING:
    from callrouter.web.app import AdminWeb

log = structlog.get_logger(__name__)

MAX_PASSWORD = 1000  # scrypt of a longer one is the client's free CPU


class PasswordLinks:
    def __init__(self, web: AdminWeb) -> None:
        self.web = web

    def _dead(self, request: Request) -> Response:
        return self.web.error(
            request,
            404,
            "Đường dẫn không còn hiệu lực",
            "Đường dẫn đặt mật khẩu không đúng, đã được dùng hoặc đã hết hạn. "
            "Hãy nhờ quản trị viên gửi đường dẫn mới.",
        )

    def _form(self, request: Request, officer: str, error: str | None, status: int) -> Response:
        return self.web.page(
            request,
            "set_password.html",
            {"officer": officer, "error": error, "min_length": MIN_PASSWORD},
            status=status,
        )

    async def form(self, request: Request) -> Response:
        token = request.path_params["token"]
        officer = await store.link_account(self.web.ctx.engine, token, self.web._now())
        if officer is None:
            return self._dead(request)
        return self._form(request, officer, None, 200)

    async def submit(self, request: Request) -> Response:
        token = request.path_params["token"]
        engine = self.web.ctx.engine
        officer = await store.link_account(engine, token, self.web._now())
        if officer is None:
            return self._dead(request)
        form = await request.form()
        if not self.web._csrf_ok(request, form):
            return self.web._forged(request)
        password, again = form.get("password"), form.get("again")
        if not isinstance(password, str) or not isinstance(again, str) or password != again:
            return self._form(request, officer, "Hai lần nhập mật khẩu không khớp.", 400)
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            error = f"Mật khẩu phải dài từ {MIN_PASSWORD} đến {MAX_PASSWORD} ký tự."
            return self._form(request, officer, error, 400)
        encoded = await asyncio.to_thread(hash_password, password)
        if await store.redeem_link(engine, token, encoded, self.web._now()) is None:
            return self._dead(request)
        log.info("web.password_set_by_link", user=officer)
        request.session["flash"] = "Đã đặt mật khẩu. Hãy đăng nhập."
        return RedirectResponse("/login", status_code=303)
