"""One ASGI middleware for what every HTTP request gets: a server span (W3C trace context from the
request headers, so the trace continues into the services), RED metrics per route template, the
request's deadline for the backend calls, and an access log line for failures."""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import REGISTRY, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopkit import deadlines, tracing
from shopkit.metrics import LATENCY_BUCKETS

log = logging.getLogger("shop_gateway.access")


def _http_metrics() -> tuple[Counter, Histogram]:
    """The HTTP RED metrics, created on first use. Another HTTP server of the platform (the payment
    sandbox) declares the same series; when both run in one process (tests) they share them instead
    of failing with a duplicate registration. (The kit should own these; until then, this.)"""
    registered = getattr(REGISTRY, "_names_to_collectors", {})
    requests = registered.get("http_server_requests_total") or Counter(
        "http_server_requests_total",
        "HTTP requests handled, by route template and status.",
        ["method", "route", "status"],
    )
    latency = registered.get("http_server_request_duration_seconds") or Histogram(
        "http_server_request_duration_seconds",
        "Time to handle an HTTP request.",
        ["method", "route"],
        buckets=LATENCY_BUCKETS,
    )
    return requests, latency


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/redoc", "/.well-known/jwks.json"})


def route_template(scope: Scope) -> str:
    """The matched route's template (/v1/orders/{order_id}); a fixed label for unmatched paths."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, request_timeout_seconds: float):
        self.app = app
        self.request_timeout_seconds = request_timeout_seconds
        self.tracer = tracing.tracer("shop_gateway.http")
        self.requests, self.latency = _http_metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"  # bounded label values
        path: str = scope["path"]
        deadlines.set_deadline(self.request_timeout_seconds)
        status = 500
        quiet = path in QUIET_PATHS

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        if quiet:
            try:
                await self.app(scope, receive, send_and_record)
            finally:
                self._measure(scope, method, status, started)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", [])}
        attributes: dict[str, Any] = {"http.request.method": method, "url.path": path}
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        if agent := headers.get("user-agent"):
            attributes["user_agent.original"] = agent
        with self.tracer.start_as_current_span(
            method,
            context=tracing.extract_context(headers),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=True,
            set_status_on_exception=True,
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
                    log.info(
                        "%s %s %s",
                        method,
                        route,
                        status,
                        extra={
                            "http_method": method,
                            "http_route": route,
                            "http_status": status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        },
                    )

    def _measure(self, scope: Scope, method: str, status: int, started: float) -> str:
        route = route_template(scope)
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(time.perf_counter() - started)
        return route
