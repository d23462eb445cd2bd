"""Bounds on HTTP requests, checked before anything reads or parses them (ASGI middleware).

The request line and headers together are bounded (431); uvicorn's h11 parser bounds a header block
still arriving (`max_incomplete_event_size`) but not one that came in a single read, hence this
check too. A body whose Content-Length is over the limit is refused without being buffered; a body
without one (chunked) is read up to the limit and refused the moment it passes it (413). Before the
answer the rest of a refused body is read and dropped, up to a bound, so that the client, still
sending, gets the answer instead of a reset connection; then the connection closes. Requests within
the limits reach the application as they came. Requests to `streamed_paths` (uploads whose route
reads the body as it arrives and bounds it itself) pass with only the header bound.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shopkit.http import ASGIApp, Message, Receive, Scope, Send

# A refused body is read and dropped up to this many times the limit; a larger one is cut off.
DRAIN_FACTOR = 8

Refusal = Callable[[int, str], ASGIApp]  # (status, detail) -> the API's problem answer


class RequestLimits:
    """`refuse(status, detail)` answers a request over a limit (413 body, 431 headers)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_header_bytes: int,
        refuse: Refusal,
        streamed_paths: frozenset[str] = frozenset(),
    ):
        self.app = app
        # Uploads whose route reads the body as it arrives and bounds it itself: not buffered here.
        self.streamed_paths = streamed_paths
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _header_bytes(scope) > self.max_header_bytes:
            detail = f"the request line and headers are larger than {self.max_header_bytes} bytes"
            await self._answer(scope, receive, send, 431, detail)
            return
        if scope.get("path") in self.streamed_paths:
            await self.app(scope, receive, send)
            return
        too_large = f"the request body is larger than {self.max_body_bytes} bytes"
        length = _content_length(scope)
        if length is not None and length > self.max_body_bytes:
            if length <= self.max_body_bytes * DRAIN_FACTOR and not _expects_continue(scope):
                await _drain(receive, self.max_body_bytes * DRAIN_FACTOR)
            await self._answer(scope, receive, send, 413, too_large)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: the application sees that as it would have
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                if message.get("more_body", False):
                    await _drain(receive, self.max_body_bytes * DRAIN_FACTOR - size)
                await self._answer(scope, receive, send, 413, too_large)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(messages, receive), send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.refuse(status, detail)(scope, receive, closing)


def _header_bytes(scope: Scope) -> int:
    line = len(scope.get("raw_path") or scope.get("path", "").encode()) + len(scope.get("query_string", b""))
    return line + sum(len(key) + len(value) + 4 for key, value in scope.get("headers", []))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1")).strip()
    return None


def _content_length(scope: Scope) -> int | None:
    text = _header(scope, b"content-length")
    return int(text) if text is not None and text.isascii() and text.isdigit() else None  # the server checks it


def _expects_continue(scope: Scope) -> bool:
    """The client waits for `100 Continue` before it sends the body: refused, it never sends it."""
    return (_header(scope, b"expect") or "").lower() == "100-continue"


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of a body, at most `budget` bytes of it."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        budget -= len(message.get("body", b""))


def _replay(messages: list[Message], receive: Receive) -> Callable[[], Awaitable[Message]]:
    """The messages already read, then the server's own receive (a later disconnect)."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
