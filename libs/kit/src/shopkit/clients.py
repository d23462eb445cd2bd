"""Client channels: deadlines always, retries for idempotent methods, keepalive, round_robin.

Which methods are retried comes from the protos: a method declared with
`option idempotency_level = NO_SIDE_EFFECTS;` or `IDEMPOTENT;` gets a retry policy on UNAVAILABLE.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from google.protobuf import descriptor as _descriptor
from google.protobuf import descriptor_pb2
from opentelemetry.trace import SpanKind, Status, StatusCode

from shopkit import deadlines, metrics, tracing
from shopkit.settings import DEFAULT_MAX_MESSAGE_BYTES
from shopkit.tls import Tls
from shopkit.usertoken import TokensFor

_RETRYABLE_LEVELS = (
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
    descriptor_pb2.MethodOptions.IDEMPOTENT,
)


def retry_service_config(services: Sequence[_descriptor.ServiceDescriptor], max_attempts: int = 4) -> dict[str, Any]:
    """A gRPC service config: round_robin, and a retry policy for every idempotent method."""
    names = [
        {"service": service.full_name, "method": method.name}
        for service in services
        for method in service.methods
        if method.GetOptions().idempotency_level in _RETRYABLE_LEVELS
    ]
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}], "methodConfig": []}
    if names:
        config["methodConfig"].append(
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": max_attempts,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        )
    return config


def message_size_options(max_receive_bytes: int, max_send_bytes: int) -> list[tuple[str, int]]:
    """Bounds of single messages, for servers and channels alike: a larger message is refused with
    RESOURCE_EXHAUSTED instead of being buffered whole."""
    return [("grpc.max_receive_message_length", max_receive_bytes), ("grpc.max_send_message_length", max_send_bytes)]


def channel_options(
    services: Sequence[_descriptor.ServiceDescriptor],
    max_receive_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_send_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> list[tuple[str, Any]]:
    return [
        *message_size_options(max_receive_bytes, max_send_bytes),
        ("grpc.service_config", json.dumps(retry_service_config(services))),
        ("grpc.enable_retries", 1),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        # A restarted peer (a new pod, a crashed process) is reachable again within seconds: reconnect soon
        # instead of gRPC's default backoff of up to two minutes, during which every call fails UNAVAILABLE.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2_000),
    ]


def make_channel(
    target: str,
    services: Sequence[_descriptor.ServiceDescriptor],
    default_timeout: float = 5.0,
    *,
    max_receive_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_send_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    tls: Tls | None = None,
    user_tokens: TokensFor | None = None,
) -> grpc.aio.Channel:
    """A channel to `target` (e.g. `dns:///catalog-headless.shop.svc:50051`) that presents the
    process's certificate when `tls` is given (plain text otherwise: a loopback peer in a test);
    messages are bounded like the server's (GRPC_MAX_RECEIVE/SEND_MESSAGE_BYTES). `user_tokens`
    turns the user's headers of each call into a token for the target (the gateway's channels)."""
    options = channel_options(services, max_receive_bytes, max_send_bytes)
    interceptors = [
        ClientInterceptor(default_timeout, user_tokens),
        ClientStreamInterceptor(default_timeout, user_tokens),
    ]
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)  # type: ignore[arg-type]
    return grpc.aio.secure_channel(target, tls.channel_credentials(), options=options, interceptors=interceptors)  # type: ignore[arg-type]


class _Calls:
    """Trace context and deadline on every outgoing call; client-side RED metrics; the call's user as a
    token for the called service (`user_tokens`)."""

    def __init__(self, default_timeout: float, user_tokens: TokensFor | None = None):
        self.default_timeout = default_timeout
        self.user_tokens = user_tokens
        self._tracer = tracing.tracer("shopkit.grpc.client")

    async def _intercept(
        self,
        kind: str,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        service, name = metrics.split_method(method)
        timeout = details.timeout if details.timeout is not None else deadlines.remaining(self.default_timeout)
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        with self._tracer.start_as_current_span(
            f"{service}/{name}",
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        ) as span:
            metadata = list(details.metadata or [])
            if self.user_tokens is not None:
                metadata = self.user_tokens.metadata(metadata)
            metadata.extend(tracing.inject_headers().items())
            new_details = grpc.aio.ClientCallDetails(
                method=details.method,
                timeout=timeout,
                metadata=grpc.aio.Metadata(*metadata),
                credentials=details.credentials,
                wait_for_ready=details.wait_for_ready,
            )
            try:
                call = await continuation(new_details, request)
                await call
                return call
            except grpc.aio.AioRpcError as err:
                code = err.code()
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    span.set_status(Status(StatusCode.ERROR, code.name))
                raise
            finally:
                metrics.CLIENT_HANDLED.labels(kind, service, name, code.name).inc()
                metrics.CLIENT_LATENCY.labels(kind, service, name).observe(time.perf_counter() - started)


class ClientInterceptor(_Calls, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """What `_Calls` does, for unary calls."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await self._intercept("unary", continuation, details, request)


class ClientStreamInterceptor(_Calls, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[type-arg]
    """What `_Calls` does, for client-streaming calls (e.g. catalog's ImportProducts from the gateway).
    A class of its own: a channel files each interceptor under the first kind it is."""

    async def intercept_stream_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await self._intercept("client_stream", continuation, details, request_iterator)
