"""E-mail the report over SMTP from asyncio (aiosmtplib): DOCX, XLSX and the JSON the
receiving office merges (``callrouter report merge``), attached.

Security: ``none`` (plain, for a relay on localhost), ``starttls`` (upgrade, usually port 587)
or ``tls`` (implicit TLS, usually port 465); ``auto`` (the default) is plain only to a relay
on loopback, implicit TLS on port 465 and STARTTLS otherwise. Login when a user is
configured. The certificate is verified against the system CAs plus ``smtp_ca_file`` when
given. The password is never logged, and a password that would cross the wire in clear
(``none`` to another host, or any plain login) is a loud warning on every send.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
import structlog

from callrouter.errors import ReportError
from callrouter.report.figures import Figures, Period
from callrouter.report.settings import ReportSettings
from callrouter.report.words import subject, summary_paragraphs
from callrouter.settings import is_loopback_host

log = structlog.get_logger(__name__)

DOCX_TYPE = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def period_stem(period: Period) -> str:
    """The files' name for a period: bao-cao-1022-2026-12, or its dates for an ad-hoc one."""
    if period.month:
        return f"bao-cao-1022-{period.month}"
    return f"bao-cao-1022-{period.start:%Y%m%d}-{period.end:%Y%m%d}"


def attachment_stem(f: Figures) -> str:
    return period_stem(f.period)


def build_message(
    f: Figures, settings: ReportSettings, docx: bytes, xlsx: bytes, json: bytes | None = None
) -> EmailMessage:
    if not settings.mail_to:
        raise ReportError(
            "no recipients: set CALLROUTER_REPORT_MAIL_TO, e.g. '[\"vhtt@example.gov.vn\"]'"
        )
    msg = EmailMessage()
    msg["Subject"] = subject(f)
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(settings.mail_to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    body = [
        "Kính gửi: " + "; ".join(settings.addressees or [settings.value("addressees")]) + ",",
        "",
        f"{settings.value('unit_name')} gửi báo cáo {subject(f)[0].lower()}{subject(f)[1:]}.",
        "",
        *summary_paragraphs(f),
        "",
        "Tệp đính kèm: báo cáo (Word), số liệu (Excel) và tệp số liệu JSON để cơ quan nhận "
        "tổng hợp báo cáo của các đơn vị (callrouter report merge).",
        "",
        "-- ",
        "Thư được gửi tự động bởi callrouter.",
    ]
    msg.set_content("\n".join(body))
    stem = attachment_stem(f)
    msg.add_attachment(docx, maintype=DOCX_TYPE[0], subtype=DOCX_TYPE[1], filename=f"{stem}.docx")
    msg.add_attachment(xlsx, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=f"{stem}.xlsx")
    data = json if json is not None else f.to_json().encode()
    msg.add_attachment(data, maintype="application", subtype="json", filename=f"{stem}.json")
    return msg


def notice_message(settings: ReportSettings, subject_line: str, lines: list[str]) -> EmailMessage:
    """A short notice to the clerk (a draft to approve, a reminder), no attachment."""
    if not settings.clerk_mail_to:
        raise ReportError("no clerk to notify: set CALLROUTER_REPORT_CLERK_MAIL_TO (a JSON list)")
    msg = EmailMessage()
    msg["Subject"] = subject_line
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(settings.clerk_mail_to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    msg.set_content("\n".join([*lines, "", "-- ", "Thư được gửi tự động bởi callrouter."]))
    return msg


def _tls_context(settings: ReportSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if settings.smtp_ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=str(settings.smtp_ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ReportError(f"{settings.smtp_ca_file}: cannot load CA file: {exc}") from None
    return ctx


def smtp_security(settings: ReportSettings) -> str:
    """The security actually used: ``auto`` resolved (plain only to a loopback relay)."""
    if settings.smtp_security != "auto":
        return settings.smtp_security
    if is_loopback_host(settings.smtp_host):
        return "none"
    return "tls" if settings.smtp_port == 465 else "starttls"


async def send_message(msg: EmailMessage, settings: ReportSettings) -> None:
    """Deliver ``msg``; a :class:`ReportError` with the server's reason on failure."""
    security = smtp_security(settings)
    tls_context = _tls_context(settings) if security != "none" else None
    user = settings.smtp_user or None
    password = settings.smtp_password.get_secret_value() or None if user else None
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    if password and security == "none":
        log.warning(
            "report.smtp_password_in_clear",
            smtp=where,
            loopback=is_loopback_host(settings.smtp_host),
            hint="the SMTP password is sent without encryption: set "
            "CALLROUTER_REPORT_SMTP_SECURITY=starttls (or tls), or use a relay on this host",
        )
    try:
        await aiosmtplib.send(
            msg,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=user,
            password=password,
            use_tls=security == "tls",
            start_tls=security == "starttls",
            tls_context=tls_context,
            timeout=settings.smtp_timeout,
        )
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise ReportError(
            f"SMTP {where} refused the login for {user!r}: {exc.code} {exc.message}"
        ) from None
    except aiosmtplib.SMTPResponseException as exc:
        raise ReportError(f"SMTP {where} refused the message: {exc.code} {exc.message}") from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise ReportError(f"SMTP {where}: {type(exc).__name__}: {exc}") from None
    log.info(
        "report.sent",
        to=len(str(msg["To"]).split(",")),
        smtp=where,
        security=security,
        subject=str(msg["Subject"]),
    )
