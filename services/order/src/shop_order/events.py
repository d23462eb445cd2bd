"""Events the order service publishes, staged in the outbox inside the transaction of the change.

Every history entry publishes shop.order.status_changed; the milestones (placed, confirmed,
cancelled, fulfilled, refunded) are published beside it. The service consumes no events: checkout
drives orders through gRPC.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message

from shop.order.v1 import events_pb2
from shop_order import codec
from shop_order.domain import machine
from shop_order.domain.decisions import Decision, cancelled_lines
from shop_order.domain.model import Change, HistoryEntry, Order, OrderStatus

PLACED = "shop.order.placed"
CONFIRMED = "shop.order.confirmed"
CANCELLED = "shop.order.cancelled"
FULFILLED = "shop.order.fulfilled"
REFUNDED = "shop.order.refunded"
STATUS_CHANGED = "shop.order.status_changed"
APPROVAL_DECIDED = "shop.order.approval_decided"
APPROVAL_CHANGES = frozenset({Change.APPROVAL_DECIDED, Change.APPROVED, Change.REJECTED})


def of(decision: Decision, entries: Sequence[HistoryEntry]) -> list[tuple[str, Message, str]]:
    """The events of a stored decision: (subject, message, aggregate id)."""
    order = decision.order
    staged: list[tuple[str, Message, str]] = []
    for entry in entries:
        staged.extend(_milestones(order, decision, entry))
        staged.append(
            (
                STATUS_CHANGED,
                events_pb2.OrderStatusChanged(
                    order_id=order.order_id,
                    checkout_id=order.checkout_id,
                    customer_id=order.customer_id,
                    account_id=order.account_id,
                    entry=codec.history_entry(entry),
                ),
                order.order_id,
            )
        )
    return staged


def _milestones(order: Order, decision: Decision, entry: HistoryEntry) -> list[tuple[str, Message, str]]:
    oid = order.order_id
    found: list[tuple[str, Message, str]] = []
    if entry.change is Change.CREATED:
        found.append((PLACED, events_pb2.OrderPlaced(order=codec.order(order)), oid))
    if entry.status is OrderStatus.CONFIRMED and entry.previous_status is not OrderStatus.CONFIRMED:
        previous = entry.previous_status if entry.previous_status in machine.HELD else None
        found.append(
            (
                CONFIRMED,
                events_pb2.OrderConfirmed(
                    order_id=oid,
                    checkout_id=order.checkout_id,
                    customer_id=order.customer_id,
                    account_id=order.account_id,
                    previous_status=0 if previous is None else codec.ORDER_STATUS[previous],  # type: ignore[arg-type]
                ),
                oid,
            )
        )
    if entry.status is OrderStatus.CANCELLED and entry.previous_status is not OrderStatus.CANCELLED:
        assert entry.previous_status is not None and order.cancellation_reason is not None
        found.append(
            (
                CANCELLED,
                events_pb2.OrderCancelled(
                    order_id=oid,
                    checkout_id=order.checkout_id,
                    customer_id=order.customer_id,
                    account_id=order.account_id,
                    reason=codec.CANCELLATION_REASON[order.cancellation_reason],  # type: ignore[arg-type]
                    previous_status=codec.ORDER_STATUS[entry.previous_status],  # type: ignore[arg-type]
                    lines=[
                        events_pb2.CancelledLine(line_id=line_id, sku=sku, quantity=quantity)
                        for line_id, sku, quantity in cancelled_lines(order)
                    ],
                    # After the whole cancellation (the void or refund is part of it).
                    payment_status=codec.PAYMENT_STATUS[order.payment_status],  # type: ignore[arg-type]
                ),
                oid,
            )
        )
    if entry.change in APPROVAL_CHANGES:
        found.extend(_approval_decided(order, entry))
    if entry.change is Change.FULFILLED and decision.fulfilment is not None:
        found.append(
            (
                FULFILLED,
                events_pb2.OrderFulfilled(
                    order_id=oid,
                    customer_id=order.customer_id,
                    fulfilment=codec.fulfilment(decision.fulfilment),
                    status=codec.ORDER_STATUS[entry.status],  # type: ignore[arg-type]
                ),
                oid,
            )
        )
    if entry.change is Change.REFUNDED and decision.refund is not None:
        found.append(
            (
                REFUNDED,
                events_pb2.OrderRefunded(
                    order_id=oid,
                    customer_id=order.customer_id,
                    refund=codec.refund(decision.refund),
                    payment_status=codec.PAYMENT_STATUS[entry.payment_status],  # type: ignore[arg-type]
                    status=codec.ORDER_STATUS[entry.status],  # type: ignore[arg-type]
                ),
                oid,
            )
        )
    return found


def _approval_decided(order: Order, entry: HistoryEntry) -> list[tuple[str, Message, str]]:
    """The approver's decision this entry recorded (the one of its actor at its time)."""
    for index, step in reversed(list(enumerate(order.chain.steps))):
        for d in step.decisions:
            if d.approver == entry.actor.id and d.at == entry.occurred_at:
                event = events_pb2.OrderApprovalDecided(
                    order_id=order.order_id,
                    checkout_id=order.checkout_id,
                    customer_id=order.customer_id,
                    account_id=order.account_id,
                    step=index,
                    step_name=step.name,
                    decision=codec.approval_decision(d.approver, d.verdict, d.note, d.at),
                    step_state=codec.STEP_STATE[step.state],  # type: ignore[arg-type]
                    status=codec.ORDER_STATUS[entry.status],  # type: ignore[arg-type]
                )
                return [(APPROVAL_DECIDED, event, order.order_id)]
    return []
