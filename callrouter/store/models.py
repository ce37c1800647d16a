"""The call log tables (SQLAlchemy 2 typed models).

Column names are a contract with the report room (``/work/notes/contracts.md``); add
columns, never rename them. Every timestamp is timezone-aware UTC in Python; SQLite
keeps it as a UTC text value, PostgreSQL as ``timestamptz``. ``calls.local_day`` and
``calls.local_hour`` hold the call's start in the rota's timezone, so reports can group
by day and hour without timezone functions (which SQLite lacks).

A call's ``id`` is derived from its Asterisk ``linkedid`` (:func:`call_id_for`), so every
writer (the call flow, a restarted router, the CDR import) names the same call the same
way and a call handed back to the dialplan keeps its one row.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Final, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from callrouter.calls.outcomes import CallbackReason, CallbackTry, LegResult, Outcome

OUTCOMES: Final = tuple(o.value for o in Outcome)
ATTEMPT_RESULTS: Final = tuple(r.value for r in LegResult)
MODES: Final = ("ari", "agi", "fallback")
# The old fixed classification of a call (before cases, migration 0004); no longer a CHECK.
RESOLUTIONS: Final = ("answered_on_phone", "forwarded_to_agency", "needs_callback", "other")
CALLBACK_REASONS: Final = tuple(r.value for r in CallbackReason)
PRIVACY_ACTIONS: Final = ("export", "erase")
ROLES: Final = ("officer", "admin")
CALLBACK_OUTCOMES: Final = tuple(t.value for t in CallbackTry)

# Vietnamese labels of the fixed resolution set (what officers and the report show).
RESOLUTION_LABELS: Final[dict[str, str]] = {
    "answered_on_phone": "Đã trả lời qua điện thoại",
    "forwarded_to_agency": "Đã chuyển cơ quan chức năng",
    "needs_callback": "Cần gọi lại",
    "other": "Khác",
}

_CALL_ID_NAMESPACE: Final = uuid.UUID("5f0c2a52-8f7e-4d7e-9a51-1022c0ffee03")


@functools.lru_cache(maxsize=1024)  # the calls in progress: a small, soon-full cache
def call_id_for(linkedid: str) -> str:
    """The ``calls.id`` of the call with this Asterisk linkedid (stable across writers).

    It is ``uuid5(namespace, linkedid)``, computed without building ``UUID`` objects
    (six times faster; the writer derives it for every record of a call).
    """
    h = hashlib.sha1(_CALL_ID_NAMESPACE.bytes + linkedid.encode()).hexdigest()  # noqa: S324
    variant = int(h[16:18], 16) & 0x3F | 0x80
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant:02x}{h[18:20]}-{h[20:32]}"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both databases.

    Naive datetimes are refused (they are a bug: which zone?). SQLite has no time zone
    type, so the value is stored as UTC text and given back with ``tzinfo=UTC``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: callrouter stores timezone-aware times")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# BIGINT on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
#: a table's own numbered id (64-bit; SQLite's INTEGER PRIMARY KEY is its rowid)
RowId = Annotated[int, mapped_column(BigIntPK, primary_key=True, autoincrement=True)]
#: the call a row belongs to (gone with the call)
CallRef = Annotated[str, mapped_column(String(36), ForeignKey("calls.id", ondelete="CASCADE"))]

NAMING_CONVENTION: Final[dict[str, str]] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[Any] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Call(Base):
    """One row per call (unique by linkedid)."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    uniqueid: Mapped[str | None] = mapped_column(String(64))
    branch: Mapped[int] = mapped_column(SmallInteger)
    caller: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    local_day: Mapped[date] = mapped_column(Date)
    local_hour: Mapped[int] = mapped_column(SmallInteger)
    outcome: Mapped[str | None] = mapped_column(String(16))
    answered_officer_id: Mapped[str | None] = mapped_column(String(64))
    answered_officer_name: Mapped[str | None] = mapped_column(String(200))
    answered_number: Mapped[str | None] = mapped_column(String(32))
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    rota_version: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(String(32))
    classified_at: Mapped[datetime | None]
    classified_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        CheckConstraint(_in("outcome", OUTCOMES), name="outcome"),
        CheckConstraint(_in("mode", MODES), name="mode"),
        CheckConstraint("local_hour BETWEEN 0 AND 23", name="local_hour"),
        Index(None, "branch", "local_day"),
        Index(None, "started_at"),
        Index(None, "caller"),
    )


