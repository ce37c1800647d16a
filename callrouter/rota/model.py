"""The rota file as pydantic v2 models (frozen), plus the indexes the duty lookup needs.

The YAML an admin edits maps one-to-one onto :class:`Rota`. Values arrive as strings from
the loader (it never lets YAML guess types: ``17:00`` stays a time, ``no`` stays a word),
and the validators below turn them into typed values with Vietnamese error messages.

Day tokens: ``0``–``6`` are Monday–Sunday (``date.weekday()``), :data:`HOLIDAY` (7) is the
pseudo-day of shifts that staff a public holiday whose staffing is ``shifts``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from callrouter.rota.phones import PhoneKind, normalise_email, normalise_phone, phone_kind

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
HOLIDAY = 7
OWN_PHONE = "own"
MINUTES_PER_DAY = 24 * 60
MAX_OVERRIDE_DAYS = 366

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday")
DAY_NAMES_VI = (
    "Thứ Hai",
    "Thứ Ba",
    "Thứ Tư",
    "Thứ Năm",
    "Thứ Sáu",
    "Thứ Bảy",
    "Chủ Nhật",
    "ngày lễ",
)

_DAY_SPELLINGS = (
    ("mon", "monday", "t2", "thu2", "thứ 2", "thứ hai"),
    ("tue", "tuesday", "t3", "thu3", "thứ 3", "thứ ba"),
    ("wed", "wednesday", "t4", "thu4", "thứ 4", "thứ tư"),
    ("thu", "thursday", "t5", "thu5", "thứ 5", "thứ năm"),
    ("fri", "friday", "t6", "thu6", "thứ 6", "thứ sáu"),
    ("sat", "saturday", "t7", "thu7", "thứ 7", "thứ bảy"),
    ("sun", "sunday", "cn", "chủ nhật", "chu nhat"),
    ("holiday", "holidays", "le", "lễ", "ngày lễ"),
)
_DAY_ALIASES = {name: token for token, names in enumerate(_DAY_SPELLINGS) for name in names}


class Strategy(StrEnum):
    """How the on-duty targets of one round are rung."""

    SEQUENTIAL = "sequential"
    SIMULTANEOUS = "simultaneous"
    ROTATE = "rotate"


@dataclass(frozen=True, slots=True)
class Action:
    """What happens to a caller when the line is closed or nobody answers."""

    kind: Literal["message", "forward"]
    number: str | None = None

    def __str__(self) -> str:
        return "message" if self.kind == "message" else f"forward:{self.number}"


# ---------------------------------------------------------------------------------------
# Scalar parsers (each raises ValueError with a message an admin understands)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def parse_day(raw: str) -> int:
    """A day token from a name (``mon``, ``Monday``, ``T2``, ``CN``, ``holiday`` …)."""
    key = _nfc(str(raw)).lower()
    if key in _DAY_ALIASES:
        return _DAY_ALIASES[key]
    raise ValueError(
        f"không hiểu ngày {raw!r} (dùng mon, tue, wed, thu, fri, sat, sun hoặc T2…T7, CN; "
        "ngày lễ: holiday)"
    )


def parse_days(raw: Any) -> tuple[int, ...]:
    """Days as a list or a string: ``[mon, wed]``, ``mon-fri``, ``"mon, wed, fri"``, ``T2-T6``."""
    items: list[Any]
    if isinstance(raw, str):
        items = [part for part in re.split(r"[,;]", raw) if part.strip()]
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise ValueError("cần một danh sách ngày, ví dụ [mon, tue] hoặc mon-fri")
    days: list[int] = []
    for item in items:
        if not isinstance(item, str | int):
            raise ValueError(f"không hiểu ngày {item!r}")
        text = str(item).strip()
        if "-" in text and text.lower() not in _DAY_ALIASES:
            first_raw, _, last_raw = text.partition("-")
            first, last = parse_day(first_raw), parse_day(last_raw)
            if HOLIDAY in (first, last):
                raise ValueError(f"{text!r}: không dùng 'holiday' trong một khoảng ngày")
            span = (
                list(range(first, last + 1))
                if first <= last
                else [*range(first, 7), *range(0, last + 1)]
            )
            days.extend(span)
        else:
            days.append(parse_day(text))
    if not days:
        raise ValueError("danh sách ngày đang trống")
    out: list[int] = []
    for day in days:
        if day in out:
            raise ValueError(f"ngày {DAY_NAMES[day]} bị lặp lại")
        out.append(day)
    return tuple(out)


_HHMM = re.compile(r"^(\d{1,2})[:h](\d{2})$")


def parse_clock(raw: Any) -> int:
    """``HH:MM`` (``24:00`` allowed as an end) → minutes since midnight."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raise ValueError(f'giờ {raw!r} phải viết dạng HH:MM, ví dụ "07:30"')
    match = _HHMM.match(str(raw).strip())
    if not match:
        raise ValueError(f'giờ {raw!r} phải viết dạng HH:MM, ví dụ "07:30"')
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"giờ {raw!r} không tồn tại (00:00 đến 24:00)")
    return hours * 60 + minutes


