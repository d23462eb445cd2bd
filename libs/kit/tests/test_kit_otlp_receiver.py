"""The test OTLP receiver takes real OTLP/gRPC exports and gives the spans back with their service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from shopkit.testing_otlp import OtlpReceiver


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


def exporting_provider(receiver: OtlpReceiver, service: str) -> TracerProvider:
    # A provider of its own: the process-wide one belongs to the other kit tests.
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, insecure=True)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_received_spans_keep_service_kind_parent_attributes_and_links(receiver: OtlpReceiver) -> None:
    gateway, sandbox = exporting_provider(receiver, "gateway"), exporting_provider(receiver, "sandbox")
    try:
        tracer = gateway.get_tracer("t")
        with (
            tracer.start_as_current_span("POST /v1/checkout", kind=SpanKind.SERVER) as root,
            tracer.start_as_current_span(
                "POST /v1/authorizations", kind=SpanKind.CLIENT, attributes={"http.response.status_code": 201}
            ) as client,
        ):
            client.set_status(Status(StatusCode.ERROR, "declined"))
            with sandbox.get_tracer("t").start_as_current_span(
                "sandbox work", attributes={"tags": ["a", "b"], "ok": True}, links=[Link(root.get_span_context())]
            ):
                pass
    finally:
        gateway.shutdown()
        sandbox.shutdown()

    trace_id = format(root.get_span_context().trace_id, "032x")
    trace = receiver.wait_for_trace(trace_id, lambda t: len(t.spans) == 3, timeout=10)

    [server] = trace.find("gateway", "SERVER", "POST /v1/checkout")
    [outgoing] = trace.find("gateway", "CLIENT")
    [work] = trace.find("sandbox", "INTERNAL")
    assert server.parent_span_id == "" and trace.orphans() == [server]
    assert trace.parent(outgoing) == server and trace.parent(work) == outgoing
    assert list(trace.ancestors(work)) == [outgoing, server]
    assert outgoing.attributes == {"http.response.status_code": 201} and outgoing.status == "ERROR"
    assert work.attributes == {"tags": ["a", "b"], "ok": True}
    assert work.links == ((trace_id, server.span_id),)
    assert work.resource["service.name"] == "sandbox" and trace.services() == {"gateway", "sandbox"}
    assert work.start_ns <= work.end_ns and receiver.requests == 3


def test_wait_for_trace_names_what_arrived_when_it_times_out(receiver: OtlpReceiver) -> None:
    provider = exporting_provider(receiver, "order")
    try:
        with provider.get_tracer("t").start_as_current_span("only span", kind=SpanKind.PRODUCER) as span:
            pass
    finally:
        provider.shutdown()
    trace_id = format(span.get_span_context().trace_id, "032x")

    with pytest.raises(TimeoutError, match=r"order:PRODUCER:only span"):
        receiver.wait_for_trace(trace_id, lambda t: len(t.spans) > 1, timeout=0.5)
