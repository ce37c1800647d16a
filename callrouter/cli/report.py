"""``callrouter report``: the monthly report (table, CSV, JSON, XLSX, DOCX), roll-up, e-mail."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo

import click
import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.errors import CallrouterError, ReportError
from callrouter.report import drafts
from callrouter.report.figures import Figures, Period
from callrouter.report.periods import latest_month, require_ended, resolve_period
from callrouter.report.render import BINARY, SUFFIX, Format, render
from callrouter.report.send import (
    attachment_stem,
    build_message,
    notice_message,
    period_stem,
    send_message,
)
from callrouter.report.settings import LETTERHEAD_FIELDS, ReportSettings, load_report_settings
from callrouter.settings import Settings
from callrouter.store.db import check_connection, make_engine, safe_url

FORMATS = list(get_args(Format))
log = structlog.get_logger(__name__)


def _fail(exc: CallrouterError) -> click.ClickException:
    return click.ClickException(str(exc))


def _read_notes(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ReportError(f"--notes {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ReportError(f"--notes {path}: not UTF-8 text (byte {exc.start})") from None


@asynccontextmanager
async def _database(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``url``; database errors become a :class:`ReportError` naming the cure."""
    engine = make_engine(url)
    try:
        await check_connection(engine)
        yield engine
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        raise ReportError(
            f"database {safe_url(url)}: {reason} (is the schema there? run: callrouter db upgrade)"
        ) from None
    finally:
        await engine.dispose()


async def _compute(
    engine: AsyncEngine, *, period: Period, settings: Settings, rs: ReportSettings,
    notes: str | None,
) -> Figures:  # fmt: skip
    from callrouter.cases.setup import case_rules, cases_config  # noqa: PLC0415 (rota loader)
    from callrouter.cases.workdays import WorkCalendar  # noqa: PLC0415 (holiday tables)
    from callrouter.errors import RotaValidationError  # noqa: PLC0415
    from callrouter.report.queries import compute_figures  # noqa: PLC0415 (imports the store)

    try:
        # Call-backs are due in working hours of the rota's calendar (closed dates, make-up days).
        calendar = case_rules(settings).calendar
    except RotaValidationError:
        calendar = WorkCalendar()  # no usable rota: the public holidays only

    return await compute_figures(
        engine,
        period=period,
        branch=settings.branch,
        service_level_seconds=settings.service_level_seconds,
        timezone=settings.timezone,
        unit=rs.unit_info(),
        cases_config=cases_config(settings),
        misdial_seconds=settings.misdial_seconds,
        notes=notes,
        calendar=calendar,
    )


async def _figures(
    *, url: str, period: Period, settings: Settings, rs: ReportSettings, notes: str | None
) -> Figures:
    async with _database(url) as engine:
        return await _compute(engine, period=period, settings=settings, rs=rs, notes=notes)


def _write(data: bytes, fmt: str, out: Path | None, default_stem: str) -> None:
    if out is None and fmt not in BINARY:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target = out if out is not None else Path(f"{default_stem}.{SUFFIX[fmt]}")
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise ReportError(f"--out {target}: cannot write: {exc.strerror}") from None
    click.echo(f"Đã ghi {target}", err=True)


_url_option = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Database URL (default: CALLROUTER_DATABASE_URL, else the embedded SQLite file).",
)
_notes_option = click.option(
    "--notes",
    "notes_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="UTF-8 text file: the unit's section on difficulties and proposals.",
)


@click.group("report")
def report() -> None:
    """Báo cáo kết quả xử lý phản ánh, kiến nghị qua đường dây nóng 1022 (tháng, tổng hợp)."""


def _today(settings: Settings) -> date:
    """Today in the rota's time zone (the days a report counts are the rota's local days)."""
    return datetime.now(UTC).astimezone(ZoneInfo(settings.timezone)).date()


def _warn_missing(rs: ReportSettings) -> None:
    missing = rs.missing()
    if missing:
        click.echo(
            "Cảnh báo: tiêu đề văn bản chưa cấu hình, báo cáo ghi '[chưa cấu hình: …]' thay "
            "cho: " + ", ".join(missing),
            err=True,
        )


