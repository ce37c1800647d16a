"""``callrouter cases``: list, show, open, update and export citizens' cases.

The same filters as the web's cases page; ``--json``/``--csv`` for machines. An update names
the case by its reference (``42/2026``) or id; ``--expect-version`` makes it refuse if someone
saved the case since that version (the web form does the same).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import click

from callrouter.cases.edit import CaseInput, CaseRules
from callrouter.cases.lifecycle import Kind, Status, parse_kind, parse_status
from callrouter.cases.setup import case_rules
from callrouter.cli.calls import _emit, _format_options, _local_times
from callrouter.cli.db import database_url_option, resolve_url, run_with_engine
from callrouter.errors import CaseError, RotaValidationError
from callrouter.settings import Settings
from callrouter.store.cases import (
    CaseFilter,
    CaseRow,
    get_case,
    history,
    list_cases,
    open_case,
    update_case,
)

EXPORT_COLUMNS = ("ref", "id", *(c for c in CaseRow.__dataclass_fields__ if c != "id"), "overdue")
LIST_COLUMNS = ["ref", "opened_at", "kind", "topic", "status", "agency", "deadline", "overdue"]


def _rules() -> CaseRules:
    try:
        return case_rules(Settings())
    except (CaseError, RotaValidationError) as exc:
        raise click.ClickException(str(exc)) from None


def _row(case: CaseRow, as_of: date) -> dict[str, Any]:
    return {**case.as_dict(), "ref": case.ref, "overdue": case.overdue(as_of)}


def _labelled(rows: list[dict[str, Any]], rules: CaseRules) -> list[dict[str, Any]]:
    cfg = rules.config
    return [
        {
            **r,
            "kind": Kind(r["kind"]).label,
            "status": Status(r["status"]).label,
            "topic": cfg.topic_label(r["topic"]),
            "agency": cfg.agency_label(r["agency"]),
            "overdue": "QUÁ HẠN" if r["overdue"] else "",
        }
        for r in _local_times(rows, "opened_at")
    ]


def _choice(parse: Any) -> Any:
    def callback(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(parse(value))
        except CaseError as exc:
            raise click.BadParameter(str(exc), param=param) from None

    return callback


def _filters(func: Any) -> Any:
    options = [
        click.option("--status", callback=_choice(parse_status), help="Trạng thái (mã hoặc tên)."),
        click.option("--kind", callback=_choice(parse_kind), help="Loại: hoi_dap, phan_anh, …"),
        click.option("--topic", metavar="MÃ", help="Lĩnh vực (mã trong cấu hình)."),
        click.option("--agency", metavar="MÃ", help="Cơ quan đã chuyển đến (mã)."),
        click.option("--overdue/--not-overdue", default=None, help="Chỉ hồ sơ (không) quá hạn."),
        click.option("--from", "since", type=click.DateTime(["%Y-%m-%d"]), help="Từ ngày."),
        click.option("--to", "until", type=click.DateTime(["%Y-%m-%d"]), help="Đến ngày."),
        click.option("--limit", type=click.IntRange(1, 100_000), default=500, show_default=True),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _filter(opts: dict[str, Any]) -> CaseFilter:
    since, until = opts["since"], opts["until"]
    if since and until and since > until:
        raise click.BadParameter("--from phải trước hoặc bằng --to", param_hint="--from")
    return CaseFilter(
        status=opts["status"],
        kind=opts["kind"],
        topic=opts["topic"],
        agency=opts["agency"],
        overdue=opts["overdue"],
        since=since.date() if since else None,
        until=until.date() if until else None,
    )


def _fetch(database_url: str | None, opts: dict[str, Any], rules: CaseRules) -> list[CaseRow]:
    today = rules.local_day(datetime.now(UTC))
    flt = _filter(opts)
    return run_with_engine(
        resolve_url(database_url),
        lambda engine: list_cases(engine, flt, as_of=today, limit=opts["limit"]),
    )


@click.group("cases")
def cases() -> None:
    """Hồ sơ hỏi đáp, phản ánh, kiến nghị của người dân: xem, lọc, cập nhật, xuất."""


@cases.command("list")
@_filters
@_format_options
@database_url_option
def list_command(fmt: str, database_url: str | None, **opts: Any) -> None:
    """Liệt kê hồ sơ (mới nhất trước)."""
    rules = _rules()
    today = rules.local_day(datetime.now(UTC))
    rows = [_row(c, today) for c in _fetch(database_url, opts, rules)]
    if fmt == "table":
        rows = _labelled(rows, rules)
    _emit(rows, EXPORT_COLUMNS if fmt != "table" else LIST_COLUMNS, fmt, LIST_COLUMNS)


@cases.command("export")
@_filters
@click.option("--json", "as_json", is_flag=True, help="JSON thay cho CSV.")
@database_url_option
def export_command(as_json: bool, database_url: str | None, **opts: Any) -> None:
    """Xuất đầy đủ các hồ sơ (CSV UTF-8, hoặc --json)."""
    rules = _rules()
    today = rules.local_day(datetime.now(UTC))
    rows = [_row(c, today) for c in _fetch(database_url, opts, rules)]
    _emit(rows, EXPORT_COLUMNS, "json" if as_json else "csv", [])


@cases.command("show")
@click.argument("key", metavar="SỐ_HỒ_SƠ")
@click.option("--json", "as_json", is_flag=True, help="JSON.")
@database_url_option
def show_command(key: str, as_json: bool, database_url: str | None) -> None:
    """Xem một hồ sơ (số hồ sơ như 42/2026, hoặc mã) và lịch sử thay đổi."""
    rules = _rules()
    today = rules.local_day(datetime.now(UTC))

    async def work(engine: Any) -> tuple[CaseRow | None, list[Any]]:
        case = await get_case(engine, key)
        return case, (await history(engine, case.id) if case else [])

    case, changes = run_with_engine(resolve_url(database_url), work)
    if case is None:
        raise click.ClickException(f"không có hồ sơ {key!r}")
    row = _row(case, today)
    if as_json:
        row["history"] = [
            {"at": h.at.isoformat(), "account": h.account, "from": h.from_status, "to": h.to_status,
             "changes": h.changes}
            for h in changes
        ]  # fmt: skip
        _emit([row], [*EXPORT_COLUMNS, "history"], "json", [])
        return
    shown = _labelled([row], rules)[0]
    for key_, label in (
        ("ref", "Số hồ sơ"), ("opened_at", "Tiếp nhận"), ("kind", "Loại"), ("topic", "Lĩnh vực"),
        ("status", "Trạng thái"), ("deadline", "Hạn xử lý"), ("overdue", "Quá hạn"),
        ("summary", "Nội dung"), ("answer", "Trả lời"), ("agency", "Chuyển đến"),
        ("forwarded_on", "Ngày chuyển"), ("result", "Kết quả"), ("result_on", "Ngày có kết quả"),
        ("told_by", "Đã phản hồi người dân bởi"), ("version", "Phiên bản"),
    ):  # fmt: skip
        value = shown[key_]
        if value not in (None, ""):
            click.echo(f"{label}: {value}")
    click.echo("Lịch sử:")
    for h in changes:
        move = f"{h.from_status or '(mới)'} → {h.to_status}"
        click.echo(f"  {h.at.isoformat(timespec='seconds')}  {h.account}  {move}")


@cases.command("open")
@click.option("--kind", required=True, callback=_choice(parse_kind), help="Loại hồ sơ.")
@click.option("--topic", metavar="MÃ", help="Lĩnh vực.")
@click.option("--summary", help="Nội dung người dân hỏi, phản ánh, kiến nghị.")
@click.option("--answer", help="Câu trả lời đã đưa ra.")
@click.option("--status", callback=_choice(parse_status), help="Trạng thái ban đầu.")
@click.option("--agency", metavar="MÃ", help="Cơ quan nhận chuyển.")
@click.option("--call", "call_id", metavar="MÃ", help="Cuộc gọi của hồ sơ (nếu có).")
@click.option("--by", required=True, metavar="TÀI_KHOẢN", help="Người ghi nhận.")
@database_url_option
def open_command(by: str, call_id: str | None, database_url: str | None, **given: Any) -> None:
    """Mở một hồ sơ bằng tay (ví dụ từ một tin nhắn, hoặc sau cuộc gọi)."""
    rules = _rules()
    branch = Settings().branch
    case = run_with_engine(
        resolve_url(database_url),
        lambda engine: open_case(
            engine,
            rules,
            CaseInput(**given),
            branch=branch,
            by=by,
            at=datetime.now(UTC),
            call_id=call_id,
        ),
    )
    click.echo(f"Đã mở hồ sơ số {case.ref}, hạn xử lý {case.deadline:%d/%m/%Y}.")


@cases.command("update")
@click.argument("key", metavar="SỐ_HỒ_SƠ")
@click.option("--kind", callback=_choice(parse_kind), help="Loại hồ sơ.")
@click.option("--topic", metavar="MÃ", help="Lĩnh vực.")
@click.option("--summary", help="Nội dung.")
@click.option("--answer", help="Câu trả lời.")
@click.option("--status", callback=_choice(parse_status), help="Trạng thái mới.")
@click.option("--agency", metavar="MÃ", help="Cơ quan nhận chuyển.")
@click.option("--result", help="Kết quả xử lý.")
@click.option("--notable/--not-notable", default=None, help="Nêu trong báo cáo.")
@click.option("--expect-version", type=int, help="Từ chối nếu hồ sơ đã đổi sau phiên bản này.")
@click.option("--by", required=True, metavar="TÀI_KHOẢN", help="Người cập nhật.")
@database_url_option
def update_command(
    key: str, by: str, expect_version: int | None, database_url: str | None, **given: Any
) -> None:
    """Cập nhật hồ sơ: chuyển, ghi kết quả, đã phản hồi người dân (--status told)."""
    rules = _rules()

    async def work(engine: Any) -> CaseRow:
        case = await get_case(engine, key)
        if case is None:
            raise click.ClickException(f"không có hồ sơ {key!r}")
        version = expect_version if expect_version is not None else case.version
        return await update_case(
            engine,
            rules,
            case.id,
            CaseInput(**given),
            expected_version=version,
            by=by,
            at=datetime.now(UTC),
        )

    case = run_with_engine(resolve_url(database_url), work)
    click.echo(f"Đã cập nhật hồ sơ số {case.ref}: {Status(case.status).label}.")
