"""Every transition reaches JetStream's SHOP_ORDER stream through the outbox, milestones included."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import nats
from google.protobuf.message import Message
from nats.js.api import ConsumerConfig, DeliverPolicy

from shop.order.v1 import events_pb2, order_pb2
from shop_order import events, return_operations
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Shop

S = order_pb2
Received = list[tuple[str, bytes, dict[str, str]]]


async def collect(nats_url: str, act: Callable[[], Awaitable[set[str]]], expected: int) -> Received:
    """Run `act` (returns the order ids it touched) while listening; the messages about those orders."""
    nc = await nats.connect(nats_url)
    received: Received = []
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            "shop.order.>", stream="SHOP_ORDER", config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        )
        order_ids = await act()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                while len(received) < expected:
                    msg = await sub.next_msg(timeout=10)
                    await msg.ack()
                    if _order_id(msg.subject, msg.data) in order_ids:
                        received.append((msg.subject, msg.data, dict(msg.headers or {})))
        await sub.unsubscribe()
    finally:
        await nc.close()
    return received


MESSAGES: dict[str, type[Message]] = {
    events.PLACED: events_pb2.OrderPlaced,
    events.CONFIRMED: events_pb2.OrderConfirmed,
    events.CANCELLED: events_pb2.OrderCancelled,
    events.FULFILLED: events_pb2.OrderFulfilled,
    events.REFUNDED: events_pb2.OrderRefunded,
    events.STATUS_CHANGED: events_pb2.OrderStatusChanged,
    events.APPROVAL_DECIDED: events_pb2.OrderApprovalDecided,
    return_operations.RETURN_REQUESTED: events_pb2.ReturnRequested,
    return_operations.RETURN_RECEIVED: events_pb2.ReturnReceived,
    return_operations.RETURN_INSPECTED: events_pb2.ReturnInspected,
    return_operations.RETURN_REFUNDED: events_pb2.ReturnRefunded,
}


def _order_id(subject: str, data: bytes) -> str:
    message = MESSAGES[subject].FromString(data)
    return str(message.meta.aggregate_id)  # type: ignore[attr-defined]


async def test_the_life_of_a_b2b_order_is_published(shop: Shop, nats_url: str) -> None:
    account = shop.new_id("acct-")
    placed: list[order_pb2.Order] = []

    async def act() -> set[str]:
        order = await shop.place(customer_id="buyer-1", account_id=account, approval_limit=100)
        placed.append(order)
        approve = S.ApproveOrderRequest(order_id=order.order_id, note="ok")
        await shop.stub.ApproveOrder(approve, metadata=metadata_for("b2b_approver", "approver-1", account))
        await shop.capture(order.order_id)
        await shop.fulfil(await shop.get(order.order_id))
        await shop.refund(order.order_id, 100)
        return {order.order_id}

    received = await collect(nats_url, act, expected=10)
    order = placed[0]

    assert [subject for subject, _, _ in received] == [
        events.PLACED,
        events.STATUS_CHANGED,
        events.CONFIRMED,
        events.APPROVAL_DECIDED,
        events.STATUS_CHANGED,
        events.STATUS_CHANGED,
        events.FULFILLED,
        events.STATUS_CHANGED,
        events.REFUNDED,
        events.STATUS_CHANGED,
    ]
    assert all("Nats-Msg-Id" in headers for _, _, headers in received)
    first = events_pb2.OrderPlaced.FromString(received[0][1])
    assert first.order == order and first.meta.event_id == received[0][2]["Nats-Msg-Id"]
    confirmed = events_pb2.OrderConfirmed.FromString(received[2][1])
    assert (confirmed.checkout_id, confirmed.account_id, confirmed.previous_status) == (
        order.checkout_id,
        account,
        S.ORDER_STATUS_PENDING_APPROVAL,
    )
    changes = [
        events_pb2.OrderStatusChanged.FromString(data).entry
        for subject, data, _ in received
        if subject == events.STATUS_CHANGED
    ]
    assert [(c.sequence, c.change, c.status) for c in changes] == [
        (1, S.ORDER_CHANGE_CREATED, S.ORDER_STATUS_PENDING_APPROVAL),
        (2, S.ORDER_CHANGE_APPROVED, S.ORDER_STATUS_CONFIRMED),
        (3, S.ORDER_CHANGE_PAYMENT_CAPTURED, S.ORDER_STATUS_CONFIRMED),
        (4, S.ORDER_CHANGE_FULFILLED, S.ORDER_STATUS_FULFILLED),
        (5, S.ORDER_CHANGE_REFUNDED, S.ORDER_STATUS_FULFILLED),
    ]
    assert changes[1].actor == S.Actor(role="b2b_approver", id="approver-1")
    decided = events_pb2.OrderApprovalDecided.FromString(received[3][1])
    assert (decided.step, decided.decision.approver, decided.decision.note, decided.status) == (
        0,
        "approver-1",
        "ok",
        S.ORDER_STATUS_CONFIRMED,
    )
    fulfilled = events_pb2.OrderFulfilled.FromString(received[6][1])
    assert fulfilled.status == S.ORDER_STATUS_FULFILLED and fulfilled.fulfilment.carrier == "DHL"
    refunded = events_pb2.OrderRefunded.FromString(received[8][1])
    assert (refunded.refund.amount.amount, refunded.payment_status, refunded.status) == (
        100,
        S.PAYMENT_STATUS_PARTIALLY_REFUNDED,
        S.ORDER_STATUS_FULFILLED,
    )


async def test_a_cancellation_is_published_with_the_lines_to_restock_and_the_payment_outcome(
    shop: Shop, nats_url: str
) -> None:
    placed: list[order_pb2.Order] = []

    async def act() -> set[str]:
        order = await shop.place(lines={"SKU-E1": (2, 100), "SKU-E2": (1, 50)})
        placed.append(order)
        await shop.cancel(order.order_id, S.CANCELLATION_REASON_CHECKOUT_FAILED, metadata_for("service"))
        return {order.order_id}

    received = await collect(nats_url, act, expected=6)
    order = placed[0]

    assert [subject for subject, _, _ in received] == [
        events.PLACED,
        events.CONFIRMED,
        events.STATUS_CHANGED,
        events.CANCELLED,
        events.STATUS_CHANGED,
        events.STATUS_CHANGED,
    ]
    cancelled = events_pb2.OrderCancelled.FromString(received[3][1])
    assert (cancelled.reason, cancelled.previous_status, cancelled.payment_status) == (
        S.CANCELLATION_REASON_CHECKOUT_FAILED,
        S.ORDER_STATUS_CONFIRMED,
        S.PAYMENT_STATUS_VOIDED,
    )
    assert [(line.line_id, line.sku, line.quantity) for line in cancelled.lines] == [
        (line.line_id, line.sku, line.quantity) for line in order.lines
    ]
    confirmed = events_pb2.OrderConfirmed.FromString(received[1][1])
    assert confirmed.previous_status == S.ORDER_STATUS_UNSPECIFIED  # confirmed at creation
    entries = [events_pb2.OrderStatusChanged.FromString(received[i][1]).entry for i in (4, 5)]
    assert [(e.change, e.previous_status, e.status, e.payment_status, e.reason) for e in entries] == [
        (S.ORDER_CHANGE_CANCELLED, S.ORDER_STATUS_CONFIRMED, S.ORDER_STATUS_CANCELLED, S.PAYMENT_STATUS_AUTHORISED,
         "checkout_failed"),
        (S.ORDER_CHANGE_PAYMENT_VOIDED, S.ORDER_STATUS_CANCELLED, S.ORDER_STATUS_CANCELLED, S.PAYMENT_STATUS_VOIDED,
         "checkout_failed"),
    ]  # fmt: skip


async def test_a_return_is_published_with_what_a_mail_needs(shop: Shop, nats_url: str) -> None:
    assert shop.catalog is not None
    sku = f"EV-{shop.new_id()[:8]}"
    await shop.catalog.product([sku])
    warehouse = await shop.inventory.stocked({sku: 0})
    customer_id = shop.new_id("cus-")
    order = await shop.place(customer_id=customer_id, lines={sku: (1, 1000)})
    await shop.capture(order.order_id)
    order = await shop.fulfil(order)
    staff = metadata_for("store_staff", "clerk-1")
    returned: list[S.Return] = []

    async def act() -> set[str]:
        started = await shop.stub.RequestReturn(
            S.RequestReturnRequest(
                order_id=order.order_id,
                request_id=shop.new_id(),
                lines=[S.ReturnLineRequest(line_id=order.lines[0].line_id, quantity=1)],
                reason=S.RETURN_REASON_WRONG_ITEM,
                method=S.RETURN_METHOD_MAIL,
            ),
            metadata=shop.customer(customer_id),
        )
        return_id = started.order_return.return_id
        await shop.stub.ReceiveReturn(
            S.ReceiveReturnRequest(return_id=return_id, location_id=warehouse), metadata=staff
        )
        inspected = await shop.stub.InspectReturn(
            S.InspectReturnRequest(
                return_id=return_id,
                request_id=shop.new_id(),
                lines=[S.InspectedLine(line_id=order.lines[0].line_id, accepted_sellable=1)],
            ),
            metadata=staff,
        )
        returned.append(inspected.order_return)
        return {order.order_id}

    # The fulfilment's own events may still be on their way when listening starts: up to 12 messages.
    received = await collect(nats_url, act, expected=12)
    subjects = [subject for subject, _, _ in received]
    assert [s for s in subjects if ".return_" in s] == [
        return_operations.RETURN_REQUESTED,
        return_operations.RETURN_RECEIVED,
        return_operations.RETURN_INSPECTED,
        return_operations.RETURN_REFUNDED,
    ]
    assert events.REFUNDED in subjects
    changes = [
        events_pb2.OrderStatusChanged.FromString(data).entry.change
        for subject, data, _ in received
        if subject == events.STATUS_CHANGED
    ]
    for change in (S.ORDER_CHANGE_RETURN_REQUESTED, S.ORDER_CHANGE_RETURN_RECEIVED, S.ORDER_CHANGE_RETURN_INSPECTED):
        assert change in changes
    data = next(data for subject, data, _ in received if subject == return_operations.RETURN_RECEIVED)
    mail = events_pb2.ReturnReceived.FromString(data)
    assert (mail.order_return.order_number, mail.order_return.email) == (order.number, order.email)
    assert mail.order_return.receiving_location_id == warehouse and mail.meta.aggregate_id == order.order_id
    assert [(x.sku, x.requested_quantity) for x in mail.order_return.lines] == [(sku, 1)]
    refunded = events_pb2.ReturnRefunded.FromString(
        next(data for subject, data, _ in received if subject == return_operations.RETURN_REFUNDED)
    )
    # Wrong item is the shop's fault: the unit and the shipping come back.
    assert refunded.order_return == returned[0] and refunded.order_return.refund_amount.amount == 1500
