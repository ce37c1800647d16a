"""The notifier interface and its e-mail implementation.

A :class:`Notifier` delivers one message to one recipient and raises
:class:`DeliveryError` (``permanent`` when retrying cannot help). E-mail goes through the
report's SMTP client and settings (:func:`callrouter.report.send.send_message`,
``CALLROUTER_REPORT_SMTP_*``, sender ``CALLROUTER_REPORT_MAIL_FROM``); an SMS or chat channel
is another class with the same ``send``.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import aiosmtplib

from callrouter.errors import CallrouterError, ReportError
from callrouter.report.send import send_message
from callrouter.report.settings import ReportSettings


class DeliveryError(CallrouterError):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Notifier(Protocol):
    async def send(self, recipient: str, subject: str, body: str, ics: str | None) -> None: ...


def _permanent(exc: ReportError) -> bool:
    """A 5xx answer (a refused recipient or message) will not pass by retrying; the report's
    client keeps the SMTP exception as the error's context."""
    cause = exc.__context__
    if isinstance(cause, aiosmtplib.SMTPRecipientsRefused):
        return all(r.code >= 500 for r in cause.recipients)
    if isinstance(cause, aiosmtplib.SMTPAuthenticationError):
        return False  # a configuration fault: fixed by the admin, then delivered
    if isinstance(cause, aiosmtplib.SMTPResponseException):
        return cause.code >= 500
    return False


class EmailNotifier:
    def __init__(self, settings: ReportSettings) -> None:
        self.settings = settings

    def message(self, recipient: str, subject: str, body: str, ics: str | None) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = self.settings.mail_from
        msg["To"] = recipient
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.settings.mail_from.rpartition("@")[2] or None)
        msg.set_content(body + "\n-- \nThư được gửi tự động bởi callrouter.\n")
        if ics is not None:
            msg.add_attachment(
                ics.encode(),
                maintype="text",
                subtype="calendar",
                filename="ca-truc-1022.ics",
                params={"method": "PUBLISH"},
            )
        return msg

    async def send(self, recipient: str, subject: str, body: str, ics: str | None) -> None:
        msg = self.message(recipient, subject, body, ics)
        one = self.settings.model_copy(update={"mail_to": [recipient]})
        try:
            await send_message(msg, one)
        except ReportError as exc:
            raise DeliveryError(str(exc), permanent=_permanent(exc)) from None
