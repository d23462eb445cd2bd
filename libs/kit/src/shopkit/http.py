"""HTTP server telemetry in one ASGI middleware: the HTTP counterpart of the gRPC interceptor.

A server span per request (W3C trace context from the request headers), RED metrics by route
template and status, an access log line for failures and, optionally, the request's deadline for
the backend calls it makes. Used by every HTTP process (the gateway, the payment sandbox).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

import uvicorn
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

from shopkit import deadlines, tracing
from shopkit.metrics import LATENCY_BUCKETS

if TYPE_CHECKING:  # FastAPI is an optional extra of the kit (`shop-kit[http]`)
    from fastapi.telemetry import TelemetryConfig

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("shopkit.http")

HTTP_REQUESTS = Counter(
    "http_server_requests_total", "HTTP requests handled, by route template and status.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_server_request_duration_seconds",
    "Time to handle an HTTP request.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# `FastAPI(telemetry=...)`: FastAPI's own OpenTelemetry spans, metrics and validation logs are off. This
# middleware makes the one server span per request (FastAPI's would start a second root span in a trace of
# its own), Prometheus serves the metrics, and logged validation failures could carry card numbers.
FASTAPI_TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}
UNMATCHED_ROUTE = "unmatched"  # one label for every unknown path, so scanners don't explode the series


def route_template(scope: Scope) -> str:
    """The matched route's template (/v1/orders/{order_id}); a fixed label for unmatched paths."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class HttpTelemetryMiddleware:
    """`unobserved_paths` get nothing (probes, /metrics); `untraced_paths` get metrics but no span
    (docs, key sets); `request_timeout_seconds` becomes the deadline passed on to backend calls."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        unobserved_paths: frozenset[str] = frozenset(),
        untraced_paths: frozenset[str] = frozenset(),
        request_timeout_seconds: float | None = None,
    ):
        self.app = app
        self.unobserved_paths = unobserved_paths
        self.untraced_paths = untraced_paths
        self.request_timeout_seconds = request_timeout_seconds
        self.tracer = tracing.tracer("shopkit.http.server")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path in self.unobserved_paths:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"  # bounded label values
        if self.request_timeout_seconds is not None:
            deadlines.set_deadline(self.request_timeout_seconds)
        status = 500  # unless the app starts a response

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        if path in self.untraced_paths:
            try:
                await self.app(scope, receive, send_and_record)
            finally:
                self._measure(scope, method, status, started)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", [])}
        attributes: dict[str, Any] = {"http.request.method": method, "url.path": path}
        if client := scope.get("client"):
            attributes["client.address"] = client[0]
        if agent := headers.get("user-agent"):
            attributes["user_agent.original"] = agent
        with self.tracer.start_as_current_span(
            method, context=tracing.extract_context(headers), kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            try:
                await self.app(scope, receive, send_and_record)
            finally:
                route = self._measure(scope, method, status, started)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR, str(status)))
                if status >= 400 or log.isEnabledFor(logging.DEBUG):
                    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
                    log.info(
                        "%s %s %s",
                        method,
                        route,
                        status,
                        extra={
                            "http_method": method,
                            "http_route": route,
                            "http_status": status,
                            "duration_ms": elapsed_ms,
                        },
                    )

    @staticmethod
    def _measure(scope: Scope, method: str, status: int, started: float) -> str:
        return observe_request(scope, method, status, started)


def observe_request(scope: Scope, method: str, status: int, started: float) -> str:
    """Count a handled request in the RED metrics under its route template (returned); `started` is
    its `time.perf_counter()`. For answers given in front of the middleware (e.g. from a cache)."""
    route = route_template(scope)
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
    return route


class InLoopUvicorn(uvicorn.Server):
    """uvicorn inside the process's own event loop, without its signal handling: the process's run loop
    (`shopkit.server.stop_requested`) decides when to stop. uvicorn's handlers would re-raise SIGTERM after
    the drain, and the process would die of the signal instead of exiting 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
