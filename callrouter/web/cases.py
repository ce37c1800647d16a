"""The web's case pages: record a case from the call page, follow it, list and filter them.

Plain server-rendered forms (the live officer screen is another room). Routes::

    POST /calls/{call_id}/cases   record a case for this call (hỏi đáp, phản ánh, kiến nghị)
    GET  /cases                   list with filters (status, kind, topic, overdue, agency, period)
    GET  /cases/{case_id}         one case: its fields, its history, the update form
    POST /cases/{case_id}         forward, enter the result, tell the citizen, correct

An update carries the version the form was built from: if someone saved the case meanwhile,
nothing is written and the page comes back with the other person's version *and* this
person's input, with "đã bị thay đổi trong lúc bạn sửa".
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import structlog
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from callrouter.answers.book import MAX_PER_CASE
from callrouter.cases.config import CasesConfig, CasesConfigHolder, default_cases_config
from callrouter.cases.edit import CaseInput, CaseRules
from callrouter.cases.lifecycle import (
    INITIAL,
    KIND_LABELS,
    STATUS_LABELS,
    TRANSITIONS,
    Kind,
    Status,
)
from callrouter.cases.workdays import WorkCalendar
from callrouter.errors import CaseConflict, CaseError
from callrouter.filestamp import file_stamp
from callrouter.rota import Rota
from callrouter.store import dashboard as q
from callrouter.store.answers import answers_of_case, get_answer
from callrouter.store.cases import (
    CaseFilter,
    CaseRow,
    cases_per_call,
    get_case,
    history,
    list_cases,
    open_case,
    update_case,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from callrouter.web.app import AdminWeb

log = structlog.get_logger(__name__)

PAGE_SIZE = 200
_FIELDS = ("kind", "topic", "summary", "answer", "status", "agency", "result")


def default_rules(categories: Mapping[str, str], rota: Rota | None, timezone: str) -> CaseRules:
    """No cases file: the categories are the topics; the rota's calendar when there is one."""
    return CaseRules(
        config=default_cases_config(categories),
        calendar=WorkCalendar.from_policy(rota.holidays) if rota is not None else WorkCalendar(),
        tz=ZoneInfo(timezone),
    )


def _form_text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _input(form: FormData) -> CaseInput:
    given: dict[str, Any] = {name: _form_text(form, name) for name in _FIELDS}
    if given["status"] == "":
        given["status"] = None
    given["notable"] = form.get("notable") == "1" if "notable_shown" in form else None
    return CaseInput(**given)


def _answer_ids(form: FormData) -> list[int] | str:
    """The agreed answers picked on the recording form (``answer_id``, repeated), or why
    they are refused."""
    raw = form.getlist("answer_id")
    if len(raw) > MAX_PER_CASE:
        return f"Chỉ gắn được tối đa {MAX_PER_CASE} câu trả lời vào một hồ sơ."
    ids: list[int] = []
    for value in raw:
        text = value.strip() if isinstance(value, str) else ""
        if not (text.isascii() and text.isdigit() and 0 < len(text) <= 9):
            return f"Mã câu trả lời {text[:20]!r} không hợp lệ."
        ids.append(int(text))
    return list(dict.fromkeys(ids))


