"""Anonymous browse answers from the public cache, in front of the application (see
shop_gateway/public_cache.py).

The outermost ASGI app of the gateway's HTTP server: an answer from memory skips FastAPI (routing,
dependency injection, the backend calls, JSON encoding). It still takes from the client's rate-limit
bucket and counts in the RED metrics under its route template. It gets a server span when the request
carries W3C trace context (`traceparent`), i.e. when the caller traces it; an untraced hit, like a CDN
edge hit, is not a trace of its own (a recording span would cost more than the whole answer).
Misses, signed-in callers and every other request go to the application, whose telemetry middleware
traces them as always.

Requests with an `Authorization` header are never answered from here. Concurrent misses of one key
wait for the first one's answer instead of each calling the backends (request collapsing).
Cacheable answers carry `Cache-Control: public, max-age`, an `ETag` and `Vary: Authorization`; a
matching `If-None-Match` gets 304.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from shop_gateway.gateway import Gateway
from shop_gateway.public_cache import CachedAnswer, PublicCache
from shop_gateway.ratelimit import RateLimited
from shopkit.http import ASGIApp, HttpTelemetryMiddleware, Message, Receive, Scope, Send, observe_request

PRODUCTS = "/v1/products"
PRODUCT_PREFIX = "/v1/products/"
CATEGORIES = "/v1/categories"
JSON = b"application/json"
ANSWER = "shop.cached_answer"  # scope key: the answer a traced hit sends


@dataclass(frozen=True)
class RouteTemplate:
    """What telemetry reads of the matched route (`scope["route"].path`) for an answer given here."""

    path: str


PRODUCTS_ROUTE = RouteTemplate(PRODUCTS)
PRODUCT_ROUTE = RouteTemplate(PRODUCT_PREFIX + "{product_id}")
CATEGORIES_ROUTE = RouteTemplate(CATEGORIES)


def _route(path: str) -> RouteTemplate | None:
    """The cacheable GET route that `path` matches, as the router would match it."""
    if path == PRODUCTS:
        return PRODUCTS_ROUTE
    if path == CATEGORIES:
        return CATEGORIES_ROUTE
    if path.startswith(PRODUCT_PREFIX) and len(path) > len(PRODUCT_PREFIX) and "/" not in path[len(PRODUCT_PREFIX) :]:
        return PRODUCT_ROUTE
    return None


def cache_key(path: str, query_string: bytes) -> bytes:
    """The path and every query parameter (sort, price range, stock, facets included), in a canonical
    order: `?sort=name&in_stock=true` and `?in_stock=true&sort=name` are one answer. The browse routes
    read each parameter once, so the order of parameters never changes an answer."""
    return path.encode() + b"?" + b"&".join(sorted(part for part in query_string.split(b"&") if part))


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    return any(tag.strip().removeprefix(b"W/") in (etag, b"*") for tag in if_none_match.split(b","))


class PublicReads:
    def __init__(self, app: ASGIApp, *, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway
        self.cache: PublicCache = gateway.shop.public_cache
        self.cache_control = f"public, max-age={math.ceil(self.cache.ttl_seconds)}".encode()
        self._pending: dict[bytes, asyncio.Future[CachedAnswer | None]] = {}
        self._traced = HttpTelemetryMiddleware(self._send_cached)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self.cache.enabled:
            await self.app(scope, receive, send)
            return
        route = _route(scope["path"])
        if route is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if_none_match = forwarded_for = b""
        traced = False
        for name, value in scope["headers"]:
            if name == b"authorization":  # personal answers are never cached
                await self.app(scope, receive, send)
                return
            if name == b"if-none-match":
                if_none_match = value
            elif name == b"x-forwarded-for":
                forwarded_for = value
            elif name == b"traceparent":
                traced = True
        key = cache_key(scope["path"], scope["query_string"])
        found = self.cache.get(key)
        if found is None and (pending := self._pending.get(key)) is not None:
            found = await asyncio.shield(pending)
        if found is None or not self._admit(scope, forwarded_for):
            await self._fill(key, scope, receive, send, if_none_match)
            return
        scope["route"] = route
        if traced:
            scope[ANSWER] = (found, if_none_match)
            await self._traced(scope, receive, send)
        else:
            status = await self._send(send, found, if_none_match)
            observe_request(scope, "GET", status, started)

    def _admit(self, scope: Scope, forwarded_for: bytes) -> bool:
        """Take from the client's rate-limit bucket; when it is empty the route answers 429 as usual."""
        client = scope.get("client")
        ip = self.gateway.client_ip(client[0] if client else "", forwarded_for.decode("latin-1") or None)
        try:
            self.gateway.limiter.check("", ip)
        except RateLimited:
            return False
        return True

    async def _fill(self, key: bytes, scope: Scope, receive: Receive, send: Send, if_none_match: bytes) -> None:
        """Let the application answer; keep a 200 answer for the next callers."""
        generation = self.cache.generation
        leader = key not in self._pending
        pending: asyncio.Future[CachedAnswer | None] = asyncio.get_running_loop().create_future()
        if leader:
            self._pending[key] = pending
        start: Message | None = None
        chunks: list[bytes] = []
        answer: CachedAnswer | None = None

        async def keep(message: Message) -> None:
            nonlocal start, answer
            if message["type"] == "http.response.start" and message["status"] == 200:
                start = message  # held back until the body is complete: the validator goes in the headers
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            content_type = next((v for k, v in start.get("headers", ()) if k == b"content-type"), JSON)
            answer = self.cache.answer(b"".join(chunks), content_type)
            self.cache.put(key, answer, generation)
            await self._send(send, answer, if_none_match)

        try:
            await self.app(scope, receive, keep)
        finally:
            if leader:
                del self._pending[key]
                pending.set_result(answer)

    async def _send_cached(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer, if_none_match = scope[ANSWER]
        await self._send(send, answer, if_none_match)

    async def _send(self, send: Send, answer: CachedAnswer, if_none_match: bytes) -> int:
        headers = [
            (b"cache-control", self.cache_control),
            (b"etag", answer.etag),
            (b"vary", b"Authorization"),
        ]
        if if_none_match and _matches(if_none_match, answer.etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return 304
        headers.append((b"content-type", answer.content_type))
        headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
        return 200
