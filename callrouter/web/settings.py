"""Settings of the admin web (``CALLROUTER_WEB_*`` environment variables or ``.env``).

Example (``/etc/callrouter/env``)::

    CALLROUTER_WEB_PORT=8080
    CALLROUTER_WEB_SESSION_SECRET_FILE=/etc/callrouter/web-session-secret
    CALLROUTER_WEB_USERS={"admin": "scrypt:16384:8:1:…"}     # callrouter web hash-password
    CALLROUTER_WEB_METRICS_TOKEN_FILE=/etc/callrouter/metrics-token
    CALLROUTER_WEB_FEEDS={"all": "…", "o1": "…"}               # callrouter web feed-token

Secrets may come from files (``CALLROUTER_WEB_<NAME>_FILE``) and are never logged.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callrouter.settings import is_loopback_host, read_secret_files
from callrouter.web.security import MAX_USER_NAME

ENV_PREFIX = "CALLROUTER_WEB_"


class WebSettings(BaseSettings):
    """Everything the admin web reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", env_file_encoding="utf-8"
    )

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Base URL users reach the page at (behind a reverse proxy), for the calendar feed links
    # and the links in notification e-mails.
    public_url: str = ""

    # Signs the session cookie. Empty: a random one per start (everyone logs in again).
    session_secret: SecretStr = SecretStr("")
    # user name -> password hash made by `callrouter web hash-password`
    users: dict[str, str] = Field(default_factory=dict)
    session_idle_minutes: int = Field(default=30, ge=1)
    session_max_hours: int = Field(default=12, ge=1)
    # Cookies carry the Secure flag (sent over HTTPS only: a TLS proxy is in front) unless this
    # is set, which is allowed only when the web listens on loopback (a browser on this host).
    plain_http: bool = False
    # Failed log-ins per (client address, user name) within the window before that pair is
    # locked for the window; the same client across all user names; the whole server (past
    # it only clients with no failure may try). The right password from another client is
    # never refused.
    login_max_failures: int = Field(default=5, ge=1)
    login_client_max_failures: int = Field(default=20, ge=1)
    login_global_max_failures: int = Field(default=1000, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)
    # Reverse proxies (IP addresses) whose X-Forwarded-For names the client; from any other
    # peer the header is ignored.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Largest request body accepted (forms are small; a bigger one is refused with 413).
    max_body_bytes: int = Field(default=65_536, ge=1024, le=10_000_000)

    # /metrics: when set, a scrape must send "Authorization: Bearer <token>".
    metrics_token: SecretStr = SecretStr("")

    # Calendar feeds: feed name ("all", or an officer id) -> secret token in the feed URL.
    feeds: dict[str, SecretStr] = Field(default_factory=dict)
    feed_weeks: int = Field(default=8, ge=1, le=104)

    # Directory the recorded call-back messages live in (paths outside it are never served).
    recordings_dir: Path = Path("/var/spool/asterisk/recording")

    recent_calls: int = Field(default=25, ge=1, le=500)
    uncovered_weeks: int = Field(default=2, ge=1, le=26)

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return read_secret_files(data, ENV_PREFIX)
        return data

    @model_validator(mode="after")
    def _check(self) -> WebSettings:
        for name in self.users:
            if not name or len(name) > MAX_USER_NAME:
                raise ValueError(
                    f"{ENV_PREFIX}USERS: user name {name[:40]!r}… must be 1 to "
                    f"{MAX_USER_NAME} characters"
                )
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_address(proxy)
            except ValueError:
                raise ValueError(
                    f"{ENV_PREFIX}TRUSTED_PROXIES: {proxy!r} is not an IP address"
                ) from None
        if self.plain_http and self.enabled and not is_loopback_host(self.host):
            raise ValueError(
                f"{ENV_PREFIX}PLAIN_HTTP: cookies without Secure are only allowed when the web "
                f"listens on loopback, not on {self.host!r} (put a TLS proxy in front)"
            )
        return self

    @property
    def trusted(self) -> frozenset[str]:
        """The trusted proxies in canonical form."""
        return frozenset(str(ipaddress.ip_address(p)) for p in self.trusted_proxies)

    @property
    def base_url(self) -> str:
        """Where users reach the web: ``public_url``, else the address it listens on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