def parse_quiet_hours(raw: str) -> str:
    """``"22:00-06:00"`` (may cross midnight) → the same text, normalised; else ValueError."""
    parts = str(raw).replace("–", "-").split("-")
    if len(parts) != 2:
        raise ValueError(f'giờ yên lặng {raw!r} phải viết dạng "22:00-06:00"')
    start, end = (parse_clock(p) % 1440 for p in parts)
    if start == end:
        raise ValueError(f"giờ yên lặng {raw!r}: giờ bắt đầu và kết thúc trùng nhau")
    return f"{format_clock(start)}-{format_clock(end)}"


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_LOCAL_DT = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T](\d{1,2}:\d{2})(?::00)?)?$")


def parse_local(raw: Any) -> tuple[datetime, bool]:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM`` (local wall time) → (datetime, had_time)."""
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=None), True
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day), False
    match = _LOCAL_DT.match(str(raw).strip())
    if not match:
        raise ValueError(f"{raw!r}: cần ngày dạng YYYY-MM-DD hoặc ngày giờ dạng YYYY-MM-DD HH:MM")
    day = parse_date(match.group(1))
    if match.group(2) is None:
        return datetime(day.year, day.month, day.day), False
    minutes = parse_clock(match.group(2))
    if minutes == MINUTES_PER_DAY:
        raise ValueError(f"{raw!r}: dùng 00:00 của ngày hôm sau thay cho 24:00")
    return datetime(day.year, day.month, day.day, minutes // 60, minutes % 60), True


def parse_date(raw: Any) -> date:
    if isinstance(raw, datetime):
        raise ValueError(f"{raw!r}: cần một ngày (YYYY-MM-DD), không kèm giờ")
    if isinstance(raw, date):
        value = raw
    else:
        text = str(raw).strip()
        if _LOCAL_DT.match(text) and len(text) > 10:
            raise ValueError(f"{raw!r}: cần một ngày (YYYY-MM-DD), không kèm giờ")
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{raw!r} không phải ngày hợp lệ dạng YYYY-MM-DD") from None
    if not 2000 <= value.year <= 2100:
        raise ValueError(f"{raw!r}: năm nằm ngoài khoảng 2000–2100")
    return value


def parse_action(raw: Any) -> str:
    """``message`` or ``forward:<number>`` → canonical text (number normalised)."""
    text = str(raw).strip()
    if text.lower() in ("message", "tin-nhan", "nhan-tin"):
        return "message"
    kind, sep, number = text.partition(":")
    if sep and kind.strip().lower() == "forward":
        return f"forward:{normalise_phone(number)}"
    raise ValueError(
        f"{raw!r}: cần 'message' (ghi lời nhắn để gọi lại) hoặc 'forward:<số điện thoại>' "
        "(chuyển tiếp cuộc gọi)"
    )


def action_of(spec: str) -> Action:
    if spec == "message":
        return Action("message", None)
    return Action("forward", spec.partition(":")[2])


STAFFING_HELP = "closed (đóng), normal (như ngày thường), like:<ngày> (ví dụ like:sun) hoặc shifts"


def parse_staffing(raw: Any) -> str:
    """``closed`` | ``normal`` | ``like:<day>`` | ``shifts`` → canonical text."""
    text = _nfc(str(raw)).lower()
    if text in ("closed", "normal", "shifts"):
        return text
    kind, sep, day = text.partition(":")
    if sep and kind.strip() == "like":
        token = parse_day(day)
        if token == HOLIDAY:
            raise ValueError(f"{raw!r}: dùng 'shifts' để trực theo các ca dành cho ngày lễ")
        return f"like:{DAY_NAMES[token]}"
    raise ValueError(f"{raw!r}: cách trực ngày lễ phải là {STAFFING_HELP}")


def _check_label(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", raw):
        raise ValueError(
            f"{raw!r}: nhãn chỉ gồm chữ không dấu, chữ số, '-' hoặc '_' (tối đa 32 ký tự)"
        )
    if raw.lower() == OWN_PHONE:
        raise ValueError(f"{raw!r} là từ dành riêng (số riêng của cán bộ), hãy chọn nhãn khác")
    return raw


def _check_id(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,39}", raw):
        raise ValueError(
            f"{raw!r}: mã cán bộ chỉ gồm chữ thường không dấu, chữ số, '.', '-' hoặc '_' "
            "(tối đa 40 ký tự), ví dụ nguyen-van-an"
        )
    return raw


def _check_text(raw: str) -> str:
    text = _nfc(raw)
    if not text:
        raise ValueError("không được để trống")
    return text


Clock = Annotated[int, BeforeValidator(parse_clock), PlainSerializer(format_clock)]
Days = Annotated[
    tuple[int, ...],
    BeforeValidator(parse_days),
    PlainSerializer(lambda days: [DAY_NAMES[d] for d in days]),
]
LocalDate = Annotated[date, BeforeValidator(parse_date)]
Phone = Annotated[str, AfterValidator(normalise_phone)]
Email = Annotated[str, AfterValidator(normalise_email)]


def _blank_is_none(raw: Any) -> Any:
    """An empty (or all-blank) e-mail is the same as none: ``email:`` or ``email: ""``."""
    return None if isinstance(raw, str) and not raw.strip() else raw


#: Missing or blank → None (``rota check`` warns, notifications skip the officer); a present
#: but malformed address is still an error: a typo must be fixed, not silently unmailed.
OptionalEmail = Annotated[Email | None, BeforeValidator(_blank_is_none)]
ActionSpec = Annotated[str, BeforeValidator(parse_action)]
Staffing = Annotated[str, BeforeValidator(parse_staffing)]
Text = Annotated[str, AfterValidator(_check_text), Field(max_length=200)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# ---------------------------------------------------------------------------------------
# The file's sections


class RegisteredNumber(_Frozen):
    """A number registered for the branch; only these and officers' own phones are dialled."""

    label: Annotated[str, AfterValidator(_check_label)]
    number: Phone
    kind: PhoneKind
    confirm: bool

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        # kind follows from the number; confirm defaults on for mobiles (a voicemail box
        # answering must not count as an officer answering).
        if isinstance(data, dict) and isinstance(data.get("number"), str):
            data = dict(data)
            try:
                kind: PhoneKind = phone_kind(normalise_phone(data["number"]))
            except ValueError:
                # The bad number is reported by its own field; any placeholder here keeps
                # kind/confirm from being called missing as well.
                kind = "mobile"
            if data.get("kind") is None:
                data["kind"] = kind
            if data.get("confirm") is None:
                data["confirm"] = kind == "mobile"
        return data

    @field_validator("kind")
    @classmethod
    def _kind_matches(cls, value: PhoneKind, info: ValidationInfo) -> PhoneKind:
        number = info.data.get("number")
        if number is not None and phone_kind(number) != value:
            word = "di động" if phone_kind(number) == "mobile" else "cố định"
            raise ValueError(f"số {number} là số {word} ({phone_kind(number)}), không phải {value}")
        return value


