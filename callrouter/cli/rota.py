"""``callrouter rota``: check the rota file, see who is on duty, export the roster and calendar."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from callrouter.asterisk.fallback import render_fallback_include, write_fallback_include
from callrouter.errors import ConfigError, RotaValidationError
from callrouter.exports import csv_row
from callrouter.rota import Rota, duty_status, load_rota
from callrouter.rota.ics import duty_calendar
from callrouter.rota.model import DAY_NAMES_VI
from callrouter.rota.text import STRATEGY_VI, reason_vi
from callrouter.rota.timeline import rota_warnings, timeline
from callrouter.settings import Settings


def _settings() -> Settings:
    try:
        return Settings()
    except (ConfigError, ValidationError) as exc:
        raise click.ClickException(f"cấu hình CALLROUTER_* không hợp lệ: {exc}") from None


def _default_rota_path() -> Path:
    return _settings().rota_path


def _rota_option(func: Any) -> Any:
    return click.option(
        "--rota",
        "rota_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=_default_rota_path,
        show_default="CALLROUTER_ROTA_PATH hoặc config/rota.example.yaml",
        help="Tệp lịch trực (YAML).",
    )(func)


def _load(path: Path) -> Rota:
    try:
        return load_rota(path)
    except RotaValidationError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.exceptions.Exit(1) from None


def _parse_at(text: str | None, rota: Rota, now: datetime) -> datetime:
    """``--at``: an ISO date-time (offset optional; rota's zone if absent) or ``HH:MM`` today."""
    tz = rota.timezone
    if text is None:
        return now.astimezone(tz)
    raw = text.strip()
    try:
        if len(raw) <= 5 and ":" in raw:
            clock = time.fromisoformat(raw.zfill(5))
            return datetime.combine(now.astimezone(tz).date(), clock, tz)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: dùng dạng 'YYYY-MM-DD HH:MM', 'YYYY-MM-DDTHH:MM+07:00' hoặc 'HH:MM'",
            param_hint="--at",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(tz)


def _now() -> datetime:
    """The one clock read of the rota commands (the core never reads the clock)."""
    return datetime.now(UTC)


@click.group("rota")
def rota() -> None:
    """Lịch trực: kiểm tra tệp, xem ai đang trực, danh sách cán bộ, lịch iCalendar."""


@rota.command("check")
@click.argument(
    "file", type=click.Path(dir_okay=False, path_type=Path), required=False, default=None
)
@click.option(
    "--from",
    "from_day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Ngày bắt đầu xét các giờ không có ai trực (mặc định: hôm nay).",
)
@click.option("--weeks", type=click.IntRange(1, 52), default=4, show_default=True)
def check(file: Path | None, from_day: datetime | None, weeks: int) -> None:
    """Kiểm tra tệp lịch trực FILE: lỗi (mã thoát 1) và cảnh báo (vẫn hợp lệ)."""
    path = file if file is not None else _default_rota_path()
    loaded = _load(path)
    first_day = from_day.date() if from_day else _now().astimezone(loaded.timezone).date()
    warnings = [f"{path}: cảnh báo: {w}" for w in rota_warnings(loaded, first_day, weeks)]
    for officer in loaded.without_email():
        line = loaded.officer_line(officer.id)
        warnings.append(
            f"{path}{f':{line}' if line else ''}: cảnh báo: cán bộ {officer.id} ({officer.name}) "
            "chưa có e-mail hợp lệ: sẽ không nhận được thông báo"
        )
    for warning in warnings:
        click.echo(warning)
    click.echo(
        f"{path}: hợp lệ — {len(loaded.officers)} cán bộ, {len(loaded.shifts)} ca trực, "
        f"{len(loaded.overrides)} thay đổi, {len(warnings)} cảnh báo (phiên bản {loaded.version})"
    )


_NEXT_HORIZON = timedelta(days=8)


def _next_change(loaded: Rota, at: datetime) -> dict[str, Any] | None:
    """When duty next changes after ``at`` (within eight days), and to what."""
    segments = timeline(loaded, at, at + _NEXT_HORIZON)
    if len(segments) < 2:
        return None
    nxt = segments[1]
    return {
        "at": nxt.start.isoformat(),
        "open": nxt.status.open,
        "reason": nxt.status.reason,
        "officer_ids": list(dict.fromkeys(a.officer_id for a in nxt.status.assignments)),
        "officer_names": list(dict.fromkeys(a.officer_name for a in nxt.status.assignments)),
    }


def _who_payload(loaded: Rota, at: datetime) -> dict[str, Any]:
    status = duty_status(loaded, at)
    policy = loaded.policy
    action = loaded.nobody_answered if status.open else loaded.after_hours
    return {
        "next": _next_change(loaded, at),
        "reason_vi": reason_vi(status.reason),
        "at": at.isoformat(),
        "timezone": str(loaded.timezone),
        "branch": loaded.branch,
        "rota_version": loaded.version,
        "open": status.open,
        "reason": status.reason,
        "on_duty": [
            {
                "officer_id": a.officer_id,
                "officer_name": a.officer_name,
                "number": a.number,
                "number_label": a.number_label,
                "confirm": a.confirm,
                "since": a.start.isoformat(),
                "until": a.end.isoformat(),
            }
            for a in status.assignments
        ],
        "strategy": str(policy.strategy),
        "ring_timeout": policy.ring_timeout,
        "rounds": policy.rounds,
        "max_wait": policy.max_wait,
        "confirm_timeout": policy.confirm_timeout,
        "action": {"kind": action.kind, "number": action.number},
    }


@rota.command("who")
@_rota_option
@click.option("--at", "at_text", default=None, help="Thời điểm (mặc định: bây giờ).")
@click.option("--json", "as_json", is_flag=True, help="In JSON (ổn định, cho script).")
def who(rota_path: Path, at_text: str | None, as_json: bool) -> None:
    """Ai đang trực (hoặc trực vào thời điểm --at)."""
    loaded = _load(rota_path)
    at = _parse_at(at_text, loaded, _now())
    payload = _who_payload(loaded, at)
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False, sort_keys=True, indent=2))
        return
    head = loaded.unit or "Lịch trực"
    click.echo(
        f"{head} — nhánh {loaded.branch} — {at:%Y-%m-%d %H:%M} "
        f"({DAY_NAMES_VI[at.weekday()]}, {loaded.timezone})"
    )
    if payload["open"]:
        click.echo(f"ĐANG TRỰC ({payload['reason_vi']})")
        for i, duty in enumerate(payload["on_duty"], start=1):
            where = duty["number_label"] or "số riêng"
            confirm = ", bấm phím 1" if duty["confirm"] else ""
            until = datetime.fromisoformat(duty["until"])
            click.echo(
                f"  {i}. {duty['officer_name']} — {duty['number']} ({where}{confirm}), "
                f"đến {until:%H:%M %d/%m}"
            )
        policy = loaded.policy
        click.echo(
            f"Đổ chuông: {STRATEGY_VI[policy.strategy]}, {policy.ring_timeout} giây mỗi máy, "
            f"{policy.rounds} vòng, chờ tối đa {policy.max_wait} giây"
        )
        click.echo(f"Không ai nghe máy: {_action_text(loaded.nobody_answered.kind, payload)}")
    else:
        click.echo(f"ĐÓNG MÁY ({payload['reason_vi']})")
        click.echo(f"Cuộc gọi đến: {_action_text(loaded.after_hours.kind, payload)}")
    nxt = payload["next"]
    if nxt is not None:
        when = datetime.fromisoformat(nxt["at"])
        what = ", ".join(nxt["officer_names"]) if nxt["open"] else "đóng máy"
        click.echo(
            f"Thay đổi tiếp theo: {when:%H:%M} {DAY_NAMES_VI[when.weekday()]} {when:%d/%m} — "
            f"{reason_vi(nxt['reason'])}: {what}"
        )


