"""The figures of a call-handling report: one typed, versioned structure.

The same structure is the report's JSON (``callrouter report monthly --format json``) and the
exchange format units send up the chain to be merged (``callrouter report merge``). It is stable:
a change that breaks readers bumps :data:`VERSION`, and :func:`load_figures` refuses any other
version with a message naming the file.

JSON layout (version 3), every count an integer, every duration in seconds::

    {
      "format": "callrouter-report",        # identifies the file; anything else is refused
      "version": 3,
      "generated_at": "2026-12-01T01:00:00Z",
      "merged": false,                       # true for a roll-up of several units
      "unit": {"name": ..., "governing_body": ...},     # who issues this report
      "units": [{"name", "governing_body", "period", "totals",   # every unit included
                 "cases": {<case counts>}, "notes": "the unit's difficulties" | null}],
      "branch": 3, "timezone": "Asia/Ho_Chi_Minh", "service_level_seconds": 20,
      "misdial_seconds": 10,                 # abandoned within this wait: a misdial
      "period": {"kind": "month|cutoff|adhoc|mixed", "start": "2026-11-01",
                 "end": "2026-11-30", "month": "2026-11", "cutoff_day": null},
      "totals": {
        "received", "answered", "abandoned", "abandoned_short", "unanswered", "after_hours",
        "failed", "in_progress", "fallback", "answered_within_sl",
        "wait_seconds_sum", "wait_count", "talk_seconds_sum", "talk_count",
        "wait_p90_seconds", "wait_p90_method": "exact|histogram",
        "wait_histogram": [[whole_seconds_rounded_up, count], ...],
        "repeat_callers", "callbacks_requested", "callbacks_done", "callbacks_open",
        # derived, written for readers and recomputed from the sums above on reading:
        "offered", "answer_rate", "service_level", "abandon_rate",
        "wait_avg_seconds", "talk_avg_seconds"
      },
      "by_day":  [{"day", "received", "answered", "abandoned", "unanswered", "after_hours"}],
      "by_hour": [{"hour", "received", "answered", "abandoned"}],           # 24 rows
      "officers": [{"unit", "officer_id", "name", "answered", "attempts", "talk_seconds_sum",
                    "wait_seconds_sum", "wait_count", "talk_avg_seconds", "wait_avg_seconds"}],
      "numbers": [{"unit", "number", "label", "attempts", "answered", "busy", "no_answer",
                   "declined", "failed", "cancelled", "answered_calls"}],
      "cases": {                             # citizens' requests received in the period
        "counts": {"conversations", "received", "answered", "in_progress", "forwarded",
                   "resolved", "told", "overdue", "notable"},
        "by_kind":   [{"key", "label", "count"}],   # hỏi đáp, phản ánh, kiến nghị, khác
        "by_topic":  [{"key", "label", "count"}],   # key null = no topic given
        "by_agency": [{"key", "label", "count"}],   # cases forwarded, by agency
        "notable":   [{"unit", "ref", "kind", "topic", "summary", "status", "agency",
                       "result"}],                # cases an admin marked "nêu trong báo cáo"
        "answers": {                         # the answer book (version 3; null: not counted)
          "used": [{"title", "source", "count"}],   # every answer the cases used, most first
          "unanswered": 0,                   # questions (hỏi đáp) with no agreed answer
          "questions": [{"unit", "ref", "topic", "summary"}]  # the first 20 of them
        }
      },
      "callbacks": {                         # the call-back list (version 3; null: not counted)
        "created", "after_hours_message", "abandoned", "unanswered",   # entries made in the period
        "made", "tries", "tries_reached", "tries_no_answer", "tries_wrong_number",
        "closed", "closed_reached", "closed_wrong_number", "closed_by_call", "closed_other",
        "open", "overdue", "as_of": "2026-12-01T00:00:00+07:00"
      },
      "notes": "free text: difficulties and proposals" | null
    }

Case counts: *conversations* = calls answered by an officer (the base of every case
percentage, never all calls); *answered* … *told* count cases by their status when the report
was made (they add up to *received*); *overdue* counts cases past their working-day deadline
and not closed by it. Version 1 files (``categories``/``resolutions`` of calls, one ``notes``)
are read by :func:`upgrade_v1`, which ``callrouter report upgrade`` applies (see
docs/operator-guide.md); ``report merge`` refuses them with that advice. Version 2 files (before
the answer book) are read as they are: their ``cases.answers`` is null, "not counted", and a
merge sums the units that counted.

Call-back counts (``callbacks``) follow the entries put on the call-back list in the period
(missed callers and message-leavers, by reason) to the period's end (``as_of``; the report's
time for a period not yet ended): *made* = entries with at least one recorded try, *tries_**
the tries by outcome; *closed_** how the closed ones were closed (reached, wrong number, by a
later answered call from the number, or marked done another way); *open* = still open;
*overdue* = open past their due time (working hours, :func:`callrouter.cases.due.due_at`) or
closed after it. A file without them (version 2, or a version 3 file written before them)
reads ``callbacks`` as null: not counted, never zero.

Definitions: *offered* = received − after-hours (calls that arrived while the line was open);
answer rate and service level are shares of offered calls; service level counts answered calls
whose wait was at most ``service_level_seconds``; *abandoned_short* counts abandoned calls that
waited at most ``misdial_seconds`` (the ``CALLROUTER_MISDIAL_SECONDS`` setting; usually
misdials). The 90th-percentile wait is the nearest-rank value over
answered calls (the smallest wait w such that at least 90 % of waits are ≤ w); a merged report
computes it from the units' histograms of waits rounded up to whole seconds, so it is exact to
the second (``wait_p90_method = "histogram"``).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

FORMAT: Final = "callrouter-report"
VERSION: Final = 3
#: A version 2 file is a version 3 one without ``cases.answers`` and ``callbacks``: read as it is.
READABLE_VERSIONS: Final = (2, 3)
#: The questions without an agreed answer listed by name (the rest are counted).
QUESTIONS_LIMIT: Final = 20

_DERIVED_TOTALS = (
    "offered",
    "answer_rate",
    "service_level",
    "abandon_rate",
    "wait_avg_seconds",
    "talk_avg_seconds",
)
_DERIVED_OFFICER = ("talk_avg_seconds", "wait_avg_seconds")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _drop(data: Any, names: tuple[str, ...]) -> Any:
    """Derived values are written for readers but recomputed on reading."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k not in names}
    return data


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


