"""HTTP server telemetry in one ASGI middleware: a server span per request (trace context taken
from `traceparent`), RED metrics by route template and status, and the access log.

The HTTP counterpart of the kit's gRPC server interceptor; probes and /metrics are not observed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopkit import tracing
from shopkit.metrics import LATENCY_BUCKETS

log = logging.getLogger("shop_sandbox.http")

UNOBSERVED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED_ROUTE = "unmatched"  # one label for every unknown path, so scanners don't explode the series

HTTP_REQUESTS = Counter(
    "http_server_requests_total", "HTTP requests handled, by route template and status.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_server_request_duration_seconds",
    "Time to handle an HTTP request.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
AUTHORIZATIONS = Counter(
    "sandbox_authorizations_total",
    "Authorisations by outcome (replays not counted).",
    ["status", "code"],
)


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tracer = tracing.tracer("shop_sandbox.http.server")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNOBSERVED_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        method: str = scope["method"]
        status = 500  # unless the app starts a response
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.tracer.start_as_current_span(
            method,
            context=tracing.extract_context(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"], "url.scheme": "http"},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await self.app(scope, receive, send_observed)
            except Exception as exc:
                span.record_exception(exc)
                raise
            finally:
                elapsed = time.perf_counter() - started
                route = route_template(scope)
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
                        extra={"http_route": route, "http_status": status, "duration_ms": round(elapsed * 1000, 2)},
                    )
                HTTP_REQUESTS.labels(method, route, str(status)).inc()
                HTTP_LATENCY.labels(method, route).observe(elapsed)