class Officer(_Frozen):
    """A duty officer: the three facts the health department collects."""

    id: Annotated[str, AfterValidator(_check_id)]
    name: Text
    phone: Phone
    #: None: the officer gets no notification (``rota check`` warns, the notifier counts it)
    email: OptionalEmail = None
    #: "22:00-06:00": notifications wait until the end (the fallback alarm does not)
    quiet_hours: Annotated[str, AfterValidator(parse_quiet_hours)] | None = None

    def quiet_until(self, at: datetime) -> datetime | None:
        """When ``at`` (tz-aware, rota zone) falls in the quiet hours: their end, else None."""
        if self.quiet_hours is None:
            return None
        start, end = (parse_clock(p) for p in self.quiet_hours.split("-"))
        minute = at.hour * 60 + at.minute
        midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
        if start < end and start <= minute < end:
            return midnight + timedelta(minutes=end)
        if start > end and minute >= start:
            return midnight + timedelta(days=1, minutes=end)
        if start > end and minute < end:
            return midnight + timedelta(minutes=end)
        return None


class DutyEntry(_Frozen):
    """One place in the ring order: an officer at a registered number (by label) or ``own``."""

    officer: str
    at: str = OWN_PHONE


class Shift(_Frozen):
    """A weekly shift: days, start (inclusive), end (exclusive; before start = next day)."""

    name: Text | None = None
    days: Days
    start: Clock
    end: Clock
    duty: Annotated[tuple[DutyEntry, ...], Field(min_length=1)]

    @field_validator("start")
    @classmethod
    def _start_in_day(cls, value: int) -> int:
        if value == MINUTES_PER_DAY:
            raise ValueError("ca không thể bắt đầu lúc 24:00 (dùng 00:00)")
        return value

    @field_validator("end")
    @classmethod
    def _end_differs(cls, value: int, info: ValidationInfo) -> int:
        start = info.data.get("start")
        if start is not None and value == start:
            raise ValueError(
                f"giờ kết thúc {format_clock(value)} trùng giờ bắt đầu; ca trực cả ngày viết "
                'start: "00:00", end: "24:00"'
            )
        return value

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def label(self) -> str:
        if self.name:
            return self.name
        return f"{days_text(self.days)} {format_clock(self.start)}-{format_clock(self.end)}"


