"""The payment provider's public face, reached the way a shopper's browser reaches it: tokenising a
card at the sandbox (SHOP_SANDBOX_URL) without a client certificate.

The sandbox has a public face (tokenising a card: any client) and a server face (reading payment
methods, authorising, capturing, ...: the shop's own processes, with their certificates). The load
generator has no certificate and needs none: it only tokenises; checkout authorises through the
gateway. Over https (the sandbox in a cluster) it verifies the server: against SHOP_SANDBOX_CA_FILE
alone when that is set (the shop's CA, e.g. `ca.crt` of the sandbox's certificate Secret), else
against the usual public roots. Bad settings stop locust at start with the reason.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import gevent.ssl  # type: ignore[import-untyped]  # no stubs installed
from locust import User
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment

from shop_load.config import SANDBOX_CA_FILE, SANDBOX_URL


class SandboxSettingsError(ValueError):
    """SHOP_SANDBOX_URL and SHOP_SANDBOX_CA_FILE do not fit together, or the CA file is unreadable."""


def server_context(url: str, ca_file: str) -> ssl.SSLContext | None:
    """The context that verifies the sandbox: None for http, the CA file alone when given."""
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise SandboxSettingsError(f"SHOP_SANDBOX_URL must be http:// or https://, not {url!r}")
    if scheme == "http":
        if ca_file:
            raise SandboxSettingsError("SHOP_SANDBOX_CA_FILE is set but SHOP_SANDBOX_URL is not https://")
        return None
    if not ca_file:
        return None  # the default: public roots
    try:
        # gevent's SSLContext: geventhttpclient's sockets are gevent's. No certificate of its own.
        context: ssl.SSLContext = gevent.ssl.create_default_context(cafile=ca_file)
        return context
    except (OSError, ssl.SSLError) as error:
        raise SandboxSettingsError(f"SHOP_SANDBOX_CA_FILE {ca_file!r}: cannot load it: {error}") from error


def _trusting(context: ssl.SSLContext) -> Callable[..., ssl.SSLContext]:
    def factory(**_: Any) -> ssl.SSLContext:
        # geventhttpclient passes `cafile=` (certifi's bundle): ignored, only the CA file is trusted.
        return context

    return factory


# Checked when the locustfile is imported: a wrong setting stops the run before any user starts.
CONTEXT = server_context(SANDBOX_URL, SANDBOX_CA_FILE)


def session(environment: Environment, user: User | None, **options: Any) -> FastHttpSession:
    """An HTTP session to the sandbox whose requests report to locust like the user's own client.
    With https it verifies the server's certificate and name (never `insecure`)."""
    return FastHttpSession(
        base_url=SANDBOX_URL,
        request_event=environment.events.request,
        user=user,
        insecure=False,
        ssl_context_factory=_trusting(CONTEXT) if CONTEXT is not None else None,
        **options,
    )