def _action_text(kind: str, payload: dict[str, Any]) -> str:
    if kind == "message":
        return "mời để lại lời nhắn, cán bộ gọi lại sau"
    return f"chuyển tiếp tới {payload['action']['number']}"


@rota.command("roster")
@_rota_option
@click.option("--csv", "as_csv", is_flag=True, help="In CSV (UTF-8) để gửi Sở Y tế.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Ghi CSV ra tệp (UTF-8 có BOM để Excel hiện đúng tiếng Việt).",
)
def roster(rota_path: Path, as_csv: bool, output: Path | None) -> None:
    """Danh sách cán bộ trực: họ tên, số điện thoại, e-mail."""
    loaded = _load(rota_path)
    rows = [
        (str(i), o.name, o.phone, o.email or "") for i, o in enumerate(loaded.officers, start=1)
    ]
    header = ("STT", "Họ và tên", "Số điện thoại", "E-mail")
    if as_csv or output is not None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(csv_row(row) for row in rows)
        if output is not None:
            output.write_bytes(buffer.getvalue().encode("utf-8-sig"))
            click.echo(f"đã ghi {output}", err=True)
        else:
            click.echo(buffer.getvalue(), nl=False)
        return
    if loaded.unit:
        click.echo(f"{loaded.unit} — danh sách cán bộ trực đường dây 1022, nhánh {loaded.branch}")
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(4)]
    for row in [header, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@rota.command("ics")
@_rota_option
@click.option("--weeks", type=click.IntRange(1, 104), default=4, show_default=True)
@click.option(
    "--from",
    "from_day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Ngày đầu tiên (mặc định: hôm nay).",
)
@click.option("--officer", "officer_id", default=None, help="Chỉ các ca của cán bộ này (mã).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Ghi ra tệp thay vì in ra màn hình.",
)
def ics(
    rota_path: Path,
    weeks: int,
    from_day: datetime | None,
    officer_id: str | None,
    output: Path | None,
) -> None:
    """Lịch trực dạng iCalendar (RFC 5545) để nhập vào lịch điện thoại."""
    loaded = _load(rota_path)
    now = _now()
    tz = loaded.timezone
    first = from_day.date() if from_day else now.astimezone(tz).date()
    if officer_id is not None and loaded.officer(officer_id) is None:
        raise click.BadParameter(f"không có cán bộ mã {officer_id!r}", param_hint="--officer")
    start = datetime.combine(first, time(), tz)
    calendar = duty_calendar(
        loaded,
        name=f"Trực 1022 nhánh {loaded.branch} – {loaded.unit or 'lịch trực'}",
        start=start,
        end=start + timedelta(weeks=weeks),
        now=now,
        officer_id=officer_id,
    )
    data = calendar.to_ical()
    if output is not None:
        output.write_bytes(data)
        click.echo(f"đã ghi {output}", err=True)
    else:
        click.echo(data, nl=False)  # bytes go out untouched: RFC 5545 wants CRLF line ends


@rota.command("dialplan")
@_rota_option
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Tệp include cho Asterisk (mặc định CALLROUTER_DIALPLAN_INCLUDE); '-' để in ra màn hình.",
)
def dialplan(rota_path: Path, output: Path | None) -> None:
    """Ghi tệp dialplan dự phòng (các số đăng ký, xác nhận bấm phím 1) từ lịch trực.

    Writes the fallback include the shipped dialplan rings when callrouter is down, so the
    rota and the fallback never disagree. Run ``asterisk -rx "dialplan reload"`` afterwards
    (``callrouter serve`` does both by itself on every rota reload).
    """
    loaded = _load(rota_path)
    if output is not None and str(output) == "-":
        click.echo(render_fallback_include(loaded), nl=False)
        return
    target = output if output is not None else _settings().dialplan_include
    try:
        write_fallback_include(loaded, target)
    except OSError as exc:
        raise click.ClickException(f"không ghi được {target}: {exc.strerror}") from None
    click.echo(
        f"Đã ghi {target}: {len(loaded.numbers)} số, lịch {loaded.version}. "
        'Chạy: asterisk -rx "dialplan reload"'
    )