class CasesPages:
    """Handlers bound to the admin web (its guards, page rendering and context).

    The rules follow what is in force: the working-day calendar is the rota's (reloaded with
    it), and the cases file, when there is one, is read again when it changes; a file with
    mistakes is refused with every problem logged, and the running lists stay.
    """

    def __init__(self, web: AdminWeb, rules: CaseRules, path: Path | None = None) -> None:
        self.web = web
        self._rules = rules
        self._holder = CasesConfigHolder(path, rules.config)
        self._stamp = file_stamp(path)
        self._rota_version: str | None = None

    @property
    def rules(self) -> CaseRules:
        stamp = file_stamp(self._holder.path)
        if stamp != self._stamp:
            self._stamp = stamp
            problems = self._holder.reload()
            if problems:
                log.warning("web.cases_config_refused", problems=problems)
            else:
                log.info("web.cases_config_loaded", path=str(self._holder.path))
        rota = self.web.ctx.rota.rota
        if rota is not None and rota.version != self._rota_version:
            self._rota_version = rota.version
            self._rules = replace(self._rules, calendar=WorkCalendar.from_policy(rota.holidays))
        if self._holder.current is not self._rules.config:
            self._rules = replace(self._rules, config=self._holder.current)
        return self._rules

    @property
    def config(self) -> CasesConfig:
        return self.rules.config

    def _today(self) -> date:
        return self.rules.local_day(self.web._now())

    def labels(self) -> dict[str, Any]:
        """What every case template needs to show codes as words."""
        return {
            "kinds": {k.value: label for k, label in KIND_LABELS.items()},
            "statuses": {s.value: label for s, label in STATUS_LABELS.items()},
            "initial": [s.value for s in Status if s in INITIAL],
            "topics": self.config.topics,
            "agencies": self.config.agencies,
            "summary_max": self.config.summary_max,
        }

    async def for_call(self, call_id: str) -> dict[str, Any]:
        """The call page's part: the call's cases and the form's choices."""
        rows = await list_cases(
            self.web.ctx.engine, CaseFilter(call_id=call_id), as_of=self._today(), limit=50
        )
        return {"cases": rows, "today": self._today(), **self.labels()}

    async def counts_for(self, call_ids: list[str]) -> dict[str, int]:
        """How many cases each of these calls has (the dashboard's content column)."""
        return await cases_per_call(self.web.ctx.engine, call_ids)

    async def open_for_call(self, request: Request, *, back: str | None = None) -> Response:
        """Record a case for the call of the path (``back``: the page to return to, e.g.
        the officer's screen; default the call's page)."""
        guarded = await self.web._guard_post(request)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        call_id = request.path_params["call_id"]
        call = await q.get_call(self.web.ctx.engine, call_id)
        if call is None or not self.web.may_see(request, call.branch):  # another unit's: 404
            return self.web.error(request, 404, "Không tìm thấy cuộc gọi", "Cuộc gọi không có.")
        return await self._open(request, user, form, call_id=call_id, callback_id=None, back=back)

    async def _open(
        self,
        request: Request,
        user: str,
        form: FormData,
        *,
        call_id: str | None,
        callback_id: str | None,
        back: str | None = None,
    ) -> Response:
        """Record the case (with the agreed answers picked on the form); back to ``back``,
        to the call's page (read the reference out) or to the case."""
        picked = _answer_ids(form)
        if isinstance(picked, str):  # a forged or broken form: nothing an officer typed
            return self.web.error(
                request, 400, "Chưa ghi nhận được hồ sơ", f"{picked} Hồ sơ chưa được lưu."
            )
        answer_ids, gone = await self._in_use(picked)
        try:
            case = await open_case(
                self.web.ctx.engine,
                self.rules,
                _input(form),
                branch=self.web.ctx.branch,
                by=user,
                at=self.web._now(),
                call_id=call_id,
                callback_id=callback_id,
                answer_ids=answer_ids,
            )
        except CaseError as exc:
            return self.web.error(
                request, 400, "Chưa ghi nhận được hồ sơ", f"{exc} Hồ sơ chưa được lưu."
            )
        log.info(
            "web.case_opened",
            case_id=case.id,
            call_id=call_id,
            user=user,
            answers=answer_ids,
        )
        request.session["flash"] = (
            f"Đã ghi nhận hồ sơ số {case.ref} ({KIND_LABELS[Kind(case.kind)]}), "
            f"hạn xử lý {case.deadline:%d/%m/%Y}."
            + (f" Đã gắn {len(answer_ids)} câu trả lời thống nhất." if answer_ids else "")
            + (
                f" Chưa gắn câu trả lời số {', '.join(map(str, gone))}: không còn trong sổ"
                " (đã thôi dùng trong lúc bạn ghi)."
                if gone
                else ""
            )
            + (" Hãy đọc số hồ sơ cho người gọi." if callback_id is None and call_id else "")
        )
        if back is not None:
            return RedirectResponse(back, status_code=303)
        if callback_id is None and call_id is not None:
            return RedirectResponse(f"/calls/{quote(call_id)}#cases", status_code=303)
        return RedirectResponse(f"/cases/{quote(case.id)}", status_code=303)

    async def _in_use(self, ids: list[int]) -> tuple[list[int], list[int]]:
        """The picked answers still in the book and in use, and those not (retired while
        the officer typed): the case is kept either way, the flash names the second."""
        kept: list[int] = []
        gone: list[int] = []
        for answer_id in ids:
            stored = await get_answer(self.web.ctx.engine, answer_id)
            (gone if stored is None or stored.retired_at is not None else kept).append(answer_id)
        return kept, gone

    async def new_form(self, request: Request) -> Response:
        """A case without a call in the log: from a call-back (``?callback=ID``) or by hand."""
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        callback = None
        callback_id = request.query_params.get("callback")
        if callback_id:
            callback = await q.get_callback(self.web.ctx.engine, callback_id)
            if callback is None:
                return self._no_callback(request)
        return self.web.page(
            request, "new_case.html", {"callback": callback, **self.labels()}, user=user
        )

    async def open_by_hand(self, request: Request) -> Response:
        guarded = await self.web._guard_post(request)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        callback_id = _form_text(form, "callback_id") or None
        call_id = None
        if callback_id is not None:
            callback = await q.get_callback(self.web.ctx.engine, callback_id)
            if callback is None:
                return self._no_callback(request)
            call_id = callback.call_id
        return await self._open(request, user, form, call_id=call_id, callback_id=callback_id)

    def _no_callback(self, request: Request) -> Response:
        return self.web.error(
            request, 404, "Không tìm thấy yêu cầu gọi lại", "Không có yêu cầu gọi lại này."
        )

    async def detail(self, request: Request) -> Response:
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        case = await get_case(self.web.ctx.engine, request.path_params["case_id"])
        if case is None or not self.web.may_see(request, case.branch):
            return self._no_case(request)
        return await self._case_page(request, user, case)

    async def _case_page(
        self,
        request: Request,
        user: str,
        case: CaseRow,
        *,
        problem: str | None = None,
        kept: CaseInput | None = None,
        status: int = 200,
    ) -> Response:
        changes = await history(self.web.ctx.engine, case.id)
        current = Status(case.status)
        return self.web.page(
            request,
            "case.html",
            {
                "case": case,
                "history": changes,
                "overdue": case.overdue(self._today()),
                "next_statuses": [s.value for s in Status if s in TRANSITIONS[current]],
                "problem": problem,
                "kept": kept,
                "used_answers": await answers_of_case(self.web.ctx.engine, case.id),
                **self.labels(),
            },
            status=status,
            user=user,
        )

    async def update(self, request: Request) -> Response:
        guarded = await self.web._guard_post(request)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        engine = self.web.ctx.engine
        case = await get_case(engine, request.path_params["case_id"])
        if case is None or not self.web.may_see(request, case.branch):
            return self._no_case(request)
        given = _input(form)
        try:
            version = int(_form_text(form, "version") or "")
        except ValueError:
            return self.web.error(request, 400, "Biểu mẫu không hợp lệ", "Thiếu phiên bản hồ sơ.")
        try:
            saved = await update_case(
                engine,
                self.rules,
                case.id,
                given,
                expected_version=version,
                by=user,
                at=self.web._now(),
            )
        except CaseConflict as exc:
            log.info("web.case_conflict", case_id=case.id, user=user)
            return await self._case_page(
                request, user, case, problem=str(exc), kept=given, status=409
            )
        except CaseError as exc:
            return await self._case_page(
                request, user, case, problem=f"{exc}. Hồ sơ chưa được thay đổi.", kept=given,
                status=400,
            )  # fmt: skip
        log.info("web.case_updated", case_id=case.id, status=saved.status, user=user)
        request.session["flash"] = (
            f"Đã lưu hồ sơ số {saved.ref}: {STATUS_LABELS[Status(saved.status)]}."
        )
        return RedirectResponse(f"/cases/{quote(saved.id)}", status_code=303)

    async def listing(self, request: Request) -> Response:
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        params = request.query_params
        try:
            flt = _filter(params)
        except ValueError as exc:
            return self.web.error(request, 400, "Bộ lọc không hợp lệ", str(exc))
        account = getattr(request.state, "account", None)
        if account is not None:  # an officer sees their own unit's cases only
            flt = replace(flt, branch=account.branch)
        today = self._today()
        rows = await list_cases(self.web.ctx.engine, flt, as_of=today, limit=PAGE_SIZE)
        return self.web.page(
            request,
            "cases.html",
            {"rows": rows, "today": today, "f": dict(params), "limit": PAGE_SIZE, **self.labels()},
            user=user,
        )

    def _no_case(self, request: Request) -> Response:
        return self.web.error(
            request, 404, "Không tìm thấy hồ sơ", "Không có hồ sơ này (số hồ sơ hoặc mã sai)."
        )


def _filter(params: Mapping[str, str]) -> CaseFilter:
    def day(name: str) -> date | None:
        text = params.get(name) or ""
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"ngày {text!r} không đúng dạng YYYY-MM-DD") from None

    overdue = params.get("overdue") or ""
    return CaseFilter(
        status=(params.get("status") or None),
        kind=(params.get("kind") or None),
        topic=(params.get("topic") or None),
        agency=(params.get("agency") or None),
        overdue=True if overdue == "1" else False if overdue == "0" else None,
        since=day("from"),
        until=day("to"),
    )
