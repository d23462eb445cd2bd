"""One order placed through the gateway is one trace across every process it touches (issue 3, §7).

Every process of the session's stack exports over OTLP/gRPC to a receiver in this test process (conftest's
`otlp`); the trace of `POST /v1/checkout` must reach checkout, pricing, fraud, inventory, order, the payment
sandbox and, through the outbox and NATS, the consumers of the order's `shop.order.placed` event.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from shopkit.testing_otlp import OtlpReceiver, ReceivedSpan, Trace

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Shopper

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]

GOOD_CARD = "4242424242424242"
CHECKOUT = "shop.checkout.v1.CheckoutService/PlaceOrder"
SERVICES_ON_THE_PATH = ("pricing", "fraud", "inventory", "order")
ORDER_PLACED = "shop.order.placed"
CAPTURE = "POST /v1/authorizations/{authorization_id}/capture"

NewShopper = Callable[[str], "Shopper"]


def server_span(trace: Trace, service: str, name: str) -> ReceivedSpan:
    found = trace.find(service, "SERVER", name)
    assert len(found) == 1, f"{service}:SERVER:{name} {len(found)} times in {sorted(map(str, trace.spans))}"
    return found[0]


def called_by(trace: Trace, span: ReceivedSpan, service: str, kind: str) -> ReceivedSpan:
    """The span's parent, which must be a `kind` span of `service`."""
    parent = trace.parent(span)
    assert parent is not None, f"the parent of {span} is not in the trace"
    assert (parent.service, parent.kind) == (service, kind), f"{span} has the parent {parent}"
    return parent


def complete(trace: Trace) -> bool:
    """Every hop of a placed order is in, and every span's parent too (only the root has none)."""
    expected = [
        *[("gateway", "SERVER"), ("checkout", "SERVER"), ("sandbox", "SERVER")],
        *[(service, "SERVER") for service in SERVICES_ON_THE_PATH],
        ("order", "PRODUCER"),
        ("fraud", "CONSUMER"),
    ]
    captured = bool(trace.find("sandbox", "SERVER", CAPTURE))
    return all(trace.find(service, kind) for service, kind in expected) and captured and len(trace.orphans()) == 1


def test_an_order_is_one_trace_from_the_gateway_to_the_event_consumers(
    otlp: OtlpReceiver, new_shopper: NewShopper
) -> None:
    shopper = new_shopper("traced")
    found = shopper.get("/v1/products", query="trail", page_size=1)
    assert found.status_code == 200, found.text
    sku = found.json()["products"][0]["variants"][0]["sku"]
    shopper.add_to_cart(sku)
    card = shopper.card(GOOD_CARD)

    sent = time.time_ns()
    placed = shopper.checkout(card, key=f"traced-{uuid.uuid4().hex}")
    answered = time.time_ns()
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "completed", placed.text

    def this_request(span: ReceivedSpan) -> bool:
        """The gateway's server span of the checkout above (found by time, should other tests share the stack)."""
        route = (span.service, span.kind, span.name) == ("gateway", "SERVER", "POST /v1/checkout")
        return route and sent <= span.start_ns <= answered

    arrived = otlp.wait_for(lambda spans: any(map(this_request, spans)))
    [edge] = [span for span in arrived if this_request(span)]  # one server span per request
    trace = otlp.wait_for_trace(edge.trace_id, complete, timeout=30)

    # The gateway starts the trace: its HTTP server span is the root, and the only span without a parent.
    assert edge.parent_span_id == "" and trace.orphans() == [edge]
    assert edge.attributes["http.route"] == "/v1/checkout" and edge.attributes["http.response.status_code"] == 201
    assert {"gateway", "checkout", "sandbox", *SERVICES_ON_THE_PATH} <= trace.services()
    for span in trace.spans:  # service.name comes from each process's own resource
        assert span.resource["service.name"] == span.service

    # gateway -> checkout over gRPC: checkout's server span is the child of the gateway's client span.
    place_order = server_span(trace, "checkout", CHECKOUT)
    gateway_call = called_by(trace, place_order, "gateway", "CLIENT")
    assert gateway_call.name == CHECKOUT and edge in trace.ancestors(gateway_call)

    # checkout -> pricing, fraud, inventory, order: each server span is the child of a checkout client span
    # of the same method, and descends from PlaceOrder (the saga runs in the request's trace).
    checkout_calls = trace.find("checkout", "CLIENT")
    for service in SERVICES_ON_THE_PATH:
        served = [span for span in trace.find(service, "SERVER") if trace.parent(span) in checkout_calls]
        assert served, f"no {service} server span called by checkout in {sorted(map(str, trace.spans))}"
        for span in served:
            assert called_by(trace, span, "checkout", "CLIENT").name == span.name
            assert place_order in trace.ancestors(span)
    assert trace.find("fraud", "SERVER", "shop.fraud.v1.FraudService/Assess")
    assert trace.find("order", "SERVER", "shop.order.v1.OrderService/CreateOrder")

    # checkout -> payment sandbox over HTTP: the sandbox's server span is the child of checkout's client span.
    authorised = server_span(trace, "sandbox", "POST /v1/authorizations")
    provider_call = called_by(trace, authorised, "checkout", "CLIENT")
    assert provider_call.name == "POST /v1/authorizations" and place_order in trace.ancestors(provider_call)
    assert authorised.attributes["http.response.status_code"] in (200, 201)

    # The capture the confirmed order owes runs in order's effect worker after commit, in the order's trace.
    captured = server_span(trace, "sandbox", CAPTURE)
    capture_call = called_by(trace, captured, "order", "CLIENT")
    effect = trace.parent(capture_call)
    assert effect is not None and (effect.service, effect.name) == ("order", "order effect capture"), effect
    assert place_order in trace.ancestors(effect)

    # order -> NATS -> fraud: the relay's publish continues the CreateOrder trace (context kept in the
    # outbox row), and the consumer's span is the child of the publish (OpenTelemetry messaging conventions).
    create_order = server_span(trace, "order", "shop.order.v1.OrderService/CreateOrder")
    [publish] = trace.find("order", "PRODUCER", f"{ORDER_PLACED} publish")
    assert create_order in trace.ancestors(publish)
    assert publish.attributes["messaging.destination.name"] == ORDER_PLACED
    [consumed] = trace.find("fraud", "CONSUMER", f"{ORDER_PLACED} process")
    assert trace.parent(consumed) == publish
    assert consumed.attributes["messaging.consumer.group.name"] == "fraud-order-events"
