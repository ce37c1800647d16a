"""Settings from the environment (``CALLROUTER_*``), a ``.env`` file, or secret files.

Secrets (ARI/AMI passwords, SMTP password, database URL with a password) may be given
as ``CALLROUTER_<NAME>_FILE=/path/to/secret``; they are never logged (``SecretStr``).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callrouter.calls.caller_times import DEFAULT_CALLER_TIMES, CallerTimes
from callrouter.errors import ConfigError
from callrouter.store.writer import DEFAULT_BATCH_WINDOW

DEFAULT_STATE_DIR = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / (
    "callrouter"
)


def read_secret_files(values: dict[str, Any], prefix: str = "CALLROUTER_") -> dict[str, Any]:
    """For every ``<prefix>X_FILE`` in the environment, read the file into ``x`` (unless set)."""
    suffix = "_FILE"
    for key, path in os.environ.items():
        if key.startswith(prefix) and key.endswith(suffix):
            field = key[len(prefix) : -len(suffix)].lower()
            if field in values and values[field] is not None:
                continue
            try:
                values[field] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{key}: cannot read secret file {path}: {exc.strerror}") from exc
    return values


#: the event loops ``serve`` can run on (``CALLROUTER_EVENT_LOOP``)
EventLoopKind = Literal["uvloop", "asyncio"]


class Settings(BaseSettings):
    """Everything callrouter reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="CALLROUTER_", env_file=".env", extra="ignore", env_file_encoding="utf-8"
    )

    state_dir: Path = DEFAULT_STATE_DIR
    database_url: SecretStr = SecretStr("")
    rota_path: Path = Path("config/rota.example.yaml")
    branch: int = 3
    timezone: str = "Asia/Ho_Chi_Minh"

    # Asterisk
    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "callrouter"
    ari_password: SecretStr = SecretStr("")
    ari_app: str = "callrouter"
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "callrouter"
    ami_password: SecretStr = SecretStr("")
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    #: FastAGI: the secret the dialplan's CALLROUTER_AGI_URL carries (agi://HOST:PORT/<secret>)
    agi_secret: SecretStr = SecretStr("")
    #: FastAGI: peers allowed to connect, comma-separated addresses or networks (empty: any)
    agi_allow: str = ""
    dialplan_include: Path = Path("/etc/asterisk/callrouter_fallback.conf")

    # What the caller hears (ARI mode)
    #: Asterisk's sounds directory when it is on this machine: a prompt missing in Vietnamese
    #: is then played in English explicitly and logged (unset: Asterisk's own fallback only)
    sounds_dir: Path | None = None
    prompt_folder: str = "callrouter"
    #: health notices for waiting callers (YAML, ``config/notices.example.yaml``); unset: none.
    #: Their speech is written under ``sounds_dir`` (default /usr/share/asterisk/sounds), the
    #: include files beside ``dialplan_include``
    notices_path: Path | None = None
    #: where the notices' speech is written (Asterisk's sounds directory; unset: ``sounds_dir``,
    #: else /usr/share/asterisk/sounds) — apart from ``sounds_dir``, which turns on prompt checks
    notices_sounds_dir: Path | None = None
    #: what a waiting caller is given (callrouter.calls.caller_times): read here, with bounds
    hold_reminder_seconds: float = Field(default=DEFAULT_CALLER_TIMES.hold_reminder_seconds, ge=0)
    message_max_seconds: int = Field(default=DEFAULT_CALLER_TIMES.message_max_seconds, ge=5, le=600)
    message_max_silence: int = Field(default=DEFAULT_CALLER_TIMES.message_max_silence, ge=1, le=60)

    #: the event loop ``serve`` runs on: ``uvloop`` (libuv's; less of the router's CPU per call
    #: under load, bench/results/ab-uvloop.txt) or ``asyncio`` (Python's own)
    event_loop: EventLoopKind = "uvloop"

    # Store
    retention_days: int = Field(default=365, ge=1)
    spool_dir: Path | None = None
    #: how long the call log lets records gather before one database transaction (each is
    #: durable in the spool at once; a larger window costs less CPU per call under load)
    batch_seconds: float = Field(default=DEFAULT_BATCH_WINDOW, ge=0, le=5)

    # Reports
    service_level_seconds: int = Field(default=20, ge=1)
    #: an abandoned call shorter than this many seconds of waiting is counted as a misdial
    #: (the report and everything else that needs the notion reads it here)
    misdial_seconds: int = Field(default=10, ge=0, le=120)

    # Cases (hỏi đáp, phản ánh, kiến nghị): topics, agencies and deadlines; without a file
    # the topics are ``categories`` below and the deadlines callrouter's defaults
    cases_path: Path | None = None
    categories: dict[str, str] = Field(
        default_factory=lambda: {
            "kham_chua_benh": "Khám, chữa bệnh",
            "bao_hiem_y_te": "Bảo hiểm y tế",
            "tiem_chung": "Tiêm chủng",
            "dich_benh": "Phòng, chống dịch bệnh",
            "an_toan_thuc_pham": "An toàn thực phẩm",
            "duoc_pham": "Thuốc, dược phẩm",
            "khac": "Khác",
        }
    )

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return read_secret_files(data)
        return data

    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under ``state_dir``."""
        url = self.database_url.get_secret_value()
        if url:
            return url
        return f"sqlite+aiosqlite:///{self.state_dir / 'callrouter.sqlite3'}"

    def effective_spool_dir(self) -> Path:
        return self.spool_dir if self.spool_dir is not None else self.state_dir / "spool"

    def caller_times(self) -> CallerTimes:
        """What a waiting caller is given, for both doors."""
        return CallerTimes(
            hold_reminder_seconds=self.hold_reminder_seconds,
            message_max_seconds=self.message_max_seconds,
            message_max_silence=self.message_max_silence,
        )


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1): this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
