"""Notification settings (``CALLROUTER_NOTIFY_*``); the SMTP server and sender are the
report's (``CALLROUTER_REPORT_SMTP_*``, ``CALLROUTER_REPORT_MAIL_FROM``).

Lists are JSON in the environment, e.g. ``CALLROUTER_NOTIFY_ADMINS='["qt@example.vn"]'``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callrouter.rota.model import parse_clock
from callrouter.rota.phones import normalise_email


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CALLROUTER_NOTIFY_", env_file=".env", extra="ignore", env_file_encoding="utf-8"
    )

    #: the scheduler runs inside ``serve`` when on (off until the SMTP settings are set)
    enabled: bool = False
    shift_reminders: bool = True
    uncovered_hours: bool = True
    duty_changes: bool = True
    fallback_alarm: bool = True
    #: each missed call (past the misdial threshold) to the officer(s) on duty at its time
    missed_calls: bool = True
    #: the daily digest of open call-backs and overdue cases to the officers and the admins
    digest: bool = True
    #: the local hour (rota time zone) from which the day's digest goes out
    digest_hour: int = Field(default=7, ge=0, le=23)
    #: seconds between two looks for new missed calls (a short poll: see notify.follow_up)
    missed_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    #: who gets uncovered hours and the alarms
    admins: list[str] = Field(default_factory=list)
    #: the evening reminder: this local time on the day before the shift ("" = none)
    remind_evening: str = "19:00"
    #: further reminders this many minutes before each shift
    remind_before_minutes: list[int] = Field(default_factory=lambda: [60])
    #: how far ahead uncovered hours are looked for, and duty changes announced
    uncovered_days: int = Field(default=7, ge=1, le=60)
    changes_days: int = Field(default=14, ge=1, le=60)
    #: seconds between two rounds of the scheduler
    tick_seconds: float = Field(default=30.0, gt=0, le=3600)
    #: delivery attempts before a notice is given up, first retry delay (doubles each time)
    max_attempts: int = Field(default=8, ge=1, le=50)
    retry_seconds: float = Field(default=30.0, gt=0)
    #: a directory of ``<kind>.txt`` files replacing the built-in messages
    templates_dir: Path | None = None

    @field_validator("admins")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        return [normalise_email(v) for v in value]

    @field_validator("remind_evening")
    @classmethod
    def _clock(cls, value: str) -> str:
        if value:
            parse_clock(value)
        return value

    @field_validator("remind_before_minutes")
    @classmethod
    def _minutes(cls, value: list[int]) -> list[int]:
        if any(not 1 <= v <= 7 * 1440 for v in value):
            raise ValueError("each reminder is 1 to 10080 minutes before the shift")
        return sorted(set(value), reverse=True)
