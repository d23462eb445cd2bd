"""Mutual TLS for HTTP clients (httpx): the counterpart of `tls.Tls.channel_credentials` for a
process that calls a peer over HTTPS (checkout and order calling the payment provider).

    context = httptls.client_context(settings)  # None without TLS files: plain HTTP to a loopback peer
    httpx.AsyncClient(base_url=url, verify=context if context is not None else True)

The context trusts the shop's CA alone (TLS_CA_FILE, not the system's roots), checks the server's
name against the URL's host, and presents the process's certificate (TLS_CERT_FILE, TLS_KEY_FILE),
whose Common Name is the caller's identity. Build it once per process: every connection of a client
shares it. Python's ssl loads a certificate chain only from files, so the files are read by path.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from shopkit import tls
from shopkit.settings import ServiceSettings


def context_for(cert_file: str | Path, key_file: str | Path, ca_file: str | Path) -> ssl.SSLContext:
    """An SSL context for a client that verifies servers against `ca_file` and presents `cert_file`."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
        context.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as error:
        raise tls.TlsSettingsError(f"cannot load the TLS files: {error}") from error
    return context


def client_context(settings: ServiceSettings) -> ssl.SSLContext | None:
    """The process's client context, or None when none of the TLS files is set (plain HTTP).
    Raises `tls.TlsSettingsError` when only some of them are set or they cannot be read."""
    if tls.from_settings(settings) is None:
        return None
    return context_for(settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file)
