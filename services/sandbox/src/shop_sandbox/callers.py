"""Who may call the API, by the client's certificate (mutual TLS).

With TLS files set, the server takes only clients with a certificate of the shop's CA (the TLS
handshake refuses the rest), and the Common Name of that certificate is the caller's identity. Only
checkout and order (the shop's payment flows) and tooling (operators, seeding, tests) may call the
API; the probes, `/metrics` and the API's documentation take any certificate of the CA. Every other
path, `/v1/...` and any route added later, is refused to other identities with 403
`caller_not_allowed`. Without TLS (plain HTTP, on a loopback address only: tests in one process)
no identity exists and nothing is checked, like the gRPC servers' allow-lists (`shopkit.access`).

uvicorn does not hand the peer's certificate to the application: its scope has no ASGI `tls`
extension. `TlsH11Protocol`, uvicorn's h11 protocol (one instance per connection), adds that
extension as the ASGI spec defines it, once per connection, from the connection's `ssl_object`
after the handshake; `CallerCheck` reads the Common Name from it. The extension's
`client_cert_chain` holds the client's own certificate only (Python's ssl gives no verified chain
before 3.13), and `server_cert` and `cipher_suite` are None (not known).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import Any, cast

from cryptography import x509
from cryptography.x509.oid import NameOID
from uvicorn.protocols.http.h11_impl import H11Protocol

from shop_sandbox.errors import CallerNotAllowed
from shopkit.http import ASGIApp, Message, Receive, Scope, Send
from shopkit.problems import ProblemResponse

# The identities (certificate Common Names) that may call the API.
API_CALLERS = frozenset({"checkout", "order", "tooling"})
# Paths any certificate of the shop's CA may reach: probes, the scrape, the API's documentation.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI `tls` scope extension of a connection whose handshake is done."""
    der = ssl_object.getpeercert(binary_form=True)
    certificate = x509.load_der_x509_certificate(der) if der else None
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": certificate.subject.rfc4514_string() if certificate else None,
        "client_cert_error": None,  # the handshake refused every certificate that failed verification
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol whose requests on a TLS connection carry the ASGI `tls` extension.

    It also closes TLS connections without waiting on the client: closing a TLS connection
    gracefully waits for the client's close_notify, which a client holding the connection idle in
    its pool (httpx) only reads on its next request; every shutdown would then last the whole
    grace period. So an idle connection is dropped (its answers went out), and a response that
    completes during the shutdown says `Connection: close`, so that the client closes it."""

    _closing = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.app = cast(Any, self._with_extension(cast(ASGIApp, self.app), tls_extension(ssl_object)))

    def _with_extension(self, app: ASGIApp, extension: dict[str, Any]) -> ASGIApp:
        async def with_tls(scope: Scope, receive: Receive, send: Send) -> None:
            async def send_closing(message: Message) -> None:
                if message["type"] == "http.response.start" and self._closing:
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
                await send(message)

            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": extension}
            await app(scope, receive, send_closing)

        return with_tls

    def _idle(self) -> bool:
        answered = self.cycle is None or self.cycle.response_complete
        return answered and self.transport.get_write_buffer_size() == 0

    def shutdown(self) -> None:
        self._closing = True
        if self._idle():
            self.transport.abort()
        else:
            super().shutdown()

    def timeout_keep_alive_handler(self) -> None:
        if self._idle():
            self.transport.abort()
        else:
            super().timeout_keep_alive_handler()


def peer_identity(scope: Scope) -> str | None:
    """The Common Name of the client's certificate; None without TLS or without a name."""
    extension = (scope.get("extensions") or {}).get("tls") or {}
    name = extension.get("client_cert_name")
    return _common_name(name) if isinstance(name, str) else None


@functools.lru_cache(maxsize=64)  # a handful of identities, parsed once each
def _common_name(distinguished_name: str) -> str | None:
    names = x509.Name.from_rfc4514_string(distinguished_name).get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


class CallerCheck:
    """ASGI middleware: outside `OPEN_PATHS`, only the identities in `allowed` get through."""

    def __init__(self, app: ASGIApp, *, allowed: frozenset[str]):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            identity = peer_identity(scope)
            if identity not in self.allowed:
                who = identity or "a client without a certificate name"
                error = CallerNotAllowed(f"{who} may not call the payment API", caller=identity or "")
                await ProblemResponse(error.body(), status_code=error.status)(scope, receive, send)
                return
        await self.app(scope, receive, send)
