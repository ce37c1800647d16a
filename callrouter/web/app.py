"""The admin web: a Starlette app built by :func:`create_app` from injected parts.

Nothing here is a module-level singleton: the database engine, the rota status, the live
call registry, the metrics, the call-back dialer, the readiness checks and the clock are
handed in, so ``callrouter serve`` wires the real ones and the tests wire their own.

Pages (Vietnamese): ``/`` dashboard (on duty now and next, calls in progress, today's
figures, last calls with attempts), ``/calls/{id}`` (detail, its cases), ``/cases``, ``/callbacks``
(open call-backs, recorded messages, call back), ``/report`` (monthly figures, charts,
downloads), ``/rota`` (rota status, uncovered hours, calendar feeds). Operations:
``/healthz`` (readiness) and ``/metrics`` (Prometheus). ``/lich/{feed}.ics?token=…`` is the
duty calendar feed, authenticated by its own secret token instead of a log-in.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callrouter.calls.live import STATE_LABELS, LiveCalls
from callrouter.calls.outcomes import (
    CALLBACK_REASON_LABELS,
    CALLBACK_TRY_LABELS,
    OUTCOME_LABELS,
    RESULT_LABELS,
)
from callrouter.cases.edit import CaseRules
from callrouter.errors import ConfigError
from callrouter.logs import mask_number
from callrouter.metrics import CONTENT_TYPE, Metrics
from callrouter.notices.board import NoticeBoard
from callrouter.report.settings import ReportSettings
from callrouter.rota import DutyAssignment, Rota, duty_status
from callrouter.rota.ics import ALL, feed_calendar
from callrouter.rota.status import RotaInfo
from callrouter.rota.timeline import Segment, timeline
from callrouter.store import accounts as account_store
from callrouter.store import dashboard as q
from callrouter.store import sessions
from callrouter.web.accounts import PasswordLinks
from callrouter.web.answers import AnswersPages
from callrouter.web.api import JsonApi
from callrouter.web.bodylimit import BodyLimit
from callrouter.web.callback_outcomes import CallbackOutcomes
from callrouter.web.callback_pages import CallbackPages
from callrouter.web.cases import CasesPages, default_rules
from callrouter.web.notices import NoticesPages
from callrouter.web.notifications import NotificationsPage
from callrouter.web.officer import OfficerScreen
from callrouter.web.report_pages import ReportPages
from callrouter.web.security import (
    MAX_USER_NAME,
    BadHash,
    LoginThrottle,
    bounded_user,
    client_address,
    credential_digest,
    parse_hash,
    same_secret,
    verify_password,
)
from callrouter.web.settings import WebSettings

log = structlog.get_logger(__name__)

HERE = Path(__file__).resolve().parent
Clock = Callable[[], datetime]
ReadinessCheck = Callable[[], Awaitable[bool]]
READINESS_TIMEOUT = 2.0

MODE_LABELS = {"ari": "Bộ định tuyến", "agi": "AGI", "fallback": "Dự phòng (dialplan)"}

SESSION_COOKIE = "callrouter_session"  # signed: CSRF token and flash messages only
SID_COOKIE = "callrouter_sid"  # the server-side log-in session's random token
TOUCH_EVERY = timedelta(seconds=60)  # a session's last-seen time is written at most this often


def utc_now() -> datetime:
    return datetime.now(UTC)


class CallbackDialer(Protocol):
    """Starts a call-back (the call flow implements it with an ARI originate)."""

    async def call_back(self, *, callback_id: str, number: str) -> str:
        """Place the call; return its Asterisk linkedid. Raise on failure."""
        ...

    def in_progress(self, outbound_linkedid: str) -> bool:
        """True while the call-back with this linkedid is still ringing or talking."""
        ...


class _Expired:
    """Marker: the request carried a session that has expired."""


EXPIRED = _Expired()


class SecurityHeaders:
    """Pure ASGI middleware: strict headers on every response, no caching of pages."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
            b"script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.HEADERS if h[0] not in names)
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True)
class WebContext:
    """Everything the pages need besides the request (constructor injection)."""

    settings: WebSettings
    engine: AsyncEngine
    rota: RotaInfo
    live: LiveCalls
    metrics: Metrics
    dialer: CallbackDialer | None
    readiness: Mapping[str, ReadinessCheck]
    categories: Mapping[str, str]
    branch: int
    timezone: ZoneInfo
    service_level_seconds: int
    report_settings: ReportSettings
    clock: Clock
    case_rules: CaseRules
    cases_path: Path | None = None
    misdial_seconds: int = 10


