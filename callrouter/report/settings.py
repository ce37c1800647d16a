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

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callrouter.errors import ConfigError

ENV_PREFIX = "CALLROUTER_REPORT_"


class ReportSettings(BaseSettings):
    """The unit's letterhead (Decree 30/2020 layout) and the mail settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", env_file_encoding="utf-8"
    )

    # Letterhead: "cơ quan, tổ chức chủ quản" above "tên cơ quan ban hành".
    governing_body: str = "UBND HUYỆN MÊ LINH"
    unit_name: str = "TRUNG TÂM Y TẾ HUYỆN MÊ LINH"
    # "Số: 15/BC-TTYT" — the number is left blank for the clerk to fill when not given.
    document_number: str = ""
    document_symbol: str = "BC-TTYT"
    place: str = "Mê Linh"  # "Mê Linh, ngày 20 tháng 12 năm 2026"
    addressees: list[str] = Field(
        default_factory=lambda: ["Phòng Văn hóa và Thông tin huyện Mê Linh"]
    )
    # "Nơi nhận" list at the foot of the document.
    copies_to: list[str] = Field(
        default_factory=lambda: ["Như trên", "Sở Y tế (để b/c)", "Lưu: VT"]
    )
    signer_authority: str = ""  # e.g. "KT. GIÁM ĐỐC" when a deputy signs
    signer_title: str = "GIÁM ĐỐC"
    signer_name: str = ""

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

    @property
    def number_line(self) -> str:
        number = self.document_number or "     "
        return f"Số: {number}/{self.document_symbol}"
