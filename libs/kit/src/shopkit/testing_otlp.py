"""An OTLP/gRPC trace receiver for tests: a real `TraceService/Export` server that keeps what it gets.

Processes under test export to it as to a collector (`OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint`);
tests then read the spans back, flattened with the `service.name` of the process that sent them:

    with OtlpReceiver() as receiver:
        ...  # start processes with OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, do something
        spans = receiver.wait_for(lambda spans: any(s.name == "POST /v1/checkout" for s in spans))

A plain (threaded) gRPC server, so it serves sync and async tests alike, in or out of an event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

T = TypeVar("T")
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span. Ids are lower-case hex; `parent_span_id` is "" for a root span;
    `kind` is the OTLP name without prefix (SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL)."""

    service: str
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    scope: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    links: tuple[tuple[str, str], ...]  # (trace id, span id) of each linked span
    status: str  # UNSET, OK or ERROR
    start_ns: int
    end_ns: int

    def __str__(self) -> str:
        return f"{self.service}:{self.kind}:{self.name}"


@dataclass
class Trace:
    """The spans of one trace id, with the lookups tests need to check its shape."""

    trace_id: str
    spans: list[ReceivedSpan] = field(default_factory=list)

    def by_id(self) -> dict[str, ReceivedSpan]:
        return {span.span_id: span for span in self.spans}

    def find(self, service: str, kind: str, name: str | None = None) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.service == service and s.kind == kind and (name is None or s.name == name)]

    def parent(self, span: ReceivedSpan) -> ReceivedSpan | None:
        return self.by_id().get(span.parent_span_id)

    def ancestors(self, span: ReceivedSpan) -> Iterator[ReceivedSpan]:
        known = self.by_id()
        seen: set[str] = set()
        while (parent := known.get(span.parent_span_id)) is not None and parent.span_id not in seen:
            seen.add(parent.span_id)
            yield parent
            span = parent

    def orphans(self) -> list[ReceivedSpan]:
        """Spans whose parent is not (yet) in the trace: only the root once everything arrived."""
        known = self.by_id()
        return [s for s in self.spans if s.parent_span_id not in known]

    def services(self) -> set[str]:
        return {span.service for span in self.spans}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, which)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def flatten(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """The spans of one export request, each with its resource's attributes."""
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=service,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        scope=scope_spans.scope.name,
                        attributes=_attributes(span.attributes),
                        resource=resource,
                        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                        status=Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                    )
                )
    return spans


class OtlpReceiver:
    """Collects every span exported to it; `endpoint` is what OTEL_EXPORTER_OTLP_ENDPOINT takes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._server = grpc.server(ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-receiver"))
        handler = grpc.unary_unary_rpc_method_handler(
            self._export,
            request_deserializer=ExportTraceServiceRequest.FromString,
            response_serializer=ExportTraceServiceResponse.SerializeToString,
        )
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(TRACE_SERVICE, {"Export": handler}),)
        )
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        self._spans: list[ReceivedSpan] = []
        self._traces: dict[str, list[ReceivedSpan]] = {}  # trace id -> its spans, for cheap waits on one trace
        self._arrived = threading.Condition()
        self.requests = 0

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> OtlpReceiver:
        self._server.start()
        return self

    def stop(self, grace: float | None = 1.0) -> None:
        self._server.stop(grace).wait()

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _export(self, request: ExportTraceServiceRequest, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        received = flatten(request)
        with self._arrived:
            self._spans.extend(received)
            for span in received:
                self._traces.setdefault(span.trace_id, []).append(span)
            self.requests += 1
            self._arrived.notify_all()
        return ExportTraceServiceResponse()

    def spans(self) -> list[ReceivedSpan]:
        with self._arrived:
            return list(self._spans)

    def clear(self) -> None:
        with self._arrived:
            self._spans.clear()
            self._traces.clear()

    def trace(self, trace_id: str) -> Trace:
        with self._arrived:
            return Trace(trace_id, list(self._traces.get(trace_id, ())))

    def wait_for(self, condition: Callable[[list[ReceivedSpan]], bool], timeout: float = 15.0) -> list[ReceivedSpan]:
        """The spans received so far, once `condition` holds for them; TimeoutError after `timeout`."""
        found = self._wait(lambda: list(self._spans), condition, timeout)
        if found is None:
            names = sorted({str(span) for span in self.spans()})
            raise TimeoutError(f"the spans did not arrive within {timeout} s; received: {names}")
        return found

    def wait_for_trace(self, trace_id: str, condition: Callable[[Trace], bool], timeout: float = 15.0) -> Trace:
        """The trace once `condition` holds for it (e.g. every expected span and no orphan)."""
        found = self._wait(lambda: Trace(trace_id, list(self._traces.get(trace_id, ()))), condition, timeout)
        if found is None:
            names = sorted(str(span) for span in self.trace(trace_id).spans)
            raise TimeoutError(f"trace {trace_id} was not complete within {timeout} s; it has: {names}")
        return found

    def _wait(self, snapshot: Callable[[], T], condition: Callable[[T], bool], timeout: float) -> T | None:
        """Re-check `condition` on a fresh snapshot after every export; None once `timeout` passed."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not condition(current := snapshot()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._arrived.wait(remaining)
            return current
