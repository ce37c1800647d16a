"""What a change to a case does, decided without I/O (the store applies the result).

:func:`plan_open` and :func:`plan_update` check the input against the configuration and the
lifecycle and return the columns to write plus the history entry ``{field: [before, after]}``.
Time is passed in; the local day (deadlines, dates of forwarding and result) comes from the
unit's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from callrouter.cases.config import CasesConfig
from callrouter.cases.lifecycle import (
    Kind,
    Status,
    check_initial,
    check_transition,
    parse_kind,
    parse_status,
)
from callrouter.cases.workdays import WorkCalendar
from callrouter.errors import CaseInputError

ACCOUNT_MAX = 100


@dataclass(frozen=True)
class CaseRules:
    """The configuration, the working-day calendar and the unit's time zone."""

    config: CasesConfig
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))

    def local_day(self, at: datetime) -> date:
        if at.tzinfo is None:
            raise ValueError(f"naive datetime {at!r}")
        return at.astimezone(self.tz).date()

    def deadline(self, received: date, kind: Kind) -> date:
        return self.calendar.add_working_days(received, self.config.deadline_days(kind))


def is_overdue(deadline: date, closed_on: date | None, as_of: date) -> bool:
    """Past its deadline on ``as_of`` and not closed by the deadline (late or still open)."""
    return deadline < as_of and (closed_on is None or closed_on > deadline)


@dataclass(frozen=True)
class CaseInput:
    """What an officer fills in; ``None`` leaves a field as it is (on an update)."""

    kind: str | None = None
    topic: str | None = None
    summary: str | None = None
    answer: str | None = None
    status: str | None = None
    agency: str | None = None
    result: str | None = None
    notable: bool | None = None


@dataclass(frozen=True)
class Plan:
    values: dict[str, Any]
    changes: dict[str, list[Any]]
    from_status: str | None
    to_status: str


def _account(by: str) -> str:
    account = by.strip()
    if not account or len(account) > ACCOUNT_MAX:
        raise CaseInputError(f"tài khoản người sửa phải có 1–{ACCOUNT_MAX} ký tự")
    return account


def _cleaned(rules: CaseRules, given: CaseInput) -> dict[str, Any]:
    """Validated values of the fields given (codes checked, free text bounded)."""
    cfg = rules.config
    out: dict[str, Any] = {}
    if given.kind is not None:
        out["kind"] = parse_kind(given.kind)
    if given.topic is not None:
        out["topic"] = cfg.check_topic(given.topic.strip()) if given.topic.strip() else None
    if given.agency is not None:
        out["agency"] = cfg.check_agency(given.agency.strip()) if given.agency.strip() else None
    for name, what in (("summary", "nội dung"), ("answer", "trả lời"), ("result", "kết quả")):
        text = getattr(given, name)
        if text is not None:
            out[name] = cfg.check_text(what, text)
    if given.notable is not None:
        out["notable"] = given.notable
    if given.status is not None:
        out["status"] = parse_status(given.status)
    return out


def _status_effects(
    values: dict[str, Any], status: Status, *, by: str, at: datetime, today: date
) -> None:
    """Dates and requirements that come with reaching ``status``."""
    if status is Status.FORWARDED:
        if not values.get("agency"):
            raise CaseInputError("chuyển hồ sơ cần ghi cơ quan nhận (agency)")
        values["forwarded_on"] = today
    elif status is Status.RESOLVED:
        if not values.get("result"):
            raise CaseInputError("ghi kết quả xử lý trước khi chuyển sang 'Đã có kết quả'")
        values["result_on"] = today
    elif status is Status.TOLD:
        values["told_by"] = by
        values["told_at"] = at
    if status.closed:
        values["closed_on"] = today
    elif "closed_on" in values and values["closed_on"] is not None:
        values["closed_on"] = None


def plan_open(rules: CaseRules, given: CaseInput, *, by: str, at: datetime) -> Plan:
    """A new case: kind and status required (``in_progress`` when not given)."""
    account = _account(by)
    values = _cleaned(rules, given)
    if "kind" not in values:
        raise CaseInputError("cần chọn loại: hỏi đáp, phản ánh, kiến nghị hoặc khác")
    status = values.setdefault("status", Status.IN_PROGRESS)
    check_initial(status)
    today = rules.local_day(at)
    values.setdefault("notable", False)
    _status_effects(values, status, by=account, at=at, today=today)
    values.update(
        opened_at=at,
        opened_by=account,
        local_day=today,
        deadline=rules.deadline(today, values["kind"]),
        version=1,
        updated_at=at,
        updated_by=account,
    )
    changes = {
        k: [None, _json(v)]
        for k, v in values.items()
        if k in _TRACKED and v is not None and v is not False
    }
    return Plan(
        values={k: _json(v) if isinstance(v, StrEnum) else v for k, v in values.items()},
        changes=changes,
        from_status=None,
        to_status=str(status),
    )


_TRACKED = (
    "kind",
    "topic",
    "summary",
    "answer",
    "status",
    "agency",
    "result",
    "notable",
    "deadline",
    "forwarded_on",
    "result_on",
    "told_by",
    "closed_on",
)


def plan_update(
    rules: CaseRules, current: dict[str, Any], given: CaseInput, *, by: str, at: datetime
) -> Plan:
    """Changes to an existing case (``current``: its row as a mapping)."""
    account = _account(by)
    wanted = _cleaned(rules, given)
    merged = {**current, **wanted}
    old_status = Status(current["status"])
    new_status = Status(wanted.get("status", old_status))
    check_transition(old_status, new_status)
    today = rules.local_day(at)
    if new_status != old_status:
        _status_effects(merged, new_status, by=account, at=at, today=today)
    elif new_status is Status.FORWARDED and wanted.get("agency") is None and "agency" in wanted:
        raise CaseInputError("hồ sơ đang ở trạng thái 'Đã chuyển' phải có cơ quan nhận")
    if "kind" in wanted and Kind(wanted["kind"]) != Kind(current["kind"]):
        merged["deadline"] = rules.deadline(current["local_day"], wanted["kind"])
    values: dict[str, Any] = {}
    changes: dict[str, list[Any]] = {}
    for key, value in merged.items():
        if key in current and current[key] == value:
            continue
        values[key] = str(value) if isinstance(value, StrEnum) else value
        if key in _TRACKED:
            changes[key] = [_json(current.get(key)), _json(value)]
    if not values:
        raise CaseInputError("không có gì thay đổi")
    values.update(version=int(current["version"]) + 1, updated_at=at, updated_by=account)
    return Plan(
        values=values, changes=changes, from_status=str(old_status), to_status=str(new_status)
    )


def _json(value: Any) -> Any:
    """A history value: codes and dates as text (the column is JSON)."""
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value
