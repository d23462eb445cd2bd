"""One server interceptor for tracing, RED metrics, deadline capture, error mapping and access logs,
the callers' allow-lists (`access`) and end users (`auth`), and the refusal of values no method can
use (`wellformed`).

A single interceptor rather than one per concern: each Python interceptor costs a measurable
share of a call, so the work is done in one wrapper. The wrapper of each method is built once
(span name, attributes, metric children) and reused while the server returns the same handler
for that method, so a call only pays for the observation itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import Token
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message
from grpc_status import rpc_status
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import Counter

from shopkit import access, auth, deadlines, metrics, tls, tracing, wellformed
from shopkit.errors import DomainError, InvalidArgument
from shopkit.usertoken import Verifier

log = logging.getLogger("shopkit.rpc")

# Probes and tooling: no spans, no RED metrics, no logs.
UNOBSERVED_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)
# Codes that mean the server failed (the span's status is ERROR); the others are the caller's problem.
SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.DATA_LOSS,
    }
)

if TYPE_CHECKING:  # generic only in the type stubs
    Handler = grpc.RpcMethodHandler[Any, Any]
    Context = grpc.aio.ServicerContext[Any, Any]
    Attached = Token[otel_context.Context]


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self) -> None:
        self._tracer = tracing.tracer("shopkit.grpc.server")
        # full service name -> its allow-list; checked on TLS connections only (plain text has no identity)
        self.callers: dict[str, access.Callers] = {}
        self.verifier: Verifier | None = None  # of the gateway's user tokens: set when the server speaks TLS
        # full method name -> (the handler the server returned, its observed wrapper)
        self._observed: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(details)
        if handler is None:
            return handler
        cached = self._observed.get(details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        observed = self._wrap(handler, details.method)
        # Only methods the server knows get here (handler is not None), so the map stays small.
        self._observed[details.method] = (handler, observed)
        return observed

    def _wrap(self, handler: Handler, full_method: str) -> Handler:
        service, method = metrics.split_method(full_method)
        if service in UNOBSERVED_SERVICES:
            return handler
        policy = self.callers.get(service)
        checked = None
        if self.verifier is not None and policy is not None:
            checked = (policy.get(method, frozenset()), self.verifier)

        def observed(kind: str) -> _Method:
            return _Method(self._tracer, service, method, kind, checked)

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                observed("unary").wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                observed("client_stream").wrap_unary(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                observed("server_stream").wrap_stream(handler.unary_stream),  # type: ignore[arg-type]
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


class _Method:
    """What is fixed per method: span name and attributes, its children of the RED metrics, and on
    TLS the identities allowed to call it with the verifier of user tokens (`checked`; None: plain
    text or a service without an allow-list, nothing to check)."""

    def __init__(
        self,
        tracer: trace.Tracer,
        service: str,
        method: str,
        kind: str,
        checked: tuple[frozenset[str], Verifier] | None,
    ):
        self.tracer = tracer
        self.checked = checked
        self.service = service
        self.method = method
        self.kind = kind
        self.span_name = f"{service}/{method}"
        self.attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
        self.started = metrics.SERVER_STARTED.labels(kind, service, method)
        self.latency = metrics.SERVER_LATENCY.labels(kind, service, method)
        self._handled: dict[grpc.StatusCode, Counter] = {}

    # The call's outcome (span, log, metrics) is recorded before `context.abort` sends the status, so that
    # it is in place by the time the caller sees the status.

    def wrap_unary(self, inner: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        async def handle(request: Any, context: Context) -> Any:
            started, span, token = self._begin(context)
            try:
                self._check_caller(context)
                if isinstance(request, Message) and (problems := wellformed.violations(request)):
                    raise InvalidArgument(problems)
                response = await inner(request, context)
            except BaseException as exc:
                await self._fail(exc, context, started, span, token)
                raise
            self._end(started, span, token, grpc.StatusCode.OK, None)
            return response

        return handle

    def wrap_stream(self, inner: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
            started, span, token = self._begin(context)
            try:
                self._check_caller(context)
                async for item in inner(request, context):
                    yield item
            except BaseException as exc:
                await self._fail(exc, context, started, span, token)
                raise
            self._end(started, span, token, grpc.StatusCode.OK, None)

        return handle

    def _check_caller(self, context: Context) -> None:
        if self.checked is None:
            return
        allowed, verifier = self.checked
        identity = tls.peer_identity(context) or ""
        access.check_caller(identity, allowed, self.span_name)
        auth.establish(identity, context.invocation_metadata() or (), verifier)

    async def _fail(self, exc: BaseException, context: Context, started: float, span: Span, token: Attached) -> None:
        code = self._code_of(exc, context)
        self._end(started, span, token, code, exc)
        await self._answer(exc, code, context)

    def _begin(self, context: Context) -> tuple[float, Span, Attached]:
        self.started.inc()
        deadlines.set_deadline(context.time_remaining())
        started = time.perf_counter()
        parent = tracing.extract_metadata_context(context.invocation_metadata())
        span = self.tracer.start_span(
            self.span_name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=self.attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return started, span, token

    @staticmethod
    def _code_of(exc: BaseException, context: Context) -> grpc.StatusCode:
        if isinstance(exc, DomainError):
            return exc.code
        if isinstance(exc, grpc.aio.AbortError):
            code = context.code()
            return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
        if isinstance(exc, (GeneratorExit, KeyboardInterrupt)) or type(exc).__name__ == "CancelledError":
            return grpc.StatusCode.CANCELLED
        return grpc.StatusCode.INTERNAL

    @staticmethod
    async def _answer(exc: BaseException, code: grpc.StatusCode, context: Context) -> None:
        """Turn a domain error into its rich status; hide the details of an unexpected one."""
        if isinstance(exc, DomainError):
            status = rpc_status.to_status(exc.to_status())
            await context.abort(status.code, status.details, status.trailing_metadata)
        elif code is grpc.StatusCode.INTERNAL:
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def _end(
        self, started: float, span: Span, token: Attached, code: grpc.StatusCode, exc: BaseException | None
    ) -> None:
        elapsed = time.perf_counter() - started
        if isinstance(exc, DomainError):
            span.set_attribute("shop.error.reason", exc.reason)
        elif exc is not None and code is grpc.StatusCode.INTERNAL:
            span.record_exception(exc)
            log.error("unhandled error in %s/%s", self.service, self.method, exc_info=exc)
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code in SERVER_FAULTS:
            span.set_status(Status(StatusCode.ERROR, code.name))
        if code is not grpc.StatusCode.OK or log.isEnabledFor(logging.DEBUG):
            log.info(
                "rpc %s/%s %s",
                self.service,
                self.method,
                code.name,
                extra={"grpc_method": self.method, "grpc_code": code.name, "duration_ms": round(elapsed * 1000, 2)},
            )
        otel_context.detach(token)
        span.end()
        handled = self._handled.get(code)
        if handled is None:
            handled = metrics.SERVER_HANDLED.labels(self.kind, self.service, self.method, code.name)
            self._handled[code] = handled
        handled.inc()
        self.latency.observe(elapsed)
