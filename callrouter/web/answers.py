"""The web's answer book: clerks create, edit and retire answers; officers search and attach.

Clerks are the admin web's users (``CALLROUTER_WEB_USERS``); an officer's own account may
read and search the book and attach an answer to a case of their unit, and gets 403 on the
new-answer form, on saving and on retiring.

Routes::

    GET  /answers                 search box (``?q=``; ``?case=ID`` offers "attach to the case")
    GET  /answers/new             a new answer's form
    POST /answers                 save a new answer
    GET  /answers/{id}            one answer: the edit form, every version kept
    POST /answers/{id}            save a new version (names the version it was built from)
    POST /answers/{id}/retire     take it out of search (kept, with the cases that used it)
    POST /cases/{case_id}/answers attach an answer to a case

Expired answers (valid-until before today) are shown struck through with their date.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import structlog
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from callrouter.answers.book import AnswerDraft, check_draft
from callrouter.answers.fold import MAX_QUERY
from callrouter.store.answers import (
    AnswerConflict,
    attach,
    create_answer,
    edit_answer,
    get_answer,
    list_answers,
    retire_answer,
    search,
    versions,
)
from callrouter.store.cases import get_case

if TYPE_CHECKING:
    from callrouter.web.app import AdminWeb

log = structlog.get_logger(__name__)

CLERKS_ONLY = "Chỉ văn thư và quản trị viên được thêm, sửa hoặc thôi dùng câu trả lời trong sổ."


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _draft(form: FormData) -> tuple[AnswerDraft | None, list[tuple[str, str]]]:
    """The form as a draft, or the fields whose dates do not read."""
    days: dict[str, date | None] = {}
    problems: list[tuple[str, str]] = []
    for name in ("agreed_on", "valid_until"):
        raw = _text(form, name)
        if not raw:
            days[name] = None
            continue
        try:
            days[name] = date.fromisoformat(raw)
        except ValueError:
            problems.append((name, f"ngày {raw!r} không đúng dạng YYYY-MM-DD"))
    if days.get("agreed_on") is None and not problems:
        problems.append(("agreed_on", "cần ngày thống nhất với Sở Y tế"))
    if problems:
        return None, problems
    agreed = days["agreed_on"]
    assert agreed is not None  # noqa: S101 - checked just above
    draft = AnswerDraft(
        title=_text(form, "title"),
        topic=_text(form, "topic"),
        body=_text(form, "body"),
        source=_text(form, "source"),
        agreed_on=agreed,
        valid_until=days["valid_until"],
    )
    return draft, []


class AnswersPages:
    """Handlers bound to the admin web (its guards, page rendering, clock and topics)."""

    def __init__(self, web: AdminWeb) -> None:
        self.web = web

    def routes(self) -> list[Route]:
        return [
            Route("/answers", self.listing, methods=["GET"]),
            Route("/answers", self.create, methods=["POST"]),
            Route("/answers/new", self.new_form, methods=["GET"]),
            Route("/answers/{answer_id:int}", self.detail, methods=["GET"]),
            Route("/answers/{answer_id:int}", self.update, methods=["POST"]),
            Route("/answers/{answer_id:int}/retire", self.retire, methods=["POST"]),
            Route("/cases/{case_id}/answers", self.attach, methods=["POST"]),
        ]

    def _context(self) -> dict[str, Any]:
        return {"topics": self.web.cases.config.topics, "today": self.web.cases._today()}

    async def listing(self, request: Request) -> Response:
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        query = request.query_params.get("q", "")[:MAX_QUERY]
        case_id = request.query_params.get("case") or None
        case = await get_case(self.web.ctx.engine, case_id) if case_id else None
        if case is not None and not self.web.may_see(request, case.branch):
            case = None  # another unit's: no "attach" button, as if it did not exist
        engine = self.web.ctx.engine
        hits = await search(engine, query) if query.strip() else []
        book = [] if query.strip() else await list_answers(engine)
        return self.web.page(
            request,
            "answers.html",
            {"q": query, "hits": hits, "book": book, "case": case, **self._context()},
            user=user,
        )

    async def new_form(self, request: Request) -> Response:
        user = await self.web.admin_get(request, CLERKS_ONLY)
        if isinstance(user, Response):
            return user
        return self._form(request, user, None, None, [])

    def _form(
        self,
        request: Request,
        user: str,
        answer_id: int | None,
        shown: dict[str, Any] | None,
        problems: list[tuple[str, str]],
        *,
        version: int | None = None,
        kept: list[Any] | None = None,
        retired: bool = False,
        status: int = 200,
    ) -> Response:
        return self.web.page(
            request,
            "answer.html",
            {
                "answer_id": answer_id,
                "a": shown or {},
                "problems": problems,
                "version": version,
                "versions": kept or [],
                "retired": retired,
                "may_edit": self.web.is_admin(request),
                **self._context(),
            },
            status=status,
            user=user,
        )

    async def create(self, request: Request) -> Response:
        guarded = await self.web.admin_post(request, CLERKS_ONLY)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        draft, problems = _draft(form)
        if draft is not None:
            problems = check_draft(draft, self.web.cases.config.topics)
        if draft is None or problems:
            return self._form(request, user, None, dict(form), problems, status=400)
        answer_id = await create_answer(
            self.web.ctx.engine, draft, account=user, now=self.web._now()
        )
        log.info("web.answer_created", answer_id=answer_id, user=user)
        request.session["flash"] = f"Đã lưu câu trả lời «{draft.title}»."
        return RedirectResponse(f"/answers/{answer_id}", status_code=303)

    async def detail(self, request: Request) -> Response:
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        return await self._detail(request, user, request.path_params["answer_id"], None, [])

    async def _detail(
        self,
        request: Request,
        user: str,
        answer_id: int,
        kept_form: dict[str, Any] | None,
        problems: list[tuple[str, str]],
        *,
        status: int = 200,
    ) -> Response:
        engine = self.web.ctx.engine
        stored = await get_answer(engine, answer_id)
        if stored is None:
            return self.web.error(request, 404, "Không tìm thấy", "Không có câu trả lời này.")
        d = stored.draft
        shown = kept_form or {
            "title": d.title,
            "topic": d.topic,
            "body": d.body,
            "source": d.source,
            "agreed_on": d.agreed_on.isoformat(),
            "valid_until": d.valid_until.isoformat() if d.valid_until else "",
        }
        return self._form(
            request,
            user,
            answer_id,
            shown,
            problems,
            version=stored.version,
            kept=await versions(engine, answer_id),
            retired=stored.retired_at is not None,
            status=status,
        )

    def _version(self, form: FormData) -> int | None:
        try:
            return int(_text(form, "version"))
        except ValueError:
            return None

    async def update(self, request: Request) -> Response:
        guarded = await self.web.admin_post(request, CLERKS_ONLY)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        answer_id = request.path_params["answer_id"]
        draft, problems = _draft(form)
        if draft is not None:
            problems = check_draft(draft, self.web.cases.config.topics)
        version = self._version(form)
        if version is None:
            problems = [*problems, ("version", "thiếu phiên bản")]
        if draft is None or problems or version is None:
            return await self._detail(request, user, answer_id, dict(form), problems, status=400)
        try:
            saved = await edit_answer(
                self.web.ctx.engine,
                answer_id,
                draft,
                expected_version=version,
                account=user,
                now=self.web._now(),
            )
        except AnswerConflict as exc:
            return await self._detail(
                request, user, answer_id, dict(form), [("", str(exc))], status=409
            )
        log.info("web.answer_edited", answer_id=answer_id, version=saved, user=user)
        request.session["flash"] = f"Đã lưu phiên bản {saved}; các phiên bản trước vẫn được giữ."
        return RedirectResponse(f"/answers/{answer_id}", status_code=303)

    async def retire(self, request: Request) -> Response:
        guarded = await self.web.admin_post(request, CLERKS_ONLY)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        answer_id = request.path_params["answer_id"]
        version = self._version(form)
        if version is None:
            return self.web.error(request, 400, "Biểu mẫu không hợp lệ", "Thiếu phiên bản.")
        try:
            await retire_answer(
                self.web.ctx.engine,
                answer_id,
                expected_version=version,
                account=user,
                now=self.web._now(),
            )
        except AnswerConflict as exc:
            return await self._detail(request, user, answer_id, None, [("", str(exc))], status=409)
        log.info("web.answer_retired", answer_id=answer_id, user=user)
        request.session["flash"] = "Đã thôi dùng câu trả lời (vẫn được lưu)."
        return RedirectResponse(f"/answers/{answer_id}", status_code=303)

    async def attach(self, request: Request) -> Response:
        guarded = await self.web._guard_post(request)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        engine = self.web.ctx.engine
        case = await get_case(engine, request.path_params["case_id"])
        try:
            answer_id = int(_text(form, "answer_id"))
        except ValueError:
            answer_id = 0
        stored = await get_answer(engine, answer_id) if answer_id > 0 else None
        if case is not None and not self.web.may_see(request, case.branch):
            case = None  # another unit's case: 404, as on the case pages
        if case is None or stored is None or stored.retired_at is not None:
            return self.web.error(
                request, 404, "Không tìm thấy", "Không có hồ sơ hoặc câu trả lời đang dùng này."
            )
        added = await attach(engine, case.id, stored.id, account=user, now=self.web._now())
        log.info("web.answer_attached", case_id=case.id, answer_id=stored.id, user=user)
        request.session["flash"] = (
            f"Đã gắn câu trả lời «{stored.draft.title}» vào hồ sơ số {case.ref}."
            if added
            else f"Hồ sơ số {case.ref} đã có câu trả lời này."
        )
        return RedirectResponse(f"/cases/{quote(case.id)}#answers", status_code=303)
