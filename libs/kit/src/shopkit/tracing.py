"""OpenTelemetry set-up and context propagation through gRPC metadata and NATS headers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, MutableMapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

_provider: TracerProvider | None = None
# An export (retries included) gives up after this long unless OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT says
# otherwise: a collector that is down must not hold a draining pod past its termination grace period.
EXPORT_TIMEOUT_SECONDS = 2.0


def setup_tracing(service: str, otlp_endpoint: str = "", exporter: SpanExporter | None = None) -> TracerProvider:
    """Install the global tracer provider; export over OTLP/gRPC when an endpoint is configured.

    OTEL_RESOURCE_ATTRIBUTES (e.g. k8s pod name from the downward API) is merged by Resource.create.
    """
    global _provider
    if _provider is not None:  # once per process (tests start several services in one)
        if exporter is not None:
            _provider.add_span_processor(BatchSpanProcessor(exporter))
        return _provider
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is None and otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        configured = any(os.environ.get(f"OTEL_EXPORTER_OTLP{s}_TIMEOUT") for s in ("", "_TRACES"))
        exporter = OTLPSpanExporter(
            endpoint=otlp_endpoint,
            insecure=otlp_endpoint.startswith("http://"),
            timeout=None if configured else EXPORT_TIMEOUT_SECONDS,
        )
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Flush spans still in the batch processor (called on SIGTERM)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=int(EXPORT_TIMEOUT_SECONDS * 1000))
        _provider.shutdown()


def tracer(name: str = "shop") -> trace.Tracer:
    return trace.get_tracer(name)


def untraced() -> AbstractContextManager[None]:
    """Statements in this block make no spans: for the polls of background workers (an outbox relay,
    a recovery round), which would otherwise start a trace of their own several times a second in
    every process whether or not they find work. What a poll finds is traced as usual."""
    return suppress_instrumentation()


def inject_headers(carrier: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """The current trace context as plain headers (for NATS messages and gRPC metadata)."""
    headers: dict[str, str] = dict(carrier or {})
    propagate.inject(headers)
    return headers


def extract_context(pairs: Mapping[str, str] | Iterable[tuple[str, Any]] | None) -> context.Context:
    """Read a trace context from NATS headers or gRPC invocation metadata."""
    if pairs is None:
        return context.get_current()
    carrier = dict(pairs)
    carrier = {k.lower(): v for k, v in carrier.items() if isinstance(v, str)}
    return propagate.extract(carrier)


_propagated: tuple[object, frozenset[str]] = (None, frozenset())


def _propagated_fields() -> frozenset[str]:
    """The header names the global propagator reads (traceparent, tracestate, baggage by default)."""
    global _propagated
    propagator = propagate.get_global_textmap()
    if _propagated[0] is not propagator:
        _propagated = (propagator, frozenset(propagator.fields))
    return _propagated[1]


def extract_metadata_context(metadata: Iterable[tuple[str, Any]] | None) -> context.Context:
    """`extract_context` for gRPC invocation metadata (keys are lower-case on the wire).

    Most calls carry no trace headers, or only a few among other metadata: the propagator runs only
    when one of its fields is present, and only on those fields.
    """
    if not metadata:
        return context.get_current()
    fields = _propagated_fields()
    carrier = {key: value for key, value in metadata if key in fields and isinstance(value, str)}
    if not carrier:
        return context.get_current()
    return propagate.extract(carrier)
