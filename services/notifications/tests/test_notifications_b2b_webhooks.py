"""B2B events reach the webhooks subscribed to them, signed, in the protobuf JSON mapping: invoices
issued and paid (an ERP's accounts receivable), an order's approval decisions (the buyer's procurement
system) and sales quotes requested, offered, accepted and declined (a CRM)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from google.protobuf.message import Message

from shop.common.v1 import common_pb2
from shop.notifications.v1 import notifications_pb2 as pb
from shop.order.v1 import events_pb2 as order_events
from shop.order.v1 import order_pb2
from shop.pricing.v1 import events_pb2 as pricing_events
from shop_notifications.main import PRICING_WEBHOOKS
from shop_notifications.webhook_domain import PRICING_EVENTS, verify
from shopkit import events
from shopkit.auth import metadata_for
from shopkit.natsauth import durable_name
from shopkit.testing_webhooks import WebhookReceiver

if TYPE_CHECKING:
    from conftest import Stack

ADMIN = metadata_for("admin")
PAID = "shop.order.invoice_paid"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


async def test_a_paid_invoice_is_posted_to_its_subscribers(stack: Stack, receiver: WebhookReceiver) -> None:
    request = pb.CreateWebhookRequest(url=receiver.url, event_types=["shop.order.invoice_issued", PAID])
    hook = (await stack.stub.CreateWebhook(request, metadata=ADMIN)).webhook
    number = f"INV-{uuid.uuid4().int % 10**9:09d}"
    event = order_events.InvoicePaid(
        invoice=order_pb2.Invoice(
            number=number,
            account_id="acme-corp",
            status=order_pb2.INVOICE_STATUS_PAID,
            balance=common_pb2.Money(amount=0, currency="USD"),
        ),
        payment=order_pb2.InvoicePayment(amount=common_pb2.Money(amount=54_900, currency="USD"), reference="WIRE 1"),
    )
    event.meta.event_id = str(uuid.uuid4())
    await stack.runtime.js.publish(PAID, event.SerializeToString(), headers={"Nats-Msg-Id": event.meta.event_id})

    [post] = await asyncio.to_thread(receiver.wait_for, lambda p: p.event_type == PAID and number.encode() in p.body)
    assert verify(hook.secret, post.headers["Shop-Signature"], post.body, int(time.time()))
    body = json.loads(post.body)
    assert body["type"] == PAID and body["data"]["invoice"]["status"] == "INVOICE_STATUS_PAID"
    assert body["data"]["payment"]["amount"] == {"amount": "54900", "currency": "USD"}


async def _publish(stack: Stack, subject: str, event: Message) -> str:
    event_id = str(uuid.uuid4())
    event.meta.event_id = event_id  # type: ignore[attr-defined]  # every event message has its meta
    await stack.runtime.js.publish(subject, event.SerializeToString(), headers={"Nats-Msg-Id": event_id})
    return event_id


async def test_an_approval_decision_is_posted_to_the_procurement_system(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    decided = "shop.order.approval_decided"
    request = pb.CreateWebhookRequest(url=receiver.url, event_types=[decided])
    hook = (await stack.stub.CreateWebhook(request, metadata=ADMIN)).webhook
    order_id = str(uuid.uuid4())
    event = order_events.OrderApprovalDecided(
        order_id=order_id,
        account_id="acme-corp",
        step=0,
        step_name="department head",
        decision=order_pb2.ApprovalDecision(approver="bob-approver", decision=order_pb2.APPROVAL_VERDICT_APPROVE),
        status=order_pb2.ORDER_STATUS_PENDING_APPROVAL,
    )
    event_id = await _publish(stack, decided, event)

    [post] = await asyncio.to_thread(receiver.wait_for, lambda p: p.headers.get("Shop-Event-Id") == event_id)
    assert verify(hook.secret, post.headers["Shop-Signature"], post.body, int(time.time()))
    data = json.loads(post.body)["data"]
    verdict = data["decision"]["decision"]
    assert (data["order_id"], data["step_name"], verdict) == (order_id, "department head", "APPROVAL_VERDICT_APPROVE")


async def test_sales_quotes_are_posted_to_the_crm_and_the_price_changes_beside_them_are_not_read(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    # The pricing service creates its stream when it starts; this stack has no pricing service.
    await events.ensure_stream(stack.runtime.js, events.stream_config("pricing"))
    requested, offered, accepted = (f"shop.pricing.sales_quote_{kind}" for kind in ("requested", "offered", "accepted"))
    request = pb.CreateWebhookRequest(url=receiver.url, event_types=[requested, accepted])  # not the offers
    hook = (await stack.stub.CreateWebhook(request, metadata=ADMIN)).webhook
    quote_id, number = str(uuid.uuid4()), f"Q-{uuid.uuid4().int % 10**6:06d}"
    total = common_pb2.Money(amount=120_000, currency="USD")
    quote = pricing_events.SalesQuoteRequested(quote_id=quote_id, number=number, account_id="acme-corp", version=2)
    await _publish(stack, requested, quote)
    offer = pricing_events.SalesQuoteOffered(quote_id=quote_id, number=number, version=2, total=total)
    await _publish(stack, offered, offer)
    deal = pricing_events.SalesQuoteAccepted(quote_id=quote_id, number=number, version=2, total=total)
    await _publish(stack, accepted, deal)

    posts = await asyncio.to_thread(receiver.wait_for, lambda p: number.encode() in p.body, count=2)
    assert sorted(post.event_type for post in posts) == [accepted, requested]
    for post in posts:
        assert verify(hook.secret, post.headers["Shop-Signature"], post.body, int(time.time()))
    won = next(json.loads(post.body)["data"] for post in posts if post.event_type == accepted)
    assert (won["quote_id"], won["version"]) == (quote_id, 2)
    assert won["total"] == {"amount": "120000", "currency": "USD"}
    # The consumer reads the quotes' subjects alone: the stream's price changes never reach it.
    consumer = await stack.runtime.js.consumer_info(
        events.stream_name("pricing"), durable_name("notifications", PRICING_WEBHOOKS)
    )
    assert sorted(consumer.config.filter_subjects or []) == sorted(PRICING_EVENTS)