class AdminWeb:
    """Request handlers bound to one :class:`WebContext`."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        s = ctx.settings
        self.throttle = LoginThrottle(
            s.login_max_failures,
            timedelta(minutes=s.login_window_minutes),
            client_max_failures=s.login_client_max_failures,
            global_max_failures=s.login_global_max_failures,
        )
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.cases = CasesPages(self, ctx.case_rules, ctx.cases_path)
        self.links = PasswordLinks(self)
        self.outcomes = CallbackOutcomes(self)
        self.callback_pages = CallbackPages(self)
        self.api = JsonApi(self)
        self.officer = OfficerScreen(self)
        self.reports = ReportPages(self)
        env = self.templates.env
        env.filters["mask"] = mask_number
        env.filters["local"] = self._local
        env.filters["hm"] = lambda d: self._local(d, "%H:%M")
        env.filters["seconds"] = _seconds
        env.globals.update(
            OUTCOME_LABELS=OUTCOME_LABELS,
            RESULT_LABELS=RESULT_LABELS,
            REASON_LABELS=CALLBACK_REASON_LABELS,
            STATE_LABELS=STATE_LABELS,
            MODE_LABELS=MODE_LABELS,
            TRY_LABELS=CALLBACK_TRY_LABELS,
        )

    # -- helpers --------------------------------------------------------------------------
    def _local(self, value: datetime | None, fmt: str = "%d/%m/%Y %H:%M:%S") -> str:
        if value is None:
            return "—"
        return value.astimezone(self.tz).strftime(fmt)

    @property
    def tz(self) -> ZoneInfo:
        rota = self.ctx.rota.rota
        return rota.timezone if rota is not None else self.ctx.timezone

    def _now(self) -> datetime:
        return self.ctx.clock()

    def _csrf(self, request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    def _client(self, request: Request) -> str:
        """The client's address (from the trusted proxy's header only behind that proxy)."""
        peer = request.client.host if request.client is not None else None
        forwarded = request.headers.get("x-forwarded-for")
        return client_address(peer, forwarded, self.ctx.settings.trusted)

    async def _user(self, request: Request) -> str | _Expired | None:
        """The logged-in user of the request's server-side session (``None``: no session;
        :data:`EXPIRED`: idle or too old, logged out, or the user's password changed)."""
        token = request.cookies.get(SID_COOKIE)
        if not token:
            return None
        row = await sessions.find_session(self.ctx.engine, token)
        if row is None:
            return EXPIRED
        now = self._now()
        s = self.ctx.settings
        encoded = s.users.get(row.user_name)
        account = None
        if encoded is None:
            account = await self._account(row.user_name)
            encoded = account.password_hash if account is not None else None
        if (
            encoded is None
            or row.credential != credential_digest(encoded)
            or now - row.seen_at > timedelta(minutes=s.session_idle_minutes)
            or now - row.created_at > timedelta(hours=s.session_max_hours)
        ):
            await sessions.close_session(self.ctx.engine, row.key)
            return EXPIRED
        if now - row.seen_at >= TOUCH_EVERY:
            await sessions.touch_session(self.ctx.engine, row.key, now)
        request.state.user = row.user_name
        request.state.session_key = row.key
        request.state.account = account
        return row.user_name

    async def _account(self, officer_id: str) -> account_store.AccountRow | None:
        """The enabled officer account ``officer_id`` may log in with (``None``: none).

        An officer no longer on the rota in force is disabled here, their sessions revoked,
        whether or not the reload got to it first."""
        account = await account_store.get_account(self.ctx.engine, officer_id)
        if account is None or not account.enabled or account.role != "officer":
            return None
        rota = self.ctx.rota.rota
        if rota is None:
            return None
        if rota.officer(officer_id) is None:
            await account_store.disable_account(self.ctx.engine, officer_id, self._now())
            log.info("web.account_disabled", user=officer_id, reason="not on the rota")
            return None
        return account

    def is_admin(self, request: Request) -> bool:
        """True for an admin (a configured web user: the unit's clerks and administrators);
        False for an officer's own account."""
        return getattr(request.state, "account", None) is None

    def not_admin(self, request: Request, why: str) -> Response | None:
        """``None`` for an admin; for an officer, the 403 page saying ``why``."""
        if self.is_admin(request):
            return None
        log.info("web.not_admin", path=request.url.path, user=getattr(request.state, "user", None))
        return self.error(request, 403, "Không có quyền", why)

    async def admin_get(self, request: Request, why: str) -> str | Response:
        """:meth:`_guard_get` for the pages only admins may open (officers: 403, ``why``)."""
        user = await self._guard_get(request)
        if isinstance(user, Response):
            return user
        return self.not_admin(request, why) or user

    async def admin_post(self, request: Request, why: str) -> tuple[str, FormData] | Response:
        """:meth:`_guard_post` for the changes only admins may make (officers: 403, ``why``)."""
        guarded = await self._guard_post(request)
        if isinstance(guarded, Response):
            return guarded
        return self.not_admin(request, why) or guarded

    def may_see(self, request: Request, branch: int) -> bool:
        """True when the logged-in user may see a call or case of ``branch`` (admins: all;
        an officer: their own unit's)."""
        account = getattr(request.state, "account", None)
        return account is None or account.branch == branch

    def page(
        self,
        request: Request,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        status: int = 200,
        user: str | None = None,
    ) -> Response:
        ctx = {
            "user": user,
            "csrf": self._csrf(request),
            "flash": request.session.pop("flash", None),
            "now": self._now(),
            "branch": self.ctx.branch,
            **(context or {}),
        }
        return self.templates.TemplateResponse(request, template, ctx, status_code=status)

    def error(self, request: Request, status: int, title: str, message: str) -> Response:
        user = getattr(request.state, "user", None)
        return self.page(
            request,
            "error.html",
            {"title": title, "message": message},
            status=status,
            user=user if isinstance(user, str) else None,
        )

    def _login_redirect(self, request: Request, *, expired: bool) -> Response:
        target = "/login?next=" + quote(request.url.path, safe="/")
        if expired:
            target += "&expired=1"
        return RedirectResponse(target, status_code=303)

    async def _guard_get(self, request: Request) -> str | Response:
        user = await self._user(request)
        if isinstance(user, str):
            return user
        return self._login_redirect(request, expired=user is EXPIRED)

    async def _guard_post(self, request: Request) -> tuple[str, FormData] | Response:
        """A logged-in user and a form with the right CSRF token, or the refusal page."""
        user = await self._user(request)
        if user is EXPIRED:
            return self.error(
                request,
                401,
                "Phiên đăng nhập đã hết hạn",
                "Phiên làm việc đã hết hạn nên thao tác chưa được thực hiện. "
                "Vui lòng đăng nhập lại rồi thử lại.",
            )
        if not isinstance(user, str):
            return self.error(
                request, 401, "Chưa đăng nhập", "Vui lòng đăng nhập trước khi thao tác."
            )
        form = await request.form()
        if not self._csrf_ok(request, form):
            log.warning("web.csrf_refused", path=request.url.path, user=user)
            return self._forged(request)
        return user, form

    def _csrf_ok(self, request: Request, form: FormData) -> bool:
        given = form.get("csrf")
        expected = request.session.get("csrf")
        return isinstance(given, str) and isinstance(expected, str) and same_secret(given, expected)

    def _forged(self, request: Request) -> Response:
        return self.error(
            request,
            403,
            "Biểu mẫu không hợp lệ",
            "Biểu mẫu đã hết hạn hoặc không phải do trang này gửi (mã chống giả mạo CSRF không "
            "khớp). Không có thay đổi nào được thực hiện. Hãy tải lại trang và thử lại.",
        )

    # -- log-in ---------------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        user = await self._user(request)
        if isinstance(user, str):
            return RedirectResponse("/", status_code=303)
        notice = None
        if request.query_params.get("expired") or user is EXPIRED:
            notice = "Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại."
        return self.page(
            request,
            "login.html",
            {"notice": notice, "next": _safe_next(request.query_params.get("next"))},
        )

    async def login(self, request: Request) -> Response:
        form = await request.form()
        next_url = _safe_next(_text(form, "next"))
        if not self._csrf_ok(request, form):
            return self._forged(request)
        submitted = _text(form, "username").strip()
        # Bounded before it is kept, compared, logged or shown (no configured name is longer).
        name = bounded_user(submitted)
        password = _text(form, "password")
        now = self._now()
        client = self._client(request)
        if self.throttle.locked(client, name, now):
            self.ctx.metrics.web_logins.labels(result="locked").inc()
            log.warning("web.login_locked", user=name, client=client)
            minutes = self.ctx.settings.login_window_minutes
            return self.page(
                request,
                "login.html",
                {
                    "error": f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút.",
                    "next": next_url,
                    "username": name,
                },
                status=429,
            )
        encoded = (
            self.ctx.settings.users.get(submitted) if len(submitted) <= MAX_USER_NAME else None
        )
        if encoded is None and len(submitted) <= MAX_USER_NAME:
            account = await self._account(submitted)
            encoded = account.password_hash if account is not None else None
        ok = await asyncio.to_thread(verify_password, password, encoded)
        if not ok or encoded is None:
            self.throttle.failed(client, name, now)
            self.ctx.metrics.web_logins.labels(result="bad_password").inc()
            log.warning("web.login_failed", user=name, client=client)
            return self.page(
                request,
                "login.html",
                {"error": "Sai tên đăng nhập hoặc mật khẩu.", "next": next_url, "username": name},
                status=401,
            )
        self.throttle.succeeded(client, name)
        self.ctx.metrics.web_logins.labels(result="ok").inc()
        s = self.ctx.settings
        await sessions.purge_sessions(
            self.ctx.engine,
            seen_before=now - timedelta(minutes=s.session_idle_minutes),
            created_before=now - timedelta(hours=s.session_max_hours),
        )
        old = request.cookies.get(SID_COOKIE)
        if old:
            await sessions.close_session(self.ctx.engine, sessions.session_key(old))
        token = await sessions.open_session(
            self.ctx.engine, user=name, credential=credential_digest(encoded), now=now
        )
        request.session.clear()
        request.session["csrf"] = secrets.token_urlsafe(32)
        log.info("web.login", user=name, client=client)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(
            SID_COOKIE,
            token,
            max_age=s.session_max_hours * 3600,
            path="/",
            secure=not s.plain_http,
            httponly=True,
            samesite="strict",
        )
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if not self._csrf_ok(request, form):
            return self._forged(request)
        token = request.cookies.get(SID_COOKIE)
        if token:
            await sessions.close_session(self.ctx.engine, sessions.session_key(token))
        request.session.clear()
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            SID_COOKIE,
            path="/",
            secure=not self.ctx.settings.plain_http,
            httponly=True,
            samesite="strict",
        )
        return response

    # -- dashboard ------------------------------------------------------------------------
    async def dashboard(self, request: Request) -> Response:
        user = await self._guard_get(request)
        if isinstance(user, Response):
            return user
        now = self._now()
        rota = self.ctx.rota.rota
        duty = _duty_now_and_next(rota, now) if rota is not None else None
        today = now.astimezone(self.tz).date()
        figures = await q.today_figures(self.ctx.engine, branch=self.ctx.branch, day=today)
        recent = await q.recent_calls(
            self.ctx.engine, branch=self.ctx.branch, limit=self.ctx.settings.recent_calls, until=now
        )
        live = [c for c in self.ctx.live.snapshot(now) if c.branch == self.ctx.branch]
        return self.page(
            request,
            "dashboard.html",
            {
                "duty": duty,
                "today": today,
                "figures": figures,
                "recent": recent,
                "live": live,
                "case_counts": await self.cases.counts_for([c.id for c in recent]),
            },
            user=user,
        )

    # -- calls ----------------------------------------------------------------------------
    async def call_detail(self, request: Request) -> Response:
        user = await self._guard_get(request)
        if isinstance(user, Response):
            return user
        call_id = request.path_params["call_id"]
        call = await q.get_call(self.ctx.engine, call_id)
        if call is None or not self.may_see(request, call.branch):
            return self._no_call(request, call_id)
        return self.page(
            request,
            "call.html",
            {"call": call, **await self.cases.for_call(call.id)},
            user=user,
        )

    def _no_call(self, request: Request, call_id: str) -> Response:
        return self.error(
            request,
            404,
            "Không tìm thấy cuộc gọi",
            f"Không có cuộc gọi mã «{call_id[:64]}» trong nhật ký. "
            "Có thể đường dẫn sai hoặc cuộc gọi đã bị xóa theo thời hạn lưu trữ.",
        )

    # -- rota -----------------------------------------------------------------------------
    async def rota_page(self, request: Request) -> Response:
        user = await self._guard_get(request)
        if isinstance(user, Response):
            return user
        info = self.ctx.rota
        rota = info.rota
        now = self._now()
        gaps: list[Segment] = []
        if rota is not None:
            end = now + timedelta(weeks=self.ctx.settings.uncovered_weeks)
            gaps = [s for s in timeline(rota, now, end) if s.uncovered]
        base = self.ctx.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
        feeds = []
        for name, token in sorted(self.ctx.settings.feeds.items()):
            officer = rota.officer(name) if rota is not None and name != ALL else None
            label = (
                "Toàn bộ lịch" if name == ALL else f"{officer.name} ({name})" if officer else name
            )
            url = f"{base}/lich/{quote(name)}.ics?token={quote(token.get_secret_value())}"
            feeds.append((label, url))
        return self.page(
            request,
            "rota.html",
            {
                "info": info,
                "rota": rota,
                "gaps": gaps,
                "weeks": self.ctx.settings.uncovered_weeks,
                "feeds": feeds,
            },
            user=user,
        )

    async def feed(self, request: Request) -> Response:
        name = request.path_params["feed"]
        token = self.ctx.settings.feeds.get(name)
        given = request.query_params.get("token")
        if token is None or not same_secret(given, token.get_secret_value()):
            return PlainTextResponse("Không tìm thấy lịch.", status_code=404)
        rota = self.ctx.rota.rota
        if rota is None:
            return PlainTextResponse("Chưa nạp lịch trực.", status_code=503)
        if name != ALL and rota.officer(name) is None:
            return PlainTextResponse("Không tìm thấy lịch.", status_code=404)
        data = await asyncio.to_thread(
            feed_calendar, rota, feed=name, now=self._now(), weeks=self.ctx.settings.feed_weeks
        )
        return Response(
            data,
            media_type="text/calendar; charset=utf-8",
            headers={"content-disposition": f'inline; filename="truc-1022-{name}.ics"'},
        )

    # -- operations -----------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        names = list(self.ctx.readiness)
        results = await asyncio.gather(*(_check(self.ctx.readiness[n]) for n in names))
        checks = dict(zip(names, results, strict=True))
        ready = all(results)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    async def metrics(self, request: Request) -> Response:
        token = self.ctx.settings.metrics_token.get_secret_value()
        if token:
            header = request.headers.get("authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not same_secret(given.strip(), token):
                return PlainTextResponse(
                    "401 Unauthorized: send 'Authorization: Bearer <token>'\n",
                    status_code=401,
                    headers={"www-authenticate": 'Bearer realm="callrouter metrics"'},
                )
        return Response(self.ctx.metrics.render(), media_type=CONTENT_TYPE)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return self.error(request, 404, "Không tìm thấy trang", "Đường dẫn này không tồn tại.")
        if status == 405:
            return self.error(request, 405, "Thao tác không được phép", "Phương thức không hợp lệ.")
        return self.error(request, status, "Lỗi", "Yêu cầu không thực hiện được.")

    async def database_down(self, request: Request, exc: Exception) -> Response:
        """The database did not answer: a clear page instead of a traceback."""
        log.error("web.database_error", path=request.url.path, error=type(exc).__name__)
        return self.error(
            request,
            503,
            "Cơ sở dữ liệu tạm thời không trả lời",
            "Không đọc hoặc ghi được nhật ký cuộc gọi lúc này, nên thao tác chưa được thực hiện. "
            "Cuộc gọi vẫn được định tuyến và ghi vào hàng đợi; hãy thử lại sau ít phút.",
        )


async def _check(check: ReadinessCheck) -> bool:
    try:
        return bool(await asyncio.wait_for(check(), READINESS_TIMEOUT))
    except Exception:  # a failing or hanging check means "not ready"
        return False


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _safe_next(value: str | None) -> str:
    """Only local paths after log-in (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} giây"


@dataclass(frozen=True)
class DutyView:
    open: bool
    reason: str
    names: list[tuple[str, list[str]]]  # officer name, "number (label)" in ring order
    until: datetime | None
    next_start: datetime | None
    next_names: list[tuple[str, list[str]]]


def _by_officer(assignments: tuple[DutyAssignment, ...]) -> list[tuple[str, list[str]]]:
    """Officers in ring order, each with the numbers they are rung at (one line each)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for a in assignments:
        number = f"{a.number} ({a.number_label})" if a.number_label else a.number
        out.setdefault(a.officer_id, (a.officer_name, []))[1].append(number)
    return list(out.values())


def _duty_now_and_next(rota: Rota, now: datetime) -> DutyView:
    status = duty_status(rota, now)
    segments = timeline(rota, now, now + timedelta(days=14))

    def key(seg: Segment) -> tuple[tuple[str, str], ...]:
        return tuple((a.officer_id, a.number) for a in seg.status.assignments)

    current = segments[0] if segments else None
    until = None
    nxt: Segment | None = None
    if current is not None:
        for seg in segments[1:]:
            if until is None and key(seg) != key(current):
                until = seg.start
            if seg.status.open and key(seg) != key(current):
                nxt = seg
                break
    return DutyView(
        open=status.open,
        reason=status.reason,
        names=_by_officer(status.assignments),
        until=until,
        next_start=nxt.start if nxt else None,
        next_names=_by_officer(nxt.status.assignments) if nxt else [],
    )


def create_app(
    settings: WebSettings,
    *,
    engine: AsyncEngine,
    rota: RotaInfo,
    live: LiveCalls,
    metrics: Metrics,
    readiness: Mapping[str, ReadinessCheck],
    dialer: CallbackDialer | None = None,
    categories: Mapping[str, str] | None = None,
    branch: int = 3,
    timezone: str = "Asia/Ho_Chi_Minh",
    service_level_seconds: int = 20,
    report_settings: ReportSettings | None = None,
    clock: Clock = utc_now,
    case_rules: CaseRules | None = None,
    cases_path: Path | None = None,
    misdial_seconds: int = 10,
    notices: NoticeBoard | None = None,
) -> Starlette:
    """The admin web ASGI app; every dependency is passed in (see the module docstring)."""
    from callrouter.settings import Settings  # noqa: PLC0415 (only for the default categories)

    secret = settings.session_secret.get_secret_value()
    if not secret:
        log.warning("web.session_secret_random", hint="set CALLROUTER_WEB_SESSION_SECRET[_FILE]")
        secret = secrets.token_urlsafe(32)
    if not settings.users:
        log.warning("web.no_users", hint="nobody can log in: set CALLROUTER_WEB_USERS")
    for name, encoded in settings.users.items():
        try:
            parse_hash(encoded)
        except BadHash as exc:
            raise ConfigError(f"CALLROUTER_WEB_USERS: password hash of {name!r}: {exc}") from None
    ctx = WebContext(
        settings=settings,
        engine=engine,
        rota=rota,
        live=live,
        metrics=metrics,
        dialer=dialer,
        readiness=readiness,
        categories=(categories := categories if categories is not None else Settings().categories),
        branch=branch,
        timezone=ZoneInfo(timezone),
        service_level_seconds=service_level_seconds,
        report_settings=report_settings if report_settings is not None else ReportSettings(),
        clock=clock,
        case_rules=case_rules or default_rules(categories, rota.rota, timezone),
        cases_path=cases_path,
        misdial_seconds=misdial_seconds,
    )
    web = AdminWeb(ctx)
    routes = [
        Route("/", web.dashboard),
        Route("/login", web.login_form, methods=["GET"]),
        Route("/login", web.login, methods=["POST"]),
        Route("/logout", web.logout, methods=["POST"]),
        Route("/dat-mat-khau/{token}", web.links.form, methods=["GET"]),
        Route("/dat-mat-khau/{token}", web.links.submit, methods=["POST"]),
        Route("/calls/{call_id}", web.call_detail),
        Route("/calls/{call_id}/cases", web.cases.open_for_call, methods=["POST"]),
        Route("/cases", web.cases.listing, methods=["GET"]),
        Route("/cases", web.cases.open_by_hand, methods=["POST"]),
        Route("/cases/new", web.cases.new_form, methods=["GET"]),
        Route("/cases/{case_id}", web.cases.detail, methods=["GET"]),
        Route("/cases/{case_id}", web.cases.update, methods=["POST"]),
        *AnswersPages(web).routes(),
        *NoticesPages(web, notices).routes(),
        *web.officer.routes(),
        *web.callback_pages.routes(),
        Route("/report", web.reports.page),
        Route("/report/approve", web.reports.approve, methods=["POST"]),
        Route("/report/chart/{name}.png", web.reports.chart),
        Route("/report/download/{fmt}", web.reports.download),
        Route("/rota", web.rota_page),
        Route("/thong-bao", NotificationsPage(web).listing),
        Route("/lich/{feed}.ics", web.feed),
        Route("/api/v1/duty", web.api.duty),
        Route("/api/v1/cases/status", web.api.case_status),
        Route("/healthz", web.healthz),
        Route("/metrics", web.metrics),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(BodyLimit, limit=settings.max_body_bytes),
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie=SESSION_COOKIE,
                max_age=settings.session_max_hours * 3600,
                same_site="strict",
                https_only=not settings.plain_http,
            ),
        ],
        exception_handlers={
            HTTPException: web.not_found,
            SQLAlchemyError: web.database_down,
            OSError: web.database_down,
        },
    )
    app.state.web = web
    return app
