"""Putting a mail on the wire with aiosmtplib, and which failures are worth another attempt.

Sessions are kept open between mails (up to `max_idle_sessions`, each for `idle_seconds`): a session
per mail cost a TCP connection, the greeting, EHLO (and a TLS handshake and a login where configured)
for every order. A session that failed in any way is closed, never reused; a kept session that the
server dropped meanwhile is replaced once before the mail counts as failed."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
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
        max_idle_sessions: int = 4,
        idle_seconds: float = 30.0,
        local_hostname: str | None = None,
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
        self.max_idle_sessions = max_idle_sessions
        self.idle_seconds = idle_seconds
        # Looked up once: left to aiosmtplib, every new session asks getfqdn() in a worker thread.
        self.local_hostname = local_hostname or socket.getfqdn()
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # (session, monotonic time it went idle)

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
        message = self.message(mail)
        try:
            session, kept = await self._session()
            try:
                await self._send_on(session, message)
            except aiosmtplib.SMTPServerDisconnected:
                if not kept:
                    raise
                # A kept session the server ended while it sat idle: once more on a new one (should
                # the server have taken the mail after all, the copy has the same Message-ID).
                session = await self._connect()
                await self._send_on(session, message)
            self._keep(session)
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

    async def _send_on(self, session: aiosmtplib.SMTP, message: EmailMessage) -> None:
        """Send on this session; a session that failed in any way is closed, never kept."""
        try:
            await session.send_message(message)
        except BaseException:
            session.close()
            raise

    async def _session(self) -> tuple[aiosmtplib.SMTP, bool]:
        """A kept session that is still fresh (True), else a new one (False)."""
        now = time.monotonic()
        while self._idle:
            session, since = self._idle.pop()
            if session.is_connected and now - since < self.idle_seconds:
                return session, True
            session.close()
        return await self._connect(), False

    async def _connect(self) -> aiosmtplib.SMTP:
        session = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username or None,
            password=self.password or None,
            # Required, not opportunistic: a configured STARTTLS that the server does not offer fails.
            start_tls=self.starttls if not self.implicit_tls else False,
            use_tls=self.implicit_tls,
            tls_context=self.tls_context,
            timeout=self.timeout,
            local_hostname=self.local_hostname,
        )
        await session.connect()
        return session

    def _keep(self, session: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.max_idle_sessions and session.is_connected:
            self._idle.append((session, time.monotonic()))
        else:
            session.close()

    async def close(self) -> None:
        """End the kept sessions politely (QUIT); a server that does not answer is just cut off."""
        sessions, self._idle = [session for session, _ in self._idle], []
        for session in sessions:
            try:
                async with asyncio.timeout(2.0):
                    await session.quit()
            except Exception:  # closing anyway (a TimeoutError too)
                session.close()
