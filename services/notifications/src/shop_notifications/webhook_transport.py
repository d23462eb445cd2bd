"""The webhook sender's HTTP transport: the address it connects to is the address it checked.

Checking a name and then letting the HTTP client resolve it again leaves a gap (DNS rebinding: a
name that answers a public address to the check and a private one to the connection). Here the
network backend resolves the name itself, refuses it when any address is not public, and dials a
checked address; TLS still verifies the certificate against the name (httpcore takes the server
name from the request, not from the socket).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable

import httpcore
import httpx

from shop_notifications.webhook_domain import TargetRefused

# A name and a port to the addresses they resolve to.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def public_addresses(host: str, port: int, resolver: Resolver = resolve) -> list[str]:
    """The addresses of `host`; TargetRefused when any of them is not public (an attacker's name may
    mix a public and a private answer, and the client would try them in turn)."""
    addresses = await resolver(host, port)
    if not addresses:
        raise TargetRefused(f"cannot resolve {host}")
    for address in addresses:
        if not ipaddress.ip_address(address).is_global:
            raise TargetRefused(f"{host} resolves to a non-public address ({address})")
    return addresses


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, but a connection goes only to a checked public address."""

    def __init__(self, resolver: Resolver = resolve, inner: httpcore.AsyncNetworkBackend | None = None):
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: httpcore.ConnectError | None = None
        for address in await public_addresses(host, port, self.resolver):
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("webhooks are sent over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def webhook_client(timeout: float, *, allow_private: bool, resolver: Resolver = resolve) -> httpx.AsyncClient:
    """The sender's client: no redirects (a public endpoint must not bounce the POST inward), no
    proxy from the environment, and outside development only public addresses."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    if not allow_private:
        # httpx 0.28 takes no network backend (encode/httpx#3180); the pool it wraps does.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=PublicOnlyBackend(resolver),
        )
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False, transport=transport)
