"""The HTTP client's side of mutual TLS (`shopkit.httptls`): no files, no context; some files, an
error; all of them, a context that trusts the shop's CA alone and presents the process's certificate
to a real server that requires one."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopkit import httptls, pki
from shopkit.settings import ServiceSettings
from shopkit.tls import TlsSettingsError


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pki.Issued]:
    return pki.issue(tmp_path_factory.mktemp("pki"), ["server", "checkout"])


def settings_of(files: pki.Issued, **overrides: str) -> ServiceSettings:
    fields: dict[str, Any] = {key.lower(): value for key, value in files.environment().items()}
    return ServiceSettings(**{**fields, **overrides})


def test_without_tls_files_there_is_no_context() -> None:
    assert httptls.client_context(ServiceSettings()) is None


def test_some_or_unreadable_files_are_an_error(issued: dict[str, pki.Issued], tmp_path: Path) -> None:
    with pytest.raises(TlsSettingsError, match="all of"):
        httptls.client_context(ServiceSettings(tls_cert_file=str(issued["checkout"].cert_file)))
    with pytest.raises(TlsSettingsError):
        httptls.client_context(settings_of(issued["checkout"], tls_key_file=str(tmp_path / "missing.pem")))
    with pytest.raises(TlsSettingsError, match="cannot load"):  # a key that is not the certificate's
        httptls.context_for(issued["checkout"].cert_file, issued["server"].key_file, issued["checkout"].ca_file)


async def test_the_context_presents_the_certificate_and_checks_the_server(issued: dict[str, pki.Issued]) -> None:
    context = httptls.client_context(settings_of(issued["checkout"]))
    assert context is not None and (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)

    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(issued["server"].ca_file))
    server_side.load_cert_chain(issued["server"].cert_file, issued["server"].key_file)
    server_side.verify_mode = ssl.CERT_REQUIRED
    seen: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        subject = dict(item[0] for item in writer.get_extra_info("peercert")["subject"])
        seen.append(subject["commonName"])
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_side)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(verify=context) as client:
            response = await client.get(f"https://127.0.0.1:{port}/")
        # The system's roots are not trusted: a client without the shop's CA refuses this server.
        async with httpx.AsyncClient() as stranger:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await stranger.get(f"https://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()
    assert (response.status_code, response.text, seen) == (200, "ok", ["checkout"])
