"""The monthly report's pages (``/report``): figures for a month, the approve button, three
charts and the downloads, from the same figures the CLI's report uses."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from callrouter.errors import ReportError
from callrouter.report import drafts
from callrouter.report.figures import Figures, Period
from callrouter.report.periods import month_period, parse_month
from callrouter.report.send import period_stem

if TYPE_CHECKING:
    from callrouter.web.app import AdminWeb

log = structlog.get_logger(__name__)

FIGURES_TTL = timedelta(seconds=60)
DOWNLOADS = {"xlsx": "Excel (XLSX)", "docx": "Word (DOCX)", "csv": "CSV", "json": "JSON"}
CHARTS = {"by_day": "Theo ngày", "by_hour": "Theo giờ", "outcomes": "Kết quả"}
MIN_YEAR, MAX_YEAR = 2000, 2100  # months the report pages accept


class ReportPages:
    def __init__(self, web: AdminWeb) -> None:
        self.web = web
        # The report page and its three charts ask for the same figures within a second:
        # computed once per period for FIGURES_TTL (the clock is the injected one).
        self.figures_cache: dict[tuple[object, ...], tuple[datetime, Figures]] = {}
        self.charts_cache: dict[str, tuple[Figures, bytes]] = {}

    def _period(self, request: Request) -> Period:
        month = request.query_params.get("month") or self.web._now().astimezone(
            self.web.tz
        ).strftime("%Y-%m")
        cutoff_text = request.query_params.get("cutoff") or ""
        if len(month) > 7 or len(cutoff_text) > 2:
            raise ReportError("Tháng phải có dạng NNNN-TT (ví dụ 2026-11), ngày chốt 1–28.")
        try:
            cutoff = int(cutoff_text) if cutoff_text else None
        except ValueError:
            raise ReportError(f"--cutoff {cutoff_text!r}: expected a day number") from None
        year, _ = parse_month(month)
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise ReportError(
                f"Tháng {month}: chỉ có báo cáo từ năm {MIN_YEAR} đến năm {MAX_YEAR}."
            )
        return month_period(month, cutoff)

    async def _figures(self, period: Period) -> Figures:
        from callrouter.report.queries import compute_figures  # noqa: PLC0415 (heavy import, report pages only)

        now = self.web._now()
        key = (period.kind, period.start, period.end, period.month, period.cutoff_day)
        cached = self.figures_cache.get(key)
        if cached is not None and timedelta(0) <= now - cached[0] < FIGURES_TTL:
            return cached[1]
        rs = self.web.ctx.report_settings
        figures = await compute_figures(
            self.web.ctx.engine,
            period=period,
            branch=self.web.ctx.branch,
            service_level_seconds=self.web.ctx.service_level_seconds,
            misdial_seconds=self.web.ctx.misdial_seconds,
            timezone=str(self.web.tz),
            unit=rs.unit_info(),
            cases_config=self.web.cases.rules.config,
            now=now,
            calendar=self.web.cases.rules.calendar,
        )
        if len(self.figures_cache) > 32:
            self.figures_cache.clear()
        self.figures_cache[key] = (now, figures)
        return figures

    def _bad_period(self, request: Request, exc: ReportError) -> Response:
        return self.web.error(request, 400, "Kỳ báo cáo không hợp lệ", str(exc).replace("--", ""))

    async def page(self, request: Request) -> Response:
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        try:
            period = self._period(request)
        except ReportError as exc:
            return self._bad_period(request, exc)
        from callrouter.report.tables import (  # noqa: PLC0415 (report pages only)
            answer_tables,
            summary_rows,
        )
        from callrouter.report.words import (  # noqa: PLC0415
            GLOSSARY_HEADING,
            answer_proposal,
            empty_sentence,
            glossary_lines,
            summary_paragraphs,
        )

        f = await self._figures(period)
        query = f"month={period.month}" + (
            f"&cutoff={period.cutoff_day}" if period.cutoff_day else ""
        )
        draft = await drafts.get(self.web.ctx.engine, period_stem(period))
        return self.web.page(
            request,
            "report.html",
            {
                "f": f,
                "period": period,
                "rows": summary_rows(f),
                "glossary": (GLOSSARY_HEADING, glossary_lines()),
                # the answer book, as in the DOCX: most used answers, questions without one
                "answer_tables": answer_tables(f),
                "proposal": answer_proposal(f),
                "paragraphs": [empty_sentence(f)] if f.empty else summary_paragraphs(f),
                "query": query,
                "downloads": DOWNLOADS,
                "charts": CHARTS,
                "draft": draft,
                "draft_when": lambda at: drafts.when(at, str(self.web.tz)),
            },
            user=user,
        )

    async def approve(self, request: Request) -> Response:
        """The approve button: the logged-in account approves the period's draft."""
        guarded = await self.web._guard_post(request)
        if isinstance(guarded, Response):
            return guarded
        user, form = guarded
        month, cutoff = str(form.get("month") or ""), str(form.get("cutoff") or "")
        try:
            period = month_period(month, int(cutoff) if cutoff.isdigit() else None)
            await drafts.approve(
                self.web.ctx.engine,
                period_stem(period),
                user,
                now=self.web._now(),
                tz=str(self.web.tz),
            )
        except ReportError as exc:
            return self.web.error(request, 400, "Chưa duyệt được báo cáo", str(exc))
        log.info("web.report_approved", user=user, stem=period_stem(period))
        request.session["flash"] = f"Đã duyệt báo cáo {period.title_vi}; báo cáo sẽ được gửi đi."
        query = f"month={period.month}" + (f"&cutoff={cutoff}" if cutoff.isdigit() else "")
        return RedirectResponse(f"/report?{query}", status_code=303)

    async def chart(self, request: Request) -> Response:
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        name = request.path_params["name"]
        if name not in CHARTS:
            raise HTTPException(404)
        try:
            period = self._period(request)
        except ReportError as exc:
            return self._bad_period(request, exc)
        from callrouter.report import charts  # noqa: PLC0415 (matplotlib loads only when needed)

        f = await self._figures(period)
        draw = {
            "by_day": charts.by_day_chart,
            "by_hour": charts.by_hour_chart,
            "outcomes": charts.outcomes_chart,
        }[name]
        # Drawing takes most of a second (matplotlib): once per figures object and chart.
        cached = self.charts_cache.get(name)
        if cached is not None and cached[0] is f:
            png = cached[1]
        else:
            png = await asyncio.to_thread(draw, f)
            self.charts_cache[name] = (f, png)
        return Response(png, media_type="image/png")

    async def download(self, request: Request) -> Response:
        user = await self.web._guard_get(request)
        if isinstance(user, Response):
            return user
        fmt = request.path_params["fmt"]
        if fmt not in DOWNLOADS:
            raise HTTPException(404)
        try:
            period = self._period(request)
        except ReportError as exc:
            return self._bad_period(request, exc)
        from callrouter.report.render import SUFFIX, render_async  # noqa: PLC0415
        from callrouter.report.send import attachment_stem  # noqa: PLC0415

        f = await self._figures(period)
        data = await render_async(f, fmt, self.web.ctx.report_settings)
        media = {
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "csv": "text/csv; charset=utf-8",
            "json": "application/json",
        }[fmt]
        filename = f"{attachment_stem(f)}.{SUFFIX[fmt]}"
        disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
        return Response(data, media_type=media, headers={"content-disposition": disposition})
