"""``callrouter calls`` and ``callrouter callbacks``: read the call log, call back.

What a call was about is a case: ``callrouter cases open --call ID`` (cli/cases.py).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from callrouter.calls.outcomes import CALLBACK_REASON_SHORT, OUTCOME_SHORT
from callrouter.cli.db import database_url_option, resolve_url, run_store_command, run_with_engine
from callrouter.exports import csv_row
from callrouter.settings import Settings
from callrouter.store.models import OUTCOMES
from callrouter.store.queries import (
    CALL_COLUMNS,
    CALLBACK_COLUMNS,
    CallFilter,
    list_callbacks,
    list_calls,
    mark_callback_done,
)

HEADERS = {
    "id": "mã",
    "started_at": "bắt đầu",
    "created_at": "lúc",
    "caller": "số gọi đến",
    "number": "số cần gọi lại",
    "outcome": "kết quả",
    "answered_officer_name": "cán bộ nghe",
    "wait_seconds": "chờ (s)",
    "talk_seconds": "nói (s)",
    "category": "lĩnh vực",
    "resolution": "xử lý",
    "reason": "lý do",
    "recording": "ghi âm",
    "done_by": "đã gọi lại bởi",
}


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _emit(rows: list[dict[str, Any]], columns: Sequence[str], fmt: str, table: list[str]) -> None:
    """Write ``rows`` as JSON, CSV, or a plain table of the ``table`` columns."""
    if fmt == "json":
        click.echo(
            json.dumps(
                [{k: _jsonable(r[k]) for k in columns} for r in rows], ensure_ascii=False, indent=2
            )
        )
        return
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(csv_row(_cell(row[k]) for k in columns))
        click.echo(buf.getvalue(), nl=False)
        return
    if not rows:
        click.echo("(không có dòng nào)")
        return
    cells = [[_cell(row[k]) for k in table] for row in rows]
    headers = [HEADERS.get(k, k) for k in table]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    click.echo(f"({len(rows)} dòng)")


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _local_times(rows: list[dict[str, Any]], column: str) -> list[dict[str, Any]]:
    """Times shown to admins in the configured time zone (JSON and CSV stay in UTC)."""
    try:
        tz = ZoneInfo(Settings().timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("Asia/Ho_Chi_Minh")
    return [{**r, column: r[column].astimezone(tz) if r[column] else None} for r in rows]


def _format_options(func: Callable[..., None]) -> Callable[..., None]:
    func = click.option("--csv", "fmt", flag_value="csv", help="CSV (UTF-8).")(func)
    func = click.option("--json", "fmt", flag_value="json", help="JSON.")(func)
    return click.option("--table", "fmt", flag_value="table", default=True, hidden=True)(func)


@click.group("calls")
def calls() -> None:
    """Nhật ký cuộc gọi: xem, lọc (nội dung cuộc gọi: callrouter cases)."""


@calls.command("list")
@click.option(
    "--from", "since", type=click.DateTime(["%Y-%m-%d"]), help="Từ ngày (giờ địa phương)."
)
@click.option("--to", "until", type=click.DateTime(["%Y-%m-%d"]), help="Đến ngày, kể cả ngày đó.")
@click.option("--outcome", type=click.Choice(OUTCOMES), help="Kết quả cuộc gọi.")
@click.option("--caller", metavar="SỐ", help="Chỉ các cuộc gọi của số này.")
@click.option("--limit", type=click.IntRange(min=1), help="Tối đa bao nhiêu dòng.")
@_format_options
@database_url_option
def list_command(
    *,
    since: datetime | None,
    until: datetime | None,
    outcome: str | None,
    caller: str | None,
    limit: int | None,
    fmt: str,
    database_url: str | None,
) -> None:
    """Liệt kê cuộc gọi (mặc định: bảng; --json hoặc --csv để xuất)."""
    if since and until and since > until:
        raise click.BadParameter("--from phải trước hoặc bằng --to", param_hint="--from")
    flt = CallFilter(
        since=since.date() if since else None,
        until=until.date() if until else None,
        outcome=outcome,
        caller=caller,
        limit=limit,
    )
    rows = run_with_engine(resolve_url(database_url), lambda engine: list_calls(engine, flt))
    if fmt == "table":
        rows = _local_times(rows, "started_at")
        rows = [{**r, "outcome": OUTCOME_SHORT.get(r["outcome"], r["outcome"])} for r in rows]
    _emit(
        rows,
        CALL_COLUMNS,
        fmt,
        ["id", "started_at", "caller", "outcome", "answered_officer_name", "wait_seconds",
         "talk_seconds", "category", "resolution"],
    )  # fmt: skip


@calls.command("import-fallback")
@click.option(
    "--cdr",
    "cdr_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Tệp CDR JSON của tổng đài (mặc định: CALLROUTER_CDR_PATH hoặc "
    "/var/log/asterisk/cdr-custom/callrouter-cdr.json).",
)
@database_url_option
def import_fallback_command(cdr_path: Path | None, database_url: str | None) -> None:
    """Nhập các cuộc gọi tổng đài tự xử lý (phương án dự phòng) khi callrouter ngừng chạy."""
    from callrouter.asterisk.cdr_import import import_once  # noqa: PLC0415 -- only this command

    report = run_store_command(
        lambda: import_once(Settings(), cdr_path=cdr_path, database_url=resolve_url(database_url))
    )
    click.echo(
        f"Đã nhập {report.imported} cuộc gọi mới, bổ sung {report.completed} cuộc gọi đã có, "
        f"bỏ qua {report.already} cuộc gọi đã nhập trước đó; {report.attempts} lượt đổ chuông; "
        f"{report.repaired_lines} dòng CDR sửa được, {report.bad_lines} dòng CDR lỗi."
    )
    if report.rejected_file:
        click.echo(f"Các dòng lỗi được giữ trong {report.rejected_file}.")


@click.group("callbacks")
def callbacks() -> None:
    """Danh sách người gọi cần gọi lại."""


@callbacks.command("list")
@click.option("--all", "include_done", is_flag=True, help="Kể cả các yêu cầu đã gọi lại.")
@_format_options
@database_url_option
def callbacks_list(include_done: bool, fmt: str, database_url: str | None) -> None:
    """Liệt kê các yêu cầu gọi lại (mặc định: chưa gọi)."""
    rows = run_with_engine(
        resolve_url(database_url), lambda engine: list_callbacks(engine, include_done=include_done)
    )
    if fmt == "table":
        rows = _local_times(rows, "created_at")
        rows = [{**r, "reason": CALLBACK_REASON_SHORT.get(r["reason"], r["reason"])} for r in rows]
    _emit(
        rows,
        CALLBACK_COLUMNS,
        fmt,
        ["id", "created_at", "number", "reason", "recording", "done_by"],
    )


@callbacks.command("done")
@click.argument("callback_id")
@click.option("--by", "by", required=True, metavar="TÊN", help="Cán bộ đã gọi lại.")
@click.option("--linkedid", "outbound_linkedid", metavar="ID", help="Linkedid của cuộc gọi lại.")
@database_url_option
def callbacks_done(
    callback_id: str, by: str, outbound_linkedid: str | None, database_url: str | None
) -> None:
    """Đánh dấu đã gọi lại CALLBACK_ID."""
    run_with_engine(
        resolve_url(database_url),
        lambda engine: mark_callback_done(
            engine, callback_id, by=by, at=datetime.now(UTC), outbound_linkedid=outbound_linkedid
        ),
    )
    click.echo(f"Đã ghi nhận: {by} đã gọi lại ({callback_id}).")


@callbacks.command("call")
@click.argument("callback_id")
@click.option(
    "--officer",
    "officer_id",
    metavar="MÃ",
    help="Cán bộ gọi lại (mặc định: cán bộ đang trực đầu tiên).",
)
@database_url_option
def callbacks_call(callback_id: str, officer_id: str | None, database_url: str | None) -> None:
    """Gọi lại CALLBACK_ID: đổ chuông cán bộ trước, cán bộ nghe máy thì gọi người gọi và nối máy."""
    from callrouter.asterisk.callbacks import RESULT_TEXT, call_back_once  # noqa: PLC0415

    outcome = run_store_command(
        lambda: call_back_once(
            Settings(),
            callback_id,
            officer_id=officer_id,
            database_url=resolve_url(database_url),
        )
    )
    text = RESULT_TEXT.get(outcome.result or "failed", outcome.result or "")
    detail = f" ({outcome.detail})" if outcome.detail else ""
    if outcome.result != "bridged":
        raise click.ClickException(
            f"Gọi lại {callback_id} không thành công: {text}{detail}. Yêu cầu vẫn còn mở."
        )
    click.echo(f"Gọi lại {callback_id}: {text} — {outcome.officer_name}.")
