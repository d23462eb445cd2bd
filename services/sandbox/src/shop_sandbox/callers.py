"""Who may call what, by the client's certificate (mutual TLS): the provider's two faces.

A card processor has a public face (a shopper's browser tokenises a card with a publishable key and
no client certificate) and a server face (authorise, capture, void, refund, reading payment methods
and authorizations: the shop's own processes alone). With TLS files set, the TLS handshake asks every client for a
certificate but does not require one (CERT_OPTIONAL); a certificate that is presented must chain to
TLS_CA_FILE, else the handshake fails (OpenSSL verifies whatever the peer presents). The
certificate's Common Name is the caller's identity. `face` sorts each request by method and path:

- PUBLIC_ROUTES (tokenise a card, complete a 3-D Secure challenge with its client secret, the probes,
  the API's documentation): any client, with or without a certificate. Reading a payment method is
  not public: it shows the card's brand, last four digits, expiry and fingerprint, which a provider
  shows its merchant's servers, not whoever holds the id;
- CERTIFICATE_ROUTES (`/metrics`): any certificate of the shop's CA (the scrape);
- everything else, `/v1/...`, unknown paths and any route added later (fail-closed: a route is of
  the server face unless listed above): a certificate named checkout, order or tooling. Without a
  certificate 401 `client_certificate_required`, with another name 403 `caller_not_allowed`.

Without TLS (plain HTTP, on a loopback address only: tests in one process) no identity exists and
nothing is checked, like the gRPC servers' allow-lists (`shopkit.access`).

uvicorn does not hand the peer's certificate to the application: its scope has no ASGI `tls`
extension. `TlsH11Protocol`, uvicorn's h11 protocol (one instance per connection), adds that
extension as the ASGI spec defines it, once per connection, from the connection's `ssl_object`
after the handshake; `CallerCheck` reads the certificate and its Common Name from it. The
extension's `client_cert_chain` holds the client's own certificate only (Python's ssl gives no
verified chain before 3.13), and `server_cert` and `cipher_suite` are None (not known).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import re
import ssl
from typing import Any, cast

from cryptography import x509
from cryptography.x509.oid import NameOID
from starlette.routing import compile_path
from uvicorn.protocols.http.h11_impl import H11Protocol

from shop_sandbox.errors import ApiError, CallerNotAllowed, ClientCertificateRequired
from shopkit.http import ASGIApp, Message, Receive, Scope, Send

# The identities (certificate Common Names) that may call the server face.
API_CALLERS = frozenset({"checkout", "order", "customers", "tooling"})

_READ = ("GET", "HEAD")
_OPEN_PAGES = ("/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
# (method, path template) of the public face: no certificate needed. The templates are the routes'.
PUBLIC_ROUTES = frozenset(
    {
        ("POST", "/v1/payment_methods"),  # tokenise a card, as a shopper's browser does
        # the customer's client completes a 3-D Secure challenge; the client secret is the capability
        ("POST", "/v1/authorizations/{authorization_id}/challenge"),
        *((method, path) for path in _OPEN_PAGES for method in _READ),  # probes, the API's documentation
    }
)
# Any certificate of the shop's CA, whatever its name: Prometheus scraping with one of its own.
CERTIFICATE_ROUTES = frozenset((method, "/metrics") for method in _READ)
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI `tls` scope extension of a connection whose handshake is done."""
    der = ssl_object.getpeercert(binary_form=True)
    certificate = x509.load_der_x509_certificate(der) if der else None
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": certificate.subject.rfc4514_string() if certificate else None,
        # None: the handshake refuses a presented certificate that fails verification (CERT_OPTIONAL too).
        "client_cert_error": None,
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


class Face(enum.Enum):
    """Who may reach a route (see the module's docstring)."""

    PUBLIC = "public"  # any client
    CERTIFICATE = "certificate"  # any certificate of the shop's CA
    SERVER = "server"  # a certificate named in API_CALLERS


def _pattern(template: str) -> re.Pattern[str]:
    regex, _, _ = compile_path(template)  # as the router matches it: a parameter is one segment
    return regex


_FACES: list[tuple[str, re.Pattern[str], Face]] = [
    *((method, _pattern(path), Face.PUBLIC) for method, path in sorted(PUBLIC_ROUTES)),
    *((method, _pattern(path), Face.CERTIFICATE) for method, path in sorted(CERTIFICATE_ROUTES)),
]


def face(method: str, path: str) -> Face:
    """The face a request (or a route: its path template) belongs to; SERVER unless listed."""
    for listed, pattern, found in _FACES:
        if method == listed and pattern.fullmatch(path):
            return found
    return Face.SERVER


def _tls(scope: Scope) -> dict[str, Any]:
    extension: dict[str, Any] = (scope.get("extensions") or {}).get("tls") or {}
    return extension


def has_certificate(scope: Scope) -> bool:
    """Whether the client presented a certificate (the handshake verified it against TLS_CA_FILE)."""
    return bool(_tls(scope).get("client_cert_chain"))


def peer_identity(scope: Scope) -> str | None:
    """The Common Name of the client's certificate; None without TLS, a certificate or a name."""
    name = _tls(scope).get("client_cert_name")
    return _common_name(name) if isinstance(name, str) else None


@functools.lru_cache(maxsize=64)  # a handful of identities, parsed once each
def _common_name(distinguished_name: str) -> str | None:
    names = x509.Name.from_rfc4514_string(distinguished_name).get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


class CallerCheck:
    """ASGI middleware, before routing and parsing: the public face lets anyone through, `/metrics`
    any certificate, the server face only certificates named in `allowed`."""

    def __init__(self, app: ASGIApp, *, allowed: frozenset[str]):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = self.refusal(scope) if scope["type"] == "http" else None
        if refused is not None:
            await refused.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> ApiError | None:
        reached = face(scope["method"], scope["path"])
        if reached is Face.PUBLIC:
            return None
        if not has_certificate(scope):
            what = "the payment API" if reached is Face.SERVER else scope["path"]
            return ClientCertificateRequired(f"{what} takes only clients with a certificate of the shop's CA")
        identity = peer_identity(scope)
        if reached is Face.SERVER and identity not in self.allowed:
            who = identity or "a client without a certificate name"
            return CallerNotAllowed(f"{who} may not call the payment API", caller=identity or "")
        return None
