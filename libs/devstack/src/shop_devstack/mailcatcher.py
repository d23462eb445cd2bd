"""The local stack's SMTP catcher: `shop-mailcatcher serve`, run by `shop-dev run` as a process of
its own (row `mail` of the status table).

It accepts every mail on 127.0.0.1:SMTP_PORT (aiosmtpd; no authentication, no relaying) and keeps
each as a file `<MAIL_DIR>/<received time>-<n>.eml`, so a developer reads the shop's mails with
`shop-dev mail`, any mail client, or the page on HTTP_PORT (newest first, one mail per link);
GET /readyz answers the launcher's probe. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import html
import itertools
import os
import signal
import sys
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiosmtpd.smtp import SMTP, Envelope, Session

from shop_devstack.layout import LOCAL_HOST

# Enough for any mail the shop writes; a larger one is refused (552) instead of filling the disk.
MAX_MAIL_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class StoredMail:
    path: Path
    received: float  # the file's time
    sender: str
    to: str
    subject: str

    @property
    def name(self) -> str:
        return self.path.name


def parse(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def read_mails(mail_dir: Path) -> list[StoredMail]:
    """The caught mails, oldest first."""
    found = []
    for path in sorted(mail_dir.glob("*.eml")):
        with contextlib.suppress(OSError):
            message = parse(path)
            found.append(
                StoredMail(
                    path,
                    path.stat().st_mtime,
                    str(message["From"] or ""),
                    str(message["To"] or ""),
                    str(message["Subject"] or ""),
                )
            )
    return found


def text_of(message: EmailMessage) -> str:
    """The plain-text body (or the HTML one when there is no plain text)."""
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


def show(mail_dir: Path, which: str | None, *, raw: bool = False, out: Any = None) -> int:
    """`shop-dev mail`: the list (number, time, to, subject), or one mail's headers and text."""
    out = out or sys.stdout
    mails = read_mails(mail_dir)
    if which is None:
        if not mails:
            print(f"no mail in {mail_dir} yet", file=out)
        for number, mail in enumerate(mails, 1):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mail.received))
            print(f"{number:4d}  {stamp}  {mail.to:<32}  {mail.subject}", file=out)
        return 0
    chosen = [m for m in mails if m.name == which]
    if not chosen and which.lstrip("-").isdigit() and mails:
        index = int(which)
        if -len(mails) <= index <= len(mails) and index != 0:
            chosen = [mails[index - 1 if index > 0 else index]]
    if not chosen:
        print(f"no mail {which} in {mail_dir} ({len(mails)} there)", file=sys.stderr)
        return 1
    path = chosen[0].path
    if raw:
        print(path.read_text(errors="replace"), file=out)
        return 0
    message = parse(path)
    for header in ("Date", "From", "To", "Subject", "Message-ID"):
        print(f"{header}: {message[header] or ''}", file=out)
    print(f"File: {path}\n\n{text_of(message)}", file=out)
    return 0


class Store:
    """aiosmtpd's handler: every mail becomes one file, written whole before it appears."""

    def __init__(self, mail_dir: Path):
        self.mail_dir = mail_dir
        self.counter = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{stamp}-{os.getpid()}-{next(self.counter):06d}.eml"
        partial = self.mail_dir / f".{name}.part"
        # The envelope, as a server would record it, ahead of the message itself.
        header = f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        partial.write_bytes(header.encode() + content)
        partial.rename(self.mail_dir / name)
        return "250 OK stored"


def page(mails: list[StoredMail]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(m.received)))}</td>"
        f"<td>{html.escape(m.to)}</td>"
        f'<td><a href="/mail/{html.escape(m.name)}">{html.escape(m.subject) or "(no subject)"}</a></td></tr>'
        for m in reversed(mails)
    )
    return (
        "<!doctype html><meta charset=utf-8><title>shop mail</title>"
        f"<h1>Mails caught by the local stack ({len(mails)})</h1>"
        f"<table><tr><th>received</th><th>to</th><th>subject</th></tr>{rows}</table>"
    )


async def _http(mail_dir: Path, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A page of the caught mails: GET / (the list), /mail/<file> (one, its HTML body, or its raw
    source with ?raw), /readyz and /healthz. Nothing else."""
    try:
        request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        method, target = request.split(b" ", 2)[:2]
        path, _, query = unquote(target.decode()).partition("?")
        status, kind, body = "404 Not Found", "text/plain", b"not found"
        if method != b"GET":
            status, body = "405 Method Not Allowed", b"GET only"
        elif path in ("/readyz", "/healthz"):
            status, body = "200 OK", b"ok"
        elif path == "/":
            status, kind, body = "200 OK", "text/html; charset=utf-8", page(read_mails(mail_dir)).encode()
        elif path.startswith("/mail/"):
            found = mail_dir / Path(path.removeprefix("/mail/")).name
            if found.suffix == ".eml" and found.is_file():
                message = parse(found)
                html_part = message.get_body(preferencelist=("html",))
                if query == "raw" or html_part is None:
                    status, kind, body = "200 OK", "text/plain; charset=utf-8", found.read_bytes()
                else:
                    status, kind, body = "200 OK", "text/html; charset=utf-8", html_part.get_content().encode()
        head = f"HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
        pass
    finally:
        writer.close()


async def serve(
    mail_dir: Path, smtp_port: int, http_port: int, host: str = LOCAL_HOST, stop: asyncio.Event | None = None
) -> None:
    """Until `stop` is set (by default: SIGINT or SIGTERM); `mail_dir` must exist."""
    store = Store(mail_dir)
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(
        lambda: SMTP(store, data_size_limit=MAX_MAIL_BYTES, hostname="shop-mailcatcher"), host, smtp_port
    )
    web = await asyncio.start_server(lambda r, w: _http(mail_dir, r, w), host, http_port)
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    print(
        f"mail catcher: SMTP on {host}:{smtp_port}, mails in {mail_dir}, page on http://{host}:{http_port}/",
        flush=True,
    )
    await stop.wait()
    for server in (smtp, web):
        server.close()
        await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    """`shop-mailcatcher serve`, configured by SMTP_PORT, HTTP_PORT, HTTP_HOST and MAIL_DIR."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["serve"]:
        raise SystemExit("usage: shop-mailcatcher serve   (SMTP_PORT, HTTP_PORT, HTTP_HOST, MAIL_DIR)")
    env = os.environ
    mail_dir = Path(env.get("MAIL_DIR", ".data/mail"))
    mail_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(
        serve(
            mail_dir,
            int(env.get("SMTP_PORT", "1025")),
            int(env.get("HTTP_PORT", "8025")),
            env.get("HTTP_HOST", LOCAL_HOST),
        )
    )