class Swap(_Frozen):
    """In an override: wherever ``officer`` is on duty, ``by`` is, at the same number
    (the officer's own phone becomes ``by``'s own phone)."""

    officer: str
    by: str


class Override(_Frozen):
    """For a date or a date-time range: a new duty list replacing the shifts, a closing, or
    officer swaps applied to the shifts."""

    date: LocalDate | None = None
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None
    reason: Text
    closed: bool = False
    duty: tuple[DutyEntry, ...] = ()
    swap: tuple[Swap, ...] = ()

    @field_validator("from_", mode="before")
    @classmethod
    def _parse_from(cls, value: Any) -> Any:
        if value is None:
            return None
        return parse_local(value)[0]

    @field_validator("to", mode="before")
    @classmethod
    def _parse_to(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        moment, had_time = parse_local(value)
        if not had_time:  # a date alone means "through the end of that day"
            moment += timedelta(days=1)
        start = info.data.get("from_")
        if start is not None:
            if moment <= start:
                raise ValueError("thời điểm kết thúc (to) phải sau thời điểm bắt đầu (from)")
            if moment - start > timedelta(days=MAX_OVERRIDE_DAYS):
                raise ValueError(
                    f"thay đổi dài hơn {MAX_OVERRIDE_DAYS} ngày: hãy sửa ca trực thay vì thay đổi"
                )
        return moment

    @model_validator(mode="after")
    def _range_given(self) -> Override:
        if self.date is not None and (self.from_ is not None or self.to is not None):
            raise ValueError("ghi hoặc 'date' (cả ngày) hoặc 'from'/'to', không ghi cả hai")
        if self.date is None and (self.from_ is None or self.to is None):
            raise ValueError("cần 'date' (cả ngày) hoặc cả 'from' và 'to'")
        given = [bool(self.duty), self.closed, bool(self.swap)]
        if sum(given) != 1:
            raise ValueError(
                "ghi đúng một trong ba: 'duty' (danh sách người trực thay), 'closed: true' "
                "(đóng máy) hoặc 'swap' (đổi người trong các ca)"
            )
        return self

    @property
    def start(self) -> datetime:
        """Local wall-clock start (inclusive)."""
        if self.date is not None:
            return datetime(self.date.year, self.date.month, self.date.day)
        assert self.from_ is not None  # noqa: S101 - guaranteed by _range_given
        return self.from_

    @property
    def end(self) -> datetime:
        """Local wall-clock end (exclusive)."""
        if self.date is not None:
            return self.start + timedelta(days=1)
        assert self.to is not None  # noqa: S101 - guaranteed by _range_given
        return self.to


class DatedNote(_Frozen):
    """A date with an optional name (extra closed date)."""

    date: LocalDate
    name: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_date(cls, data: Any) -> Any:
        return {"date": data} if isinstance(data, str | date) else data


class MakeUpDay(_Frozen):
    """A government make-up working day: that date is worked like the named weekday."""

    date: LocalDate
    like: Annotated[int, BeforeValidator(parse_day), PlainSerializer(lambda d: DAY_NAMES[d])] = 0
    name: Text | None = None

    @field_validator("like")
    @classmethod
    def _weekday(cls, value: int) -> int:
        if value == HOLIDAY:
            raise ValueError("ngày làm bù được làm như một ngày trong tuần (mon…sun)")
        return value


class HolidayRule(_Frozen):
    """Staffing for the holidays whose Vietnamese name contains ``match``, or for one date."""

    match: Text | None = None
    date: LocalDate | None = None
    staffing: Staffing

    @model_validator(mode="after")
    def _one_selector(self) -> HolidayRule:
        if (self.match is None) == (self.date is None):
            raise ValueError("ghi đúng một trong hai: 'match' (tên ngày lễ) hoặc 'date'")
        return self


class HolidayPolicy(_Frozen):
    """Vietnamese public holidays (from the ``holidays`` package) and the unit's own dates."""

    default: Staffing = "closed"
    rules: tuple[HolidayRule, ...] = ()
    closed_dates: tuple[DatedNote, ...] = ()
    make_up_days: tuple[MakeUpDay, ...] = ()


class Policy(_Frozen):
    """How calls are rung and what happens when the line is closed or nobody answers."""

    strategy: Strategy = Strategy.SEQUENTIAL
    ring_timeout: Annotated[int, Field(ge=5, le=300)] = 20
    rounds: Annotated[int, Field(ge=1, le=10)] = 2
    max_wait: Annotated[int, Field(ge=5, le=3600)] = 120
    confirm_timeout: Annotated[int, Field(ge=2, le=60)] = 8
    confirm_own_phone: bool = True
    after_hours_action: ActionSpec = "message"
    nobody_answered_action: ActionSpec = "message"

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy_text(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("max_wait")
    @classmethod
    def _wait_covers_one_ring(cls, value: int, info: ValidationInfo) -> int:
        ring = info.data.get("ring_timeout")
        if ring is not None and value < ring:
            raise ValueError(
                f"thời gian chờ tối đa ({value} giây) ngắn hơn một lượt đổ chuông ({ring} giây)"
            )
        return value


@dataclass(frozen=True, slots=True)
class Target:
    """One leg to originate: an officer at a number (re-exported by ``callrouter.routing``)."""

    officer_id: str
    officer_name: str
    number: str
    number_label: str | None  # label of the registered number; None = the officer's own phone
    confirm: bool  # the answering party must press 1 to accept
    ring_timeout: int  # seconds


# ---------------------------------------------------------------------------------------
# Resolved (pre-computed) forms used by the duty lookup


@dataclass(frozen=True, slots=True)
class ResolvedDuty:
    officer_id: str
    officer_name: str
    number: str
    number_label: str | None
    confirm: bool


@dataclass(frozen=True, slots=True)
class ResolvedShift:
    index: int
    days: frozenset[int]
    start: int
    end: int  # minutes; <= start means the shift ends the next day
    crosses: bool
    label: str
    duty: tuple[ResolvedDuty, ...]


@dataclass(frozen=True, slots=True, eq=False)
class ResolvedOverride:
    index: int
    start: datetime  # naive local wall time
    end: datetime
    reason: str
    duty: tuple[ResolvedDuty, ...]  # empty and no swaps: closed
    swaps: dict[str, Officer]  # officer id → who replaces them in the shifts


# One source of duty at a moment: its duty list, its label for reasons, and what it is
# (the override, or the shift with the date its occurrence starts on) for its time window.
Source = tuple[tuple[ResolvedDuty, ...], str, ResolvedShift | ResolvedOverride, date]


@dataclass(frozen=True, slots=True)
class DutyAssignment:
    """An officer on duty, the number to ring them at, and why they are on duty."""

    officer_id: str
    officer_name: str
    number: str
    number_label: str | None  # None: the officer's own phone
    confirm: bool
    reason: str  # "shift …" or "override: …"
    start: datetime  # the covering shift occurrence / override, tz-aware in the rota's zone
    end: datetime


@dataclass(frozen=True, slots=True)
class DutyStatus:
    """Open or closed at a moment, why, and who is on duty (in ring order)."""

    open: bool
    reason: str
    assignments: tuple[DutyAssignment, ...]


@dataclass(frozen=True, slots=True)
class Slot:
    """What holds during one stretch of a local date: open or not, why, from which sources,
    and the routing targets (ring order, each number once)."""

    open: bool
    reason: str
    sources: tuple[Source, ...]
    targets: tuple[Target, ...]
    status: DutyStatus  # what who_is_on_duty / duty_status return for this slot


@dataclass(frozen=True, slots=True)
class DayTable:
    """A local date cut into slots at every minute where duty can change."""

    starts: tuple[int, ...]  # minute of the day each slot starts at; starts[0] == 0
    slots: tuple[Slot, ...]


@dataclass(frozen=True, slots=True)
class DayPlan:
    """How one local date is staffed: the day token whose shifts start on it, or closed."""

    token: int | None  # None: no shift starts on this date
    note: str | None  # holiday/closed/make-up explanation for reasons


def days_text(days: tuple[int, ...] | frozenset[int]) -> str:
    """``mon-fri``, ``sat,sun``, ``mon,wed,fri`` …"""
    ordered = sorted(days)
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1 and ordered[j + 1] < 7:
            j += 1
        if j - i >= 2:
            parts.append(f"{DAY_NAMES[ordered[i]]}-{DAY_NAMES[ordered[j]]}")
        else:
            parts.extend(DAY_NAMES[k] for k in ordered[i : j + 1])
        i = j + 1
    return ",".join(parts)


class Rota(_Frozen):
    """A whole rota file, validated; indexes for the duty lookup are built once at load."""

    version: str = ""
    unit: Text | None = None
    timezone: ZoneInfo = ZoneInfo(DEFAULT_TIMEZONE)
    branch: Annotated[int, Field(ge=1, le=9)] = 3
    numbers: Annotated[list[RegisteredNumber], Field(min_length=1)]
    officers: Annotated[list[Officer], Field(min_length=1)]
    shifts: list[Shift] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)
    holidays: HolidayPolicy = HolidayPolicy()
    policy: Policy = Policy()

    _ix: RotaIndex = PrivateAttr()
    #: officer id → the line of its entry in the file (set by the loader, for warnings)
    _officer_lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _references_resolve(self) -> Rota:
        problems = reference_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        self._ix = RotaIndex.build(self)
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Rota:
        """A copy; with ``update`` the lookup index is rebuilt (it derives from the fields).

        Like pydantic's, the copy is not validated: when the update leaves references
        dangling, the index cannot be rebuilt and the original's is kept.
        """
        copy = super().model_copy(update=update, deep=deep)
        if update and not reference_problems(copy):
            copy._ix = RotaIndex.build(copy)
        return copy

    @property
    def index(self) -> RotaIndex:
        """Lookup tables built once at validation (the duty lookup's fast path)."""
        return self._ix

    def officer(self, officer_id: str) -> Officer | None:
        return self._ix.officers.get(officer_id)

    def officer_line(self, officer_id: str) -> int | None:
        """The line of the officer's entry in the rota file, when loaded from one."""
        return self._officer_lines.get(officer_id)

    def without_email(self) -> list[Officer]:
        """Officers with no e-mail address: no notification can reach them."""
        return [o for o in self.officers if o.email is None]

    def number(self, label: str) -> RegisteredNumber | None:
        return self._ix.numbers.get(label)

    @property
    def after_hours(self) -> Action:
        return self._ix.after_hours

    @property
    def nobody_answered(self) -> Action:
        return self._ix.nobody_answered


@dataclass(slots=True, eq=False)
class RotaIndex:
    """Everything the duty lookup needs, in plain dicts and tuples (no model attribute access
    on the hot path), plus two memo tables filled on demand (day plans, holiday years)."""

    tz: ZoneInfo
    officers: dict[str, Officer]
    numbers: dict[str, RegisteredNumber]
    shifts_by_token: tuple[tuple[ResolvedShift, ...], ...]  # indexed by day token 0..7
    crossing_by_token: tuple[tuple[ResolvedShift, ...], ...]  # only shifts crossing midnight
    overrides_by_date: dict[date, tuple[ResolvedOverride, ...]]
    closed: dict[date, str]
    make_up: dict[date, MakeUpDay]
    rule_by_date: dict[date, str]
    rules_by_name: tuple[tuple[str, str], ...]
    default_staffing: str
    after_hours: Action
    nobody_answered: Action
    ring_timeout: int
    own_confirm: bool
    day_cache: dict[date, DayPlan]
    table_cache: dict[date, DayTable]  # filled by callrouter.rota.duty.day_table
    holiday_cache: dict[int, dict[date, str]]

    # Derived data: two rotas are equal when their fields are, whatever their caches hold.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, RotaIndex)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def build(cls, rota: Rota) -> RotaIndex:
        officers = {o.id: o for o in rota.officers}
        numbers = {n.label: n for n in rota.numbers}
        own_confirm = rota.policy.confirm_own_phone

        def resolve(entry: DutyEntry) -> ResolvedDuty:
            officer = officers[entry.officer]
            if entry.at == OWN_PHONE:
                return ResolvedDuty(officer.id, officer.name, officer.phone, None, own_confirm)
            registered = numbers[entry.at]
            return ResolvedDuty(
                officer.id, officer.name, registered.number, registered.label, registered.confirm
            )

        by_token: list[list[ResolvedShift]] = [[] for _ in range(8)]
        for position, shift in enumerate(rota.shifts):
            resolved = ResolvedShift(
                index=position,
                days=frozenset(shift.days),
                start=shift.start,
                end=shift.end,
                crosses=shift.end < shift.start,
                label=shift.label(),
                duty=tuple(resolve(e) for e in shift.duty),
            )
            for day in shift.days:
                by_token[day].append(resolved)
        by_date: dict[date, list[ResolvedOverride]] = {}
        for position, override in enumerate(rota.overrides):
            ro = ResolvedOverride(
                index=position,
                start=override.start,
                end=override.end,
                reason=override.reason,
                duty=tuple(resolve(e) for e in override.duty),
                swaps={sw.officer: officers[sw.by] for sw in override.swap},
            )
            covered = ro.start.date()
            while datetime(covered.year, covered.month, covered.day) < ro.end:
                by_date.setdefault(covered, []).append(ro)
                covered += timedelta(days=1)
        return cls(
            tz=rota.timezone,
            officers=officers,
            numbers=numbers,
            shifts_by_token=tuple(tuple(v) for v in by_token),
            crossing_by_token=tuple(tuple(s for s in v if s.crosses) for v in by_token),
            # The most specific (shortest) override wins; equal lengths: the first in the file.
            overrides_by_date={
                d: tuple(sorted(v, key=lambda o: (o.end - o.start, o.index)))
                for d, v in by_date.items()
            },
            closed={c.date: c.name or "ngày nghỉ của đơn vị" for c in rota.holidays.closed_dates},
            make_up={m.date: m for m in rota.holidays.make_up_days},
            rule_by_date={r.date: r.staffing for r in rota.holidays.rules if r.date},
            rules_by_name=tuple(
                (fold(r.match), r.staffing) for r in rota.holidays.rules if r.match
            ),
            default_staffing=rota.holidays.default,
            after_hours=action_of(rota.policy.after_hours_action),
            nobody_answered=action_of(rota.policy.nobody_answered_action),
            ring_timeout=rota.policy.ring_timeout,
            own_confirm=own_confirm,
            day_cache={},
            table_cache={},
            holiday_cache={},
        )


def fold(text: str) -> str:
    """Case- and normalisation-insensitive form for matching holiday names."""
    return unicodedata.normalize("NFC", text).casefold().strip()


def reference_problems(rota: Rota) -> list[str]:
    """Cross-references a validated model must satisfy (the loader reports these with lines)."""
    problems: list[str] = []
    officer_ids = [o.id for o in rota.officers]
    labels = [n.label for n in rota.numbers]
    if len(set(officer_ids)) != len(officer_ids):
        problems.append("mã cán bộ bị trùng")
    if len(set(labels)) != len(labels):
        problems.append("nhãn số đăng ký bị trùng")
    entries = [e for s in rota.shifts for e in s.duty] + [e for o in rota.overrides for e in o.duty]
    for swap in (sw for o in rota.overrides for sw in o.swap):
        for who in (swap.officer, swap.by):
            if who not in officer_ids:
                problems.append(f"không có cán bộ mã {who!r}")
    for entry in entries:
        if entry.officer not in officer_ids:
            problems.append(f"không có cán bộ mã {entry.officer!r}")
        if entry.at != OWN_PHONE and entry.at not in labels:
            problems.append(f"không có số đăng ký nhãn {entry.at!r}")
    return problems
