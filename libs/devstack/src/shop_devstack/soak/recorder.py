"""Every HTTP request the soak's visitors send, timed at the transport: when it started, how long until
the answer's headers came, its status (0 when no answer came) and the error it raised, if any.

The recorder sits under the visitors' client, so retries a visitor makes on its own (the chaos suite's
storefront retries a 5xx) are each recorded: a 5xx that a retry hid is still an error of the run.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

import httpx

SERVER_ERROR = 500


@dataclass(frozen=True)
class Request:
    started: float  # time.monotonic()
    seconds: float
    route: str  # method and path with ids left out, e.g. `GET /v1/checkout/{id}`
    status: int  # 0: no answer (the error says why)
    error: str = ""  # the transport's exception (ConnectError, ReadTimeout ...)

    @property
    def server_error(self) -> bool:
        return self.status == 0 or self.status >= SERVER_ERROR


def route_of(request: httpx.Request) -> str:
    """`POST /v1/cart/items`; path segments holding ids become `{id}` so that routes group."""
    parts = [
        "{id}" if any(ch.isdigit() for ch in part) and part != "v1" else part for part in request.url.path.split("/")
    ]
    return f"{request.method} {'/'.join(parts)}"


class Recorder(httpx.AsyncBaseTransport):
    """An httpx transport that times every request it passes on and keeps the records."""

    def __init__(self, inner: httpx.AsyncBaseTransport):
        self.inner = inner
        self.requests: list[Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.HTTPError as error:
            self.requests.append(
                Request(started, time.monotonic() - started, route_of(request), 0, type(error).__name__)
            )
            raise
        self.requests.append(Request(started, time.monotonic() - started, route_of(request), response.status_code))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def recording_client(max_connections: int, verify: ssl.SSLContext | bool = True) -> tuple[httpx.AsyncClient, Recorder]:
    """`verify`: how https servers (the payment sandbox) are checked, e.g. against the stack's CA alone."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    recorder = Recorder(httpx.AsyncHTTPTransport(limits=limits, verify=verify))
    return httpx.AsyncClient(transport=recorder, timeout=30.0), recorder
