"""The local SMTP catcher keeps each mail it is sent as one .eml file, lists and prints them
(`shop-dev mail`), and shows them on its page with everything escaped."""

from __future__ import annotations

import asyncio
import io
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from shop_devstack.mailcatcher import read_mails, serve, show
from shopkit.testing import free_port


async def http_get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split(" ")[1]), body


async def test_mails_are_kept_listed_and_shown(tmp_path: Path) -> None:
    smtp_port, http_port = free_port(), free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(tmp_path, smtp_port, http_port, stop=stop))
    try:
        await asyncio.sleep(0.3)
        message = EmailMessage()
        message["From"] = "Shop <orders@shop.example>"
        message["To"] = "ada@example.com"
        message["Subject"] = "Your order SO-000001 is confirmed <b>"
        message.set_content("Thank you for your order SO-000001.")
        message.add_alternative("<p>Thank you</p>", subtype="html")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=smtp_port)
        [mail] = read_mails(tmp_path)
        assert (mail.to, mail.subject) == ("ada@example.com", "Your order SO-000001 is confirmed <b>")
        assert mail.path.suffix == ".eml"

        listed, one = io.StringIO(), io.StringIO()
        assert show(tmp_path, None, out=listed) == 0
        assert "ada@example.com" in listed.getvalue() and "SO-000001" in listed.getvalue()
        assert show(tmp_path, "-1", out=one) == 0
        assert "Subject: Your order SO-000001 is confirmed <b>" in one.getvalue()
        assert "Thank you for your order SO-000001." in one.getvalue()
        assert show(tmp_path, "7", out=io.StringIO()) == 1

        assert (await http_get(http_port, "/readyz"))[0] == 200
        status, page = await http_get(http_port, "/")
        assert status == 200 and "confirmed &lt;b&gt;" in page and f"/mail/{mail.name}" in page
        status, html = await http_get(http_port, f"/mail/{mail.name}")
        assert (status, html.strip()) == (200, "<p>Thank you</p>")
        assert (await http_get(http_port, "/mail/..%2F..%2Fetc%2Fpasswd"))[0] == 404
    finally:
        stop.set()
        await task