class PeriodKind(StrEnum):
    MONTH = "month"
    CUTOFF = "cutoff"
    ADHOC = "adhoc"
    MIXED = "mixed"  # a merge of units reporting different periods (only with --force)


class Period(_Model):
    """Reporting period in the rota's local days, both ends included."""

    kind: PeriodKind
    start: date
    end: date
    month: str | None = None  # "YYYY-MM" the report is for (month and cut-off kinds)
    cutoff_day: int | None = None
    # A period not yet ended, reported on request (--partial): the figures run to this day.
    as_of: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")
        return self

    def days(self) -> list[date]:
        n = (self.end - self.start).days + 1
        return [self.start + timedelta(days=i) for i in range(n)]

    def same_as(self, other: Period) -> bool:
        return (self.start, self.end) == (other.start, other.end)

    @property
    def title_vi(self) -> str:
        """The period as a Vietnamese report title phrase."""
        if self.as_of is not None:
            return f"{self._title_vi()} (số liệu tính đến ngày {self.as_of:%d/%m/%Y})"
        return self._title_vi()

    def _title_vi(self) -> str:
        if self.kind is PeriodKind.MONTH and self.month:
            y, m = self.month.split("-")
            return f"tháng {int(m)} năm {y}"
        span = f"từ ngày {self.start:%d/%m/%Y} đến ngày {self.end:%d/%m/%Y}"
        if self.kind is PeriodKind.CUTOFF and self.month:
            y, m = self.month.split("-")
            return f"kỳ báo cáo tháng {int(m)} năm {y} ({span})"
        return span

    @property
    def kind_label_vi(self) -> str:
        return {
            PeriodKind.MONTH: "Báo cáo tháng",
            PeriodKind.CUTOFF: "Báo cáo tháng (theo ngày chốt số liệu)",
            PeriodKind.ADHOC: "Báo cáo đột xuất",
            PeriodKind.MIXED: "Báo cáo tổng hợp (các đơn vị có kỳ báo cáo khác nhau)",
        }[self.kind]