class CallAttempt(Base):
    """One row per officer leg of a call."""

    __tablename__ = "call_attempts"

    id: Mapped[RowId]
    call_id: Mapped[CallRef]
    seq: Mapped[int] = mapped_column(SmallInteger)
    officer_id: Mapped[str] = mapped_column(String(64))
    officer_name: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(32))
    number_label: Mapped[str | None] = mapped_column(String(100))
    channel_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(String(16))
    cause: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("call_id", "seq"),
        CheckConstraint(_in("result", ATTEMPT_RESULTS), name="result"),
        CheckConstraint("seq >= 0", name="seq"),
        Index(None, "officer_id"),
        # The report narrows a period's attempts by start time (migration 0002).
        Index(None, "started_at"),
    )


class CallEvent(Base):
    """Append-only audit trail of a call's state transitions."""

    __tablename__ = "call_events"

    id: Mapped[RowId]
    call_id: Mapped[CallRef]
    at: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    # The spool record's id: replaying the spool never adds an event twice.
    record_id: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (Index(None, "call_id", "at"),)


class Callback(Base):
    """A caller to call back (after-hours message, abandoned or unanswered call)."""

    __tablename__ = "callbacks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    call_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("calls.id", ondelete="SET NULL")
    )
    # Nullable only so that ``db purge`` can remove it past the retention period.
    number: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    recording: Mapped[str | None] = mapped_column(Text)
    done_by: Mapped[str | None] = mapped_column(String(100))
    done_at: Mapped[datetime | None]
    outbound_linkedid: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(_in("reason", CALLBACK_REASONS), name="reason"),
        Index(None, "done_at", "created_at"),
        Index(None, "call_id"),
        Index(None, "number"),
        # The report finds a period's call-backs by time (migration 0002).
        Index(None, "created_at"),
    )


class PrivacyRequest(Base):
    """A data subject's request served (``callrouter privacy export|erase``): what was done
    and how much, never the number asked about (migration 0003)."""

    __tablename__ = "privacy_requests"

    id: Mapped[RowId]
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(100))
    calls: Mapped[int] = mapped_column(Integer)
    callbacks: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer)
    recordings: Mapped[int] = mapped_column(Integer)
    # Lines of the CDR and rejected-lines files (found by export, removed by erase).
    file_lines: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint(_in("action", PRIVACY_ACTIONS), name="action"),
        Index(None, "at"),
    )


class Case(Base):
    """A citizen's request (hỏi đáp, phản ánh, kiến nghị, khác) followed to a result.

    Kind, topic, agency and status are codes checked by :mod:`callrouter.cases` against the
    configuration, not by the schema. ``ref_seq``/``ref_year`` give the short reference an
    officer reads out ("42/2026"), unique per unit (``branch``) and year. ``version`` is the
    optimistic lock: an update names the version it read and fails if another was saved.
    ``closed_on`` is the local day it reached a closed status (for the overdue flag).
    """

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    branch: Mapped[int] = mapped_column(SmallInteger)
    ref_year: Mapped[int] = mapped_column(SmallInteger)
    ref_seq: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("calls.id", ondelete="SET NULL")
    )
    callback_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("callbacks.id", ondelete="SET NULL")
    )
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(100))
    local_day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str | None] = mapped_column(String(64))
    # Free text about a caller: ``db purge`` blanks these past the retention period.
    summary: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    deadline: Mapped[date] = mapped_column(Date)
    agency: Mapped[str | None] = mapped_column(String(64))
    forwarded_on: Mapped[date | None] = mapped_column(Date)
    result: Mapped[str | None] = mapped_column(Text)
    result_on: Mapped[date | None] = mapped_column(Date)
    told_by: Mapped[str | None] = mapped_column(String(100))
    told_at: Mapped[datetime | None]
    closed_on: Mapped[date | None] = mapped_column(Date)
    notable: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (
        UniqueConstraint("branch", "ref_year", "ref_seq"),
        Index(None, "branch", "local_day"),
        Index(None, "call_id"),
        Index(None, "status", "deadline"),
    )


class CaseHistory(Base):
    """Every change of a case: who, when, status from → to and the fields changed."""

    __tablename__ = "case_history"

    id: Mapped[RowId]
    case_id: Mapped[str] = mapped_column(String(36), ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    account: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    # {field: [before, after]}; free text in it is blanked by ``db purge`` with the case's.
    changes: Mapped[dict[str, Any]]

    __table_args__ = (Index(None, "case_id", "at"),)


class WebSession(Base):
    """A logged-in admin web session (migration 0005), kept server-side.

    The browser holds a random token; only its SHA-256 is stored (``id``), so the table
    does not hand out live sessions to whoever reads it. ``credential`` is a digest of the
    user's password hash at log-in: a changed password no longer matches, which revokes
    every session of that user. Logout deletes the row.
    """

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(100))
    credential: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime]

    __table_args__ = (Index(None, "user_name"), Index(None, "seen_at"))


