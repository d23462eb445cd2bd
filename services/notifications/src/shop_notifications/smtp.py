"""Putting a mail on the wire: one SMTP session per mail with aiosmtplib, and which failures are
worth another attempt."""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from shop_notifications.store import Outgoing


class PermanentFailure(Exception):
    """The server refused this mail for good (a 5xx answer to it): another attempt would fail alike."""


class Mailer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        implicit_tls: bool = False,
        timeout: float = 15.0,
        tls_context: ssl.SSLContext | None = None,
    ):
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.timeout = timeout
        self.tls_context = tls_context

    def message(self, mail: Outgoing) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        # The same on every attempt (chosen when the mail was written): a resend after a crash between
        # the server's acceptance and our record of it is one mail to the reader's client.
        message["Message-ID"] = mail.message_id
        message["X-Shop-Notification"] = mail.kind
        message["X-Shop-Order-Id"] = mail.order_id
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        return message

    async def send(self, mail: Outgoing) -> None:
        """Deliver to the SMTP server. PermanentFailure for a 5xx refusal of the mail itself; any other
        exception (unreachable, timeouts, 4xx, the server's own authentication trouble) may pass."""
        try:
            await aiosmtplib.send(
                self.message(mail),
                hostname=self.host,
                port=self.port,
                username=self.username or None,
                password=self.password or None,
                # Required, not opportunistic: a configured STARTTLS that the server does not offer fails.
                start_tls=self.starttls if not self.implicit_tls else False,
                use_tls=self.implicit_tls,
                tls_context=self.tls_context,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPAuthenticationError:
            raise  # our credentials, not the mail: retried until an operator fixes them
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentFailure(f"recipient refused: {exc}") from exc
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600 and not isinstance(exc, aiosmtplib.SMTPServerDisconnected):
                raise PermanentFailure(f"{exc.code} {exc.message}") from exc
            raise
