"""The notices file: health notices for callers and how to read their words (YAML, validated
like the rota: every problem as ``file:line:column: field: message``; a running process that
reads a bad file keeps the notices it had).

::

    timezone: Asia/Ho_Chi_Minh     # of the dates below
    max_seconds: 30                # longest a notice may last once spoken
    say:                           # abbreviations → words (adds to / overrides the built-in table)
      TCMR: tiêm chủng mở rộng
    notices:
      - id: tiem-chung-12          # letters, digits, - and _
        text: Từ 15/12, TTYT huyện tiêm chủng miễn phí cho trẻ em; mang theo thẻ BHYT.
        valid_from: 2026-12-01 07:00
        valid_until: 2026-12-31 17:00
        audience: waiting          # all | waiting (while officers ring) | after_hours
        recording: tiem-chung.wav  # optional: a recorded WAV (8 kHz mono 16-bit) instead of speech

A notice is played only inside ``[valid_from, valid_until)``; an expired one is never played.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from callrouter.errors import NoticeFileError
from callrouter.rota.loader import parse_config_model, read_config_file

MAX_SECONDS_DEFAULT: Final = 30.0
TEXT_MAX: Final = 1000
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_ABBREVIATION = re.compile(r"[^\s]{1,20}")


class Audience(StrEnum):
    ALL = "all"
    WAITING = "waiting"
    AFTER_HOURS = "after_hours"


def _text(raw: str) -> str:
    text = " ".join(unicodedata.normalize("NFC", raw).split())
    if not text:
        raise ValueError("nội dung thông báo không được để trống")
    return text


class Notice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    text: Annotated[str, AfterValidator(_text), Field(max_length=TEXT_MAX)]
    valid_from: datetime
    valid_until: datetime
    audience: Audience = Audience.WAITING
    recording: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError("mã thông báo chỉ gồm chữ không dấu, chữ số, - và _ (tối đa 64)")
        return value

    @model_validator(mode="after")
    def _window(self) -> Notice:
        if self.valid_until <= self.valid_from:
            raise ValueError(
                f"valid_until ({self.valid_until:%Y-%m-%d %H:%M}) phải sau valid_from "
                f"({self.valid_from:%Y-%m-%d %H:%M})"
            )
        return self

    def window(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """Valid from/until as aware datetimes (a naive date in the file is in ``tz``)."""
        return (_aware(self.valid_from, tz), _aware(self.valid_until, tz))

    def valid_at(self, at: datetime, tz: ZoneInfo) -> bool:
        start, end = self.window(tz)
        return start <= at < end

    def heard_by(self, audience: Audience) -> bool:
        return self.audience in (Audience.ALL, audience)


def _aware(at: datetime, tz: ZoneInfo) -> datetime:
    return at.replace(tzinfo=tz) if at.tzinfo is None else at


class NoticesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Asia/Ho_Chi_Minh"
    max_seconds: float = Field(default=MAX_SECONDS_DEFAULT, gt=0, le=300)
    say: dict[str, str] = Field(default_factory=dict)
    notices: list[Notice] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"múi giờ không tồn tại: {value!r}") from None
        return value

    @field_validator("notices", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value  # ``notices:`` with nothing under it

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def current(self, audience: Audience, at: datetime | None = None) -> list[Notice]:
        """The notices ``audience`` hears at ``at`` (now), in file order."""
        now = at or datetime.now(UTC)
        return [n for n in self.notices if n.heard_by(audience) and n.valid_at(now, self.tz)]


def _problems(data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Duplicate ids and bad abbreviations, at their own line."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if not isinstance(data, dict):
        return problems
    say = data.get("say")
    if isinstance(say, dict):
        for key, words in say.items():
            if not _ABBREVIATION.fullmatch(str(key)):
                problems.append((("say", key), "chữ viết tắt không có khoảng trắng, tối đa 20"))
            if not str(words or "").strip():
                problems.append((("say", key), "thiếu cách đọc"))
            elif re.search(r"\d", str(words)):
                problems.append((("say", key), "cách đọc viết bằng chữ, không dùng chữ số"))
    notices = data.get("notices")
    seen: set[str] = set()
    if isinstance(notices, list):
        for i, item in enumerate(notices):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                if item["id"] in seen:
                    problems.append((("notices", i, "id"), f"mã {item['id']!r} bị trùng"))
                seen.add(item["id"])
    return problems


def parse_notices(text: str, source: str) -> NoticesFile:
    """Validate notices YAML text; every problem in one :class:`NoticeFileError`."""
    return parse_config_model(text, source, NoticesFile, NoticeFileError, _problems)


def load_notices(path: Path) -> NoticesFile:
    text, _ = read_config_file(path, NoticeFileError)
    return parse_notices(text, str(path))
