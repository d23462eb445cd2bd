"""The order service's invoice events reach the webhooks subscribed to them (an ERP's accounts
receivable learns of invoices issued and paid), signed, in the protobuf JSON mapping."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from shop.common.v1 import common_pb2
from shop.notifications.v1 import notifications_pb2 as pb
from shop.order.v1 import events_pb2 as order_events
from shop.order.v1 import order_pb2
from shop_notifications.webhook_domain import verify
from shopkit.auth import metadata_for
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