_cutoff_option = click.option(
    "--cutoff",
    type=int,
    default=None,
    metavar="N",
    help="Cut-off day: from the Nth of the previous month to the (N-1)th of --month; 0 for "
    "the calendar month (default: CALLROUTER_REPORT_CUTOFF_DAY, 15).",
)


@report.command("monthly")
@click.option("--month", default=None, metavar="YYYY-MM", help="Month reported, e.g. 2026-11.")
@_cutoff_option
@click.option(
    "--from", "start", default=None, metavar="YYYY-MM-DD", help="Ad-hoc report: first day."
)
@click.option("--to", "end", default=None, metavar="YYYY-MM-DD", help="Ad-hoc report: last day.")
@click.option(
    "--partial",
    is_flag=True,
    help="Report a period not yet ended, titled 'số liệu tính đến ngày …' (today).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None)
@_notes_option
@_url_option
def monthly(  # noqa: PLR0917 (click passes every option as an argument)
    month: str | None,
    cutoff: int | None,
    start: str | None,
    end: str | None,
    partial: bool,
    fmt: Format,
    out: Path | None,
    notes_path: Path | None,
    database_url: str | None,
) -> None:
    """Lập báo cáo tháng: tháng dương lịch, hoặc theo ngày chốt (--cutoff N), hoặc đột xuất.

    Ví dụ: callrouter report monthly --month 2026-11 --format docx --out bao-cao.docx
    """
    try:
        settings, rs = Settings(), load_report_settings()
        if cutoff is None and month is not None:
            cutoff = rs.cutoff_day
        period = resolve_period(month=month, cutoff=cutoff, start=start, end=end)
        period = require_ended(period, _today(settings), partial=partial)
        notes = _read_notes(notes_path)
        if fmt == "docx":
            _warn_missing(rs)
        url = database_url or settings.effective_database_url()
        f = asyncio.run(_figures(url=url, period=period, settings=settings, rs=rs, notes=notes))
        if f.empty:
            click.echo(
                f"Không có cuộc gọi nào từ {period.start:%d/%m/%Y} đến {period.end:%d/%m/%Y}; "
                "báo cáo vẫn được lập.",
                err=True,
            )
        _write(render(f, fmt, rs), fmt, out, attachment_stem(f))
    except CallrouterError as exc:
        raise _fail(exc) from None


@report.command("merge")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="docx", show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--force", is_flag=True, help="Merge units that report different periods.")
@_notes_option
def merge(
    inputs: tuple[Path, ...], fmt: Format, out: Path | None, force: bool, notes_path: Path | None
) -> None:
    """Tổng hợp báo cáo JSON của nhiều đơn vị thành một báo cáo (cộng số liệu, tính lại tỷ lệ)."""
    from callrouter.report.merge import merge_files  # noqa: PLC0415 (only this command needs it)

    try:
        rs = load_report_settings()
        f = merge_files(
            list(inputs),
            issuer=rs.unit_info(),
            force=force,
            notes=_read_notes(notes_path),
        )
        _write(render(f, fmt, rs), fmt, out, attachment_stem(f) + "-tong-hop")
    except CallrouterError as exc:
        raise _fail(exc) from None


@report.command("upgrade")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to write the upgraded JSON (default: standard output).")  # fmt: skip
def upgrade(source: Path, output: Path | None) -> None:
    """Nâng cấp tệp báo cáo JSON phiên bản cũ (1) lên phiên bản hiện hành để tổng hợp."""
    from callrouter.report.merge import load_figures  # noqa: PLC0415 (only this command needs it)

    try:
        text = load_figures(source, upgrade=True).to_json()
    except CallrouterError as exc:
        raise _fail(exc) from None
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Đã nâng cấp {source} → {output}.", err=True)


def _monthly_period(
    settings: Settings, rs: ReportSettings, month: str | None, cutoff: int | None
) -> Period:
    """The period a monthly report leaving the unit covers: ``--month`` or the latest whose
    period has ended, with the configured cut-off unless ``--cutoff``; an unfinished one never."""
    if cutoff is None:
        cutoff = rs.cutoff_day
    today = _today(settings)
    if month is None:
        month = latest_month(today, cutoff)
    period = resolve_period(month=month, cutoff=cutoff, start=None, end=None)
    return require_ended(period, today, partial=False)


def _reports_dir(settings: Settings, rs: ReportSettings) -> Path:
    return rs.reports_dir if rs.reports_dir is not None else settings.state_dir / "reports"


_month_option = click.option(
    "--month",
    default=None,
    metavar="YYYY-MM",
    help="Month reported (default: the latest whose period has ended, in the rota's time zone).",
)


@report.command("draft")
@_month_option
@_cutoff_option
@_notes_option
@_url_option
def draft(
    month: str | None, cutoff: int | None, notes_path: Path | None, database_url: str | None
) -> None:
    """Lập dự thảo báo cáo tháng (Word, Excel, JSON, PDF) chờ lãnh đạo duyệt; báo cho văn thư."""
    try:
        settings, rs = Settings(), load_report_settings()
        rs.require_letterhead("report draft")
        period = _monthly_period(settings, rs, month, cutoff)
        notes = _read_notes(notes_path)
        url = database_url or settings.effective_database_url()
        d = asyncio.run(_draft(url, period, settings, rs, notes))
        click.echo(f"Đã lập dự thảo {d.stem} tại {d.directory}; chờ duyệt.", err=True)
    except CallrouterError as exc:
        raise _fail(exc) from None


async def _draft(
    url: str, period: Period, settings: Settings, rs: ReportSettings, notes: str | None
) -> drafts.Draft:
    async with _database(url) as engine:
        f = await _compute(engine, period=period, settings=settings, rs=rs, notes=notes)
        d = await drafts.prepare(engine, f, rs, _reports_dir(settings, rs), now=datetime.now(UTC))
    await _notify(
        rs,
        f"Dự thảo báo cáo {period.title_vi} chờ duyệt",
        [
            f"Dự thảo báo cáo {period.title_vi} đã được lập tại {d.directory} "
            "(Word, Excel, JSON và PDF để ký số).",
            "Sau khi xem và ký, duyệt để gửi đi: trên trang Báo cáo, hoặc",
            f"  callrouter report approve --month {period.month} --by <tài khoản>",
        ],
    )
    return d


async def _notify(rs: ReportSettings, subject_line: str, lines: list[str]) -> None:
    """Tell the clerk by mail; a logged warning when no clerk address is configured."""
    log.warning("report.notice", subject=subject_line)
    if not rs.clerk_mail_to:
        return
    await send_message(notice_message(rs, subject_line, lines), rs)


@report.command("approve")
@_month_option
@_cutoff_option
@click.option("--by", "account", required=True, help="The account approving the report.")
@_url_option
def approve(month: str | None, cutoff: int | None, account: str, database_url: str | None) -> None:
    """Duyệt dự thảo báo cáo tháng (ghi tài khoản duyệt); chỉ báo cáo đã duyệt mới được gửi."""
    try:
        settings, rs = Settings(), load_report_settings()
        period = _monthly_period(settings, rs, month, cutoff)
        url = database_url or settings.effective_database_url()
        d = asyncio.run(_approve(url, period, account, settings.timezone))
        click.echo(f"Đã duyệt {d.stem} ({account}).", err=True)
    except CallrouterError as exc:
        raise _fail(exc) from None


async def _approve(url: str, period: Period, account: str, tz: str) -> drafts.Draft:
    async with _database(url) as engine:
        stem = period_stem(period)
        return await drafts.approve(engine, stem, account, now=datetime.now(UTC), tz=tz)


@report.command("send")
@_month_option
@_cutoff_option
@_url_option
def send(month: str | None, cutoff: int | None, database_url: str | None) -> None:
    """Gửi báo cáo tháng ĐÃ DUYỆT (Word, Excel và JSON để tổng hợp) qua thư điện tử."""
    try:
        settings, rs = Settings(), load_report_settings()
        rs.require_letterhead("report send")
        period = _monthly_period(settings, rs, month, cutoff)
        url = database_url or settings.effective_database_url()
        asyncio.run(_send(url, period_stem(period), rs, settings.timezone))
        click.echo(f"Đã gửi báo cáo {period.title_vi} tới {', '.join(rs.mail_to)}.", err=True)
    except CallrouterError as exc:
        raise _fail(exc) from None


async def _send(url: str, stem: str, rs: ReportSettings, tz: str) -> None:
    if not rs.mail_to:
        raise ReportError("no recipients: set CALLROUTER_REPORT_MAIL_TO (a JSON list)")
    async with _database(url) as engine:
        d = await drafts.approved(engine, stem)
        if d.sent_at is not None:
            sent = drafts.when(d.sent_at, tz)
            raise ReportError(f"{stem}: already sent at {sent} to {d.sent_to}")
        kept = d.read("json")
        f = Figures.model_validate_json(kept)
        msg = build_message(f, rs, d.read("docx"), d.read("xlsx"), kept)
        await send_message(msg, rs)
        await drafts.mark_sent(engine, stem, rs.mail_to, now=datetime.now(UTC))


@report.command("auto")
@_cutoff_option
@_notes_option
@_url_option
def auto(cutoff: int | None, notes_path: Path | None, database_url: str | None) -> None:
    """Việc hằng ngày của bộ hẹn giờ: lập dự thảo nếu chưa có, gửi khi đã duyệt, nhắc duyệt."""
    try:
        settings, rs = Settings(), load_report_settings()
        rs.require_letterhead("report auto")
        period = _monthly_period(settings, rs, None, cutoff)
        url = database_url or settings.effective_database_url()
        notes = _read_notes(notes_path)
        click.echo(asyncio.run(_auto(url, period, settings, rs, notes)), err=True)
    except CallrouterError as exc:
        raise _fail(exc) from None


async def _auto(
    url: str, period: Period, settings: Settings, rs: ReportSettings, notes: str | None
) -> str:
    stem = period_stem(period)
    async with _database(url) as engine:
        d = await drafts.get(engine, stem)
    if d is None:
        d = await _draft(url, period, settings, rs, notes)
        return f"Đã lập dự thảo {stem}; chờ duyệt."
    if d.sent_at is not None:
        return f"{stem}: đã gửi ngày {d.sent_at:%d/%m/%Y}."
    if d.approved_at is not None:
        await _send(url, stem, rs, settings.timezone)
        return f"Đã gửi báo cáo {stem} (duyệt bởi {d.approved_by})."
    if _today(settings).day >= rs.remind_day:
        await _notify(
            rs,
            f"Nhắc: báo cáo {period.title_vi} chưa được duyệt",
            [
                f"Dự thảo báo cáo {period.title_vi} ({d.directory}) chưa được duyệt; báo cáo "
                "phải gửi trước ngày 25.",
                f"Duyệt: callrouter report approve --month {period.month} --by <tài khoản>",
            ],
        )
        return f"{stem}: chưa duyệt; đã nhắc."
    return f"{stem}: chờ duyệt."


@report.command("settings")
@click.option("--check", is_flag=True, help="Exit 1 when a letterhead field is missing.")
def settings_cmd(check: bool) -> None:
    """In tiêu đề văn bản đã cấu hình (cơ quan, đơn vị, địa danh, nơi nhận, người ký, căn cứ)."""
    try:
        rs = load_report_settings()
    except CallrouterError as exc:
        raise _fail(exc) from None
    for name, label in LETTERHEAD_FIELDS:
        value = getattr(rs, name)
        shown = "; ".join(value) if isinstance(value, list) else value
        click.echo(f"{label}: {shown or '— chưa cấu hình —'}")
    click.echo(f"tên đường dây: {rs.hotline_name}")
    click.echo(f"lĩnh vực: {rs.field}")
    click.echo(f"ngày chốt số liệu: {rs.cutoff_day or 'tháng dương lịch'}")
    missing = rs.missing()
    if missing:
        click.echo("Chưa cấu hình: " + ", ".join(missing), err=True)
        if check:
            raise SystemExit(1)
    elif check:
        click.echo("Đủ thông tin để gửi báo cáo.", err=True)


@report.command("schema")
def schema() -> None:
    """In JSON Schema: định dạng JSON của báo cáo (cũng là định dạng trao đổi để tổng hợp)."""
    click.echo(
        json.dumps(Figures.model_json_schema(mode="serialization"), ensure_ascii=False, indent=2)
    )