class Totals(_Model):
    """Counts and sums for a period; every rate is derived from these, so merging is a sum."""

    received: int = 0
    answered: int = 0
    abandoned: int = 0
    abandoned_short: int = 0
    unanswered: int = 0
    after_hours: int = 0
    failed: int = 0
    in_progress: int = 0
    fallback: int = 0
    answered_within_sl: int = 0
    wait_seconds_sum: float = 0.0
    wait_count: int = 0
    talk_seconds_sum: float = 0.0
    talk_count: int = 0
    wait_p90_seconds: float | None = None
    wait_p90_method: Literal["exact", "histogram"] = "exact"
    wait_histogram: list[tuple[int, int]] = Field(default_factory=list)
    repeat_callers: int = 0
    callbacks_requested: int = 0
    callbacks_done: int = 0
    callbacks_open: int = 0

    @model_validator(mode="before")
    @classmethod
    def _derived_in(cls, data: Any) -> Any:
        return _drop(data, _DERIVED_TOTALS)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def offered(self) -> int:
        return self.received - self.after_hours

    @computed_field  # type: ignore[prop-decorator]
    @property
    def answer_rate(self) -> float | None:
        return _ratio(self.answered, self.offered)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def service_level(self) -> float | None:
        return _ratio(self.answered_within_sl, self.offered)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def abandon_rate(self) -> float | None:
        return _ratio(self.abandoned, self.offered)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def wait_avg_seconds(self) -> float | None:
        return _ratio(self.wait_seconds_sum, self.wait_count)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def talk_avg_seconds(self) -> float | None:
        return _ratio(self.talk_seconds_sum, self.talk_count)


class DayRow(_Model):
    day: date
    received: int = 0
    answered: int = 0
    abandoned: int = 0
    unanswered: int = 0
    after_hours: int = 0


class HourRow(_Model):
    hour: int = Field(ge=0, le=23)
    received: int = 0
    answered: int = 0
    abandoned: int = 0


class OfficerRow(_Model):
    unit: str | None = None
    officer_id: str
    name: str
    answered: int = 0
    attempts: int = 0
    talk_seconds_sum: float = 0.0
    talk_count: int = 0
    wait_seconds_sum: float = 0.0
    wait_count: int = 0

    @model_validator(mode="before")
    @classmethod
    def _derived_in(cls, data: Any) -> Any:
        return _drop(data, _DERIVED_OFFICER)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def talk_avg_seconds(self) -> float | None:
        return _ratio(self.talk_seconds_sum, self.talk_count)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def wait_avg_seconds(self) -> float | None:
        return _ratio(self.wait_seconds_sum, self.wait_count)


class NumberRow(_Model):
    unit: str | None = None
    number: str
    label: str | None = None
    attempts: int = 0
    answered: int = 0
    busy: int = 0
    no_answer: int = 0
    declined: int = 0
    failed: int = 0
    cancelled: int = 0
    answered_calls: int = 0  # calls whose conversation took place on this number


class CountRow(_Model):
    key: str | None  # None: not given (a case without a topic)
    label: str
    count: int = 0


class CaseCounts(_Model):
    """Cases received in the period, by status at report time (sums, so merging adds them)."""

    conversations: int = 0
    received: int = 0
    answered: int = 0
    in_progress: int = 0
    forwarded: int = 0
    resolved: int = 0
    told: int = 0
    overdue: int = 0
    notable: int = 0

    def share(self, count: int) -> float | None:
        """``count`` as a share of the calls that had a conversation."""
        return _ratio(count, self.conversations)


class NotableCase(_Model):
    unit: str | None = None
    ref: str
    kind: str  # Vietnamese labels: the reader of a merged report has no unit's configuration
    topic: str
    summary: str | None = None
    status: str
    agency: str | None = None
    result: str | None = None


