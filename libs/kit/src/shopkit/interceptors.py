"""One server interceptor for tracing, RED metrics, deadline capture, error mapping and access logs.

A single interceptor rather than one per concern: each Python interceptor costs a measurable
share of a call, so the work is done in one wrapper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc_status import rpc_status
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from shopkit import deadlines, metrics, tracing
from shopkit.errors import DomainError

log = logging.getLogger("shopkit.rpc")

# Probes and tooling: no spans, no RED metrics, no logs.
UNOBSERVED_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self) -> None:
        self._tracer = tracing.tracer("shopkit.grpc.server")

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(details)
        service, method = metrics.split_method(details.method)
        if handler is None or service in UNOBSERVED_SERVICES:
            return handler
        call = _Call(self._tracer, service, method, details)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                call.wrap_unary(handler.unary_unary, "unary"),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                call.wrap_unary(handler.stream_unary, "client_stream"),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                call.wrap_stream(handler.unary_stream, "server_stream"),  # type: ignore[arg-type]
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


class _Call:
    def __init__(self, tracer: trace.Tracer, service: str, method: str, details: grpc.HandlerCallDetails):
        self.tracer = tracer
        self.service = service
        self.method = method
        self.metadata = details.invocation_metadata

    def wrap_unary(self, inner: Callable[..., Any], kind: str) -> Callable[..., Awaitable[Any]]:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            with self._observe(context, kind) as observed:
                try:
                    return await inner(request, context)
                except BaseException as exc:
                    await observed.fail(exc, context)
                    raise

        return handle

    def wrap_stream(self, inner: Callable[..., AsyncIterator[Any]], kind: str) -> Callable[..., AsyncIterator[Any]]:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            with self._observe(context, kind) as observed:
                try:
                    async for item in inner(request, context):
                        yield item
                except BaseException as exc:
                    await observed.fail(exc, context)
                    raise

        return handle

    def _observe(self, context: grpc.aio.ServicerContext[Any, Any], kind: str) -> _Observed:
        return _Observed(self, context, kind)


class _Observed:
    """Context manager around one call: span, deadline, metrics and the access log."""

    def __init__(self, call: _Call, context: grpc.aio.ServicerContext[Any, Any], kind: str):
        self.call = call
        self.context = context
        self.kind = kind
        self.code = grpc.StatusCode.OK

    def __enter__(self) -> _Observed:
        call = self.call
        metrics.SERVER_STARTED.labels(self.kind, call.service, call.method).inc()
        deadlines.set_deadline(self.context.time_remaining())
        self.started = time.perf_counter()
        parent = tracing.extract_context(call.metadata)
        self.span_cm = call.tracer.start_as_current_span(
            f"{call.service}/{call.method}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": call.service, "rpc.method": call.method},
            record_exception=False,
            set_status_on_exception=False,
        )
        self.span = self.span_cm.__enter__()
        return self

    async def fail(self, exc: BaseException, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if isinstance(exc, DomainError):
            self.code = exc.code
            self.span.set_attribute("shop.error.reason", exc.reason)
            status = rpc_status.to_status(exc.to_status())
            await context.abort(status.code, status.details, status.trailing_metadata)
        elif isinstance(exc, grpc.aio.AbortError):
            code = context.code()
            self.code = code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
        elif isinstance(exc, (GeneratorExit, KeyboardInterrupt)) or type(exc).__name__ == "CancelledError":
            self.code = grpc.StatusCode.CANCELLED
        else:
            self.code = grpc.StatusCode.INTERNAL
            self.span.record_exception(exc)
            log.exception("unhandled error in %s/%s", self.call.service, self.call.method)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def __exit__(self, *exc_info: Any) -> None:
        call = self.call
        elapsed = time.perf_counter() - self.started
        code_name = self.code.name
        self.span.set_attribute("rpc.grpc.status_code", self.code.value[0])
        if self.code in (
            grpc.StatusCode.INTERNAL,
            grpc.StatusCode.UNKNOWN,
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.DATA_LOSS,
        ):
            self.span.set_status(Status(StatusCode.ERROR, code_name))
        if log.isEnabledFor(logging.DEBUG) or self.code is not grpc.StatusCode.OK:
            log.info(
                "rpc %s/%s %s",
                call.service,
                call.method,
                code_name,
                extra={"grpc_method": call.method, "grpc_code": code_name, "duration_ms": round(elapsed * 1000, 2)},
            )
        self.span_cm.__exit__(None, None, None)
        metrics.SERVER_HANDLED.labels(self.kind, call.service, call.method, code_name).inc()
        metrics.SERVER_LATENCY.labels(self.kind, call.service, call.method).observe(elapsed)
