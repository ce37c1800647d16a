"""Report settings (``CALLROUTER_REPORT_*``): the document header and who receives it by e-mail.

Kept apart from :class:`callrouter.settings.Settings` (the report room owns this file); the
service-level threshold and the category labels stay in the main settings. The SMTP password
may come from a file: ``CALLROUTER_REPORT_SMTP_PASSWORD_FILE=/run/secrets/smtp``.

Lists (addressees, recipients) are JSON in the environment, e.g.
``CALLROUTER_REPORT_MAIL_TO='["vhtt@example.gov.vn"]'``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callrouter.errors import ConfigError, ReportError
from callrouter.report.figures import UnitInfo

ENV_PREFIX = "CALLROUTER_REPORT_"
#: The letterhead fields ``report send`` and the timer refuse to go without (Decree 30/2020:
#: governing body, issuing unit, place, addressees, signer; and the document answered).
LETTERHEAD_FIELDS: tuple[tuple[str, str], ...] = (
    ("governing_body", "cơ quan chủ quản"),
    ("unit_name", "tên đơn vị ban hành"),
    ("place", "địa danh"),
    ("addressees", "nơi nhận báo cáo (Kính gửi)"),
    ("signer_title", "chức vụ người ký"),
    ("signer_name", "họ tên người ký"),
    ("reference", "văn bản yêu cầu báo cáo (Thực hiện …)"),
)


class ReportSettings(BaseSettings):
    """The unit's letterhead (Decree 30/2020 layout) and the mail settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", env_file_encoding="utf-8"
    )

    # Letterhead: "cơ quan, tổ chức chủ quản" above "tên cơ quan ban hành". No defaults: a
    # report names the unit that signs it; see config/report/*.env for two worked examples.
    governing_body: str = ""
    unit_name: str = ""
    # "Số: 15/BC-TTYT" — the number is left blank for the clerk to fill when not given.
    document_number: str = ""
    document_symbol: str = "BC"
    place: str = ""  # the "địa danh" of the date line: "<place>, ngày 20 tháng 12 năm 2026"
    addressees: list[str] = Field(default_factory=list)
    # "Nơi nhận" list at the foot of the document.
    copies_to: list[str] = Field(default_factory=lambda: ["Như trên", "Lưu: VT"])
    signer_authority: str = ""  # e.g. "KT. GIÁM ĐỐC" when a deputy signs
    signer_title: str = ""  # e.g. "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC", "TRƯỞNG TRẠM"
    signer_name: str = ""
    # The document the report answers: "Thực hiện <reference>, …", e.g.
    # "Công văn số 123/SYT-VP ngày 10/8/2025 của Sở Y tế về việc báo cáo …".
    reference: str = ""
    # How the province names the line and the branch's field, as printed in the report.
    hotline_name: str = "Tổng đài thông tin 1022"
    field: str = "lĩnh vực y tế"
    # The monthly period: from this day of the previous month to the day before it in the
    # reported month (Decree 09/2019/NĐ-CP: the 15th to the 14th); 0 for the calendar month.
    cutoff_day: int = Field(default=15, ge=0, le=28)

    # Drafts (callrouter report draft|approve|auto): where the prepared files are kept (default
    # <state_dir>/reports), who is told that a draft waits for approval, and the day of the
    # month from which an unapproved draft is reminded about (the report is due by the 25th).
    reports_dir: Path | None = None
    clerk_mail_to: list[str] = Field(default_factory=list)
    remind_day: int = Field(default=24, ge=1, le=28)

    # Mail (callrouter report send)
    mail_from: str = "callrouter@localhost"
    mail_to: list[str] = Field(default_factory=list)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    # none: plain; starttls: upgrade after connecting (port 587); tls: implicit TLS (port 465);
    # auto: plain only to a relay on this host (loopback), else tls on port 465, else starttls.
    smtp_security: Literal["auto", "none", "starttls", "tls"] = "auto"
    smtp_ca_file: Path | None = None  # extra CA to trust (e.g. the district's own mail server)
    smtp_timeout: float = Field(default=30.0, gt=0)

    @field_validator("cutoff_day")
    @classmethod
    def _cutoff(cls, value: int) -> int:
        if value == 1:
            raise ValueError(
                "1 would report the previous calendar month under this month's name: "
                "use 0 for the calendar month, or a day 2..28"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _password_file(cls, data: Any) -> Any:
        key = f"{ENV_PREFIX}SMTP_PASSWORD_FILE"
        path = os.environ.get(key)
        if isinstance(data, dict) and path and not data.get("smtp_password"):
            try:
                data["smtp_password"] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{key}: cannot read secret file {path}: {exc.strerror}") from exc
        return data

    def missing(self) -> list[str]:
        """The letterhead settings a report cannot be sent without, as environment names
        with what each is for (empty when the letterhead is complete)."""
        return [
            f"{ENV_PREFIX}{name.upper()} ({label})"
            for name, label in LETTERHEAD_FIELDS
            if not getattr(self, name)
        ]

    def require_letterhead(self, command: str) -> None:
        """Refuse ``command`` (a report that leaves the unit) while a letterhead field is unset."""
        missing = self.missing()
        if missing:
            raise ReportError(
                f"{command}: the letterhead is not configured; set "
                + ", ".join(missing)
                + " (see config/report/*.env; check with: callrouter report settings --check)"
            )

    def value(self, name: str) -> str:
        """A letterhead field as printed: its value, else the "chưa cấu hình" placeholder."""
        text = getattr(self, name)
        label = dict(LETTERHEAD_FIELDS)[name]
        return text or f"[chưa cấu hình: {label}]"

    def unit_info(self) -> UnitInfo:
        return UnitInfo(
            name=self.value("unit_name"),
            governing_body=self.governing_body,
            hotline=self.hotline_name,
            field=self.field,
        )

    @property
    def number_line(self) -> str:
        number = self.document_number or "     "
        return f"Số: {number}/{self.document_symbol}"


def load_report_settings() -> ReportSettings:
    """:class:`ReportSettings` from the environment; a bad value is a :class:`ConfigError`
    naming each variable and what is wrong, never a traceback."""
    try:
        return ReportSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'_'.join(str(p) for p in e['loc']).upper()}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(f"report settings: {problems}") from None
