"""Sending the report to a real SMTP server (aiosmtpd) started by the test.

Plain SMTP, and STARTTLS with login against a self-signed certificate the test makes with
openssl; the message and both attachments must arrive intact.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from callrouter.errors import ReportError
from callrouter.report.figures import (
    Figures,
    HourRow,
    Totals,
    UnitInfo,
)
from callrouter.report.periods import month_period
from callrouter.report.render import render_async
from callrouter.report.send import build_message, send_message, smtp_security
from callrouter.report.settings import ReportSettings
from tests.conftest import require_service

pytestmark = pytest.mark.integration

USER, PASSWORD = "ttyt-melinh", "mật-khẩu-thử"


class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False: aiosmtpd answers "535 … credentials invalid" itself on failure.
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        require_service("openssl", "needed to make a self-signed certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _figures() -> Figures:
    totals = Totals(received=12, answered=9, after_hours=2, abandoned=1, answered_within_sl=8)
    return Figures(
        generated_at=datetime(2026, 12, 5, 1, 0, tzinfo=UTC),
        unit=UnitInfo(name="TRUNG TÂM Y TẾ HUYỆN MÊ LINH", governing_body="UBND HUYỆN MÊ LINH"),
        branch=3,
        timezone="Asia/Ho_Chi_Minh",
        service_level_seconds=20,
        period=month_period("2026-11"),
        totals=totals,
        by_hour=[HourRow(hour=h, received=1 if h in (8, 9) else 0) for h in range(24)],
    )


def _settings(port: int, **kw: Any) -> ReportSettings:
    base: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "mail_from": "ttyt@melinh.example",
        "mail_to": ["vhtt@melinh.example", "syt@hanoi.example"],
        "smtp_timeout": 10.0,
    }
    base.update(kw)
    return ReportSettings(**base)


@pytest.fixture
def plain_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    cert, key = certificate
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    inbox, port = Inbox(), _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=ctx,
        require_starttls=True,
        auth_required=True,
        authenticator=_authenticator,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def _message(settings: ReportSettings) -> tuple[EmailMessage, bytes, bytes]:
    f = _figures()
    docx = await render_async(f, "docx", settings)
    xlsx = await render_async(f, "xlsx", settings)
    return build_message(f, settings, docx, xlsx), docx, xlsx


def _attachments(raw: bytes) -> dict[str, bytes]:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    out = {}
    for part in msg.iter_attachments():
        name = part.get_filename()
        payload = part.get_payload(decode=True)
        assert name is not None
        assert isinstance(payload, bytes)
        out[name] = payload
    return out


async def test_given_plain_smtp_server_then_message_with_docx_and_xlsx_arrives(
    plain_server: tuple[Inbox, int],
) -> None:
    inbox, port = plain_server
    settings = _settings(port)
    msg, docx, xlsx = await _message(settings)
    await send_message(msg, settings)
    assert len(inbox.messages) == 1
    sender, rcpts, raw = inbox.messages[0]
    assert sender == "ttyt@melinh.example"
    assert rcpts == ["vhtt@melinh.example", "syt@hanoi.example"]
    parsed = message_from_bytes(raw, policy=policy.default)
    assert "tháng 11 năm 2026" in str(parsed["Subject"])
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "nhận 12 cuộc gọi" in text
    assert "phản ánh, kiến nghị" in text  # section II leads the mail too
    assert "tệp số liệu JSON" in text  # the mail says what the JSON is for
    attached = _attachments(raw)
    assert set(attached) == {f"bao-cao-1022-2026-11.{x}" for x in ("docx", "xlsx", "json")}
    assert attached["bao-cao-1022-2026-11.docx"] == docx
    assert attached["bao-cao-1022-2026-11.xlsx"] == xlsx
    # The JSON attachment is what `report merge` reads at the receiving office.
    assert Figures.model_validate_json(attached["bao-cao-1022-2026-11.json"]) == _figures()
    assert docx[:2] == b"PK"
    assert xlsx[:2] == b"PK"


async def test_given_starttls_and_login_then_message_arrives_over_verified_tls(
    tls_server: tuple[Inbox, int], certificate: tuple[Path, Path]
) -> None:
    inbox, port = tls_server
    settings = _settings(
        port,
        smtp_security="starttls",
        smtp_user=USER,
        smtp_password=SecretStr(PASSWORD),
        smtp_ca_file=certificate[0],
    )
    msg, docx, xlsx = await _message(settings)
    await send_message(msg, settings)
    assert len(inbox.messages) == 1
    assert {docx, xlsx} <= set(_attachments(inbox.messages[0][2]).values())


async def test_given_wrong_password_then_clear_error_without_the_password(
    tls_server: tuple[Inbox, int], certificate: tuple[Path, Path]
) -> None:
    inbox, port = tls_server
    settings = _settings(
        port,
        smtp_security="starttls",
        smtp_user=USER,
        smtp_password=SecretStr("sai-mat-khau"),
        smtp_ca_file=certificate[0],
    )
    msg, _, _ = await _message(settings)
    with pytest.raises(ReportError, match="refused the login") as info:
        await send_message(msg, settings)
    assert "sai-mat-khau" not in str(info.value)
    assert inbox.messages == []


async def test_given_untrusted_certificate_then_sending_fails(
    tls_server: tuple[Inbox, int],
) -> None:
    inbox, port = tls_server
    settings = _settings(
        port, smtp_security="starttls", smtp_user=USER, smtp_password=SecretStr(PASSWORD)
    )
    msg, _, _ = await _message(settings)
    with pytest.raises(ReportError, match=r"SMTP 127\.0\.0\.1"):
        await send_message(msg, settings)
    assert inbox.messages == []


def test_given_no_recipients_then_message_is_refused() -> None:
    settings = _settings(25, mail_to=[])
    with pytest.raises(ReportError, match="no recipients"):
        build_message(_figures(), settings, b"PK", b"PK")


def test_given_password_file_then_settings_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "smtp"
    secret.write_text("bí-mật\n", encoding="utf-8")
    monkeypatch.setenv("CALLROUTER_REPORT_SMTP_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("CALLROUTER_REPORT_MAIL_TO", '["a@b.example"]')
    s = ReportSettings()
    assert s.smtp_password.get_secret_value() == "bí-mật"
    assert s.mail_to == ["a@b.example"]
    assert "bí-mật" not in repr(s)


@pytest.fixture
def implicit_tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    cert, key = certificate
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    inbox, port = Inbox(), _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        ssl_context=ctx,
        auth_required=True,
        # aiosmtpd only counts STARTTLS as TLS; this listener is TLS from the first byte.
        auth_require_tls=False,
        authenticator=_authenticator,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


# aiosmtpd warns about AUTH without STARTTLS; here the whole connection is TLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_given_implicit_tls_and_login_then_message_arrives(
    implicit_tls_server: tuple[Inbox, int], certificate: tuple[Path, Path]
) -> None:
    inbox, port = implicit_tls_server
    settings = _settings(
        port,
        smtp_security="tls",
        smtp_user=USER,
        smtp_password=SecretStr(PASSWORD),
        smtp_ca_file=certificate[0],
    )
    msg, docx, xlsx = await _message(settings)
    await send_message(msg, settings)
    assert len(inbox.messages) == 1
    assert {docx, xlsx} <= set(_attachments(inbox.messages[0][2]).values())


async def test_given_a_password_over_plain_smtp_then_every_send_warns_loudly() -> None:
    inbox, port = Inbox(), _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        auth_require_tls=False,  # the careless relay the warning is about
        authenticator=_authenticator,
    )
    controller.start()
    try:
        settings = _settings(
            port, smtp_security="none", smtp_user=USER, smtp_password=SecretStr(PASSWORD)
        )
        msg, _, _ = await _message(settings)
        with structlog.testing.capture_logs() as logs:
            await send_message(msg, settings)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    warned = [e for e in logs if e["event"] == "report.smtp_password_in_clear"]
    assert len(warned) == 1
    assert warned[0]["log_level"] == "warning"
    assert "STARTTLS" in warned[0]["hint"].upper()
    assert PASSWORD not in repr(logs)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 25, "none"),
        ("localhost", 25, "none"),
        ("mail.donvi.example", 587, "starttls"),
        ("mail.donvi.example", 25, "starttls"),
        ("192.0.2.10", 465, "tls"),
    ],
)
def test_given_no_security_setting_then_only_a_loopback_relay_gets_plain_smtp(
    host: str, port: int, expected: str
) -> None:
    settings = ReportSettings(_env_file=None, smtp_host=host, smtp_port=port)
    assert settings.smtp_security == "auto"
    assert smtp_security(settings) == expected