class ReportDraft(Base):
    """A monthly report prepared for the clerk to sign (migration 0006): its files are kept in
    ``directory`` (DOCX, XLSX, JSON, PDF); only an approved draft is sent, and the record keeps
    who approved it and when it left."""

    __tablename__ = "report_drafts"

    id: Mapped[RowId]
    stem: Mapped[str] = mapped_column(String(64), unique=True)  # bao-cao-1022-2026-12
    period_start: Mapped[date]
    period_end: Mapped[date]
    created_at: Mapped[datetime]
    directory: Mapped[str] = mapped_column(String(500))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    sent_to: Mapped[str | None] = mapped_column(String(1000))


class Notification(Base):
    """A message to an officer or an admin (migration 0007), one row per recipient.

    ``key`` is the idempotency key (the event and the recipient): the scheduler inserts a
    row only once per key, so a restart never sends the same notice twice. ``status`` is
    ``pending`` until delivered (``sent``) or given up (``failed``, the SMTP error kept);
    ``not_before`` holds back a retry (backoff) or a notice inside the officer's quiet hours.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    ics: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    not_before: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index(None, "status", "not_before"), Index(None, "created_at"))


class _AnswerText:
    """What an agreed answer says and where it comes from: the answer and each of its saved
    versions carry the same columns."""

    title: Mapped[str] = mapped_column(String(300))
    topic: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(300))
    agreed_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)


class Answer(_AnswerText, Base):
    """An agreed answer of the answer book (migration 0008): its current version.

    Every saved version is also in ``answer_versions``; ``retired_at`` hides it from new use
    while keeping it for the cases that used it. The full-text index (``answers_fts``: FTS5
    on SQLite, a ``tsvector`` table on PostgreSQL) lives outside these models and is kept by
    :mod:`callrouter.store.answers`.
    """

    __tablename__ = "answers"

    id: Mapped[RowId]
    retired_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index(None, "topic"),)


class AnswerVersion(_AnswerText, Base):
    """Every version of an answer, with the account and time that saved it."""

    __tablename__ = "answer_versions"

    answer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("answers.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    retired: Mapped[bool] = mapped_column(Boolean)
    saved_at: Mapped[datetime]
    saved_by: Mapped[str] = mapped_column(String(100))


class CaseAnswer(Base):
    """An agreed answer an officer used on a case (counted in the monthly report)."""

    __tablename__ = "case_answers"

    case_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    answer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("answers.id", ondelete="CASCADE"), primary_key=True
    )
    attached_at: Mapped[datetime]
    attached_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index(None, "answer_id"),)


class Account(Base):
    """An officer's own log-in to the web (migration 0009), keyed to the rota's officer id.

    ``password_hash`` is the scrypt hash of :mod:`callrouter.web.security` (``None`` until a
    password is set). ``link_key`` is the SHA-256 of a one-time set-password link's token
    (never the token). An officer who leaves the rota is disabled (``enabled`` false), the
    row kept so that the cases and call-backs they worked on still name them.
    """

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    branch: Mapped[int] = mapped_column(SmallInteger)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    link_key: Mapped[str | None] = mapped_column(String(64))
    link_expires: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        Index(None, "link_key"),
    )


class CallbackAttempt(Base):
    """One try at calling a caller back and how it went (migration 0009)."""

    __tablename__ = "callback_attempts"

    id: Mapped[RowId]
    callback_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("callbacks.id", ondelete="CASCADE")
    )
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint(_in("outcome", CALLBACK_OUTCOMES), name="outcome"),
        Index(None, "callback_id", "at"),
    )


class ApiToken(Base):
    """A bearer token of the read-only JSON API (migration 0009); ``id`` is its SHA-256."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    uses: Mapped[int] = mapped_column(Integer, default=0)


calls = cast(Table, Call.__table__)
call_attempts = cast(Table, CallAttempt.__table__)
call_events = cast(Table, CallEvent.__table__)
callbacks = cast(Table, Callback.__table__)
privacy_requests = cast(Table, PrivacyRequest.__table__)
cases = cast(Table, Case.__table__)
case_history = cast(Table, CaseHistory.__table__)
web_sessions = cast(Table, WebSession.__table__)
report_drafts = cast(Table, ReportDraft.__table__)
notifications = cast(Table, Notification.__table__)
answers = cast(Table, Answer.__table__)
answer_versions = cast(Table, AnswerVersion.__table__)
case_answers = cast(Table, CaseAnswer.__table__)
accounts = cast(Table, Account.__table__)
api_tokens = cast(Table, ApiToken.__table__)
callback_attempts = cast(Table, CallbackAttempt.__table__)