class AnswerUse(_Model):
    """An agreed answer and how many of the period's cases used it (merged by title+source)."""

    title: str
    source: str
    count: int = 0


class OpenQuestion(_Model):
    """A question (hỏi đáp) with no agreed answer: proposed to the Department of Health."""

    unit: str | None = None
    ref: str
    topic: str
    summary: str | None = None


class AnswerFigures(_Model):
    used: list[AnswerUse] = Field(default_factory=list)
    unanswered: int = 0
    questions: list[OpenQuestion] = Field(default_factory=list)  # at most QUESTIONS_LIMIT


class CaseFigures(_Model):
    counts: CaseCounts = Field(default_factory=CaseCounts)
    by_kind: list[CountRow] = Field(default_factory=list)
    by_topic: list[CountRow] = Field(default_factory=list)
    by_agency: list[CountRow] = Field(default_factory=list)
    notable: list[NotableCase] = Field(default_factory=list)
    answers: AnswerFigures | None = None  # None: a version 2 file, the book not counted


class CallbackFigures(_Model):
    """The call-back list's entries made in the period, followed to its end (sums: merging
    adds them)."""

    created: int = 0
    after_hours_message: int = 0
    abandoned: int = 0
    unanswered: int = 0
    made: int = 0  # entries with at least one try
    tries: int = 0
    tries_reached: int = 0
    tries_no_answer: int = 0
    tries_wrong_number: int = 0
    closed: int = 0
    closed_reached: int = 0
    closed_wrong_number: int = 0
    closed_by_call: int = 0
    closed_other: int = 0
    open: int = 0
    overdue: int = 0
    as_of: datetime | None = None  # a merge of units with different ends: the latest


class UnitInfo(_Model):
    name: str
    governing_body: str = ""
    # How the province names the line and the branch's field (report settings).
    hotline: str = "Tổng đài thông tin 1022"
    field: str = "lĩnh vực y tế"


class UnitSummary(_Model):
    name: str
    governing_body: str = ""
    period: Period
    totals: Totals
    cases: CaseCounts = Field(default_factory=CaseCounts)
    notes: str | None = None


class Figures(_Model):
    """Everything a report shows; rendered to table/CSV/JSON/XLSX/DOCX and merged."""

    format: Literal["callrouter-report"] = FORMAT
    version: Literal[3] = VERSION
    generated_at: datetime
    merged: bool = False
    unit: UnitInfo
    units: list[UnitSummary] = Field(default_factory=list)
    branch: int
    timezone: str
    service_level_seconds: int
    misdial_seconds: int = 10
    period: Period
    totals: Totals
    by_day: list[DayRow] = Field(default_factory=list)
    by_hour: list[HourRow] = Field(default_factory=list)
    officers: list[OfficerRow] = Field(default_factory=list)
    numbers: list[NumberRow] = Field(default_factory=list)
    cases: CaseFigures = Field(default_factory=CaseFigures)
    callbacks: CallbackFigures | None = None  # None: not counted (an older file)
    notes: str | None = None

    @property
    def empty(self) -> bool:
        return self.totals.received == 0

    def busiest_hours(self, n: int = 3) -> list[HourRow]:
        rows = [h for h in self.by_hour if h.received]
        return sorted(rows, key=lambda h: (-h.received, h.hour))[:n]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def p90_from_histogram(histogram: list[tuple[int, int]]) -> float | None:
    """Nearest-rank 90th percentile of a histogram of whole seconds."""
    total = sum(c for _, c in histogram)
    if not total:
        return None
    rank = math.ceil(0.9 * total)
    seen = 0
    for seconds, count in sorted(histogram):
        seen += count
        if seen >= rank:
            return float(seconds)
    raise AssertionError("unreachable: rank <= total")  # pragma: no cover


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%".replace(".", ",")


def seconds_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s".replace(".", ",")


def duration_text(seconds: float) -> str:
    """Seconds as h:mm:ss (total talk time)."""
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
