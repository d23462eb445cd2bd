"""Protobuf ⇄ domain at the service's edges: orders as the order service sends them, mails as the
API returns them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from shop.common.v1 import common_pb2
from shop.notifications.v1 import notifications_pb2 as pb
from shop.order.v1 import order_pb2
from shop_notifications.domain import ApprovalStep, DeliveryStatus, Line, MailKind, OrderFacts
from shopkit.money import Money

KIND_TO_PB = {
    MailKind.ORDER_CONFIRMATION: pb.NOTIFICATION_KIND_ORDER_CONFIRMATION,
    MailKind.SHIPMENT: pb.NOTIFICATION_KIND_SHIPMENT,
    MailKind.REFUND: pb.NOTIFICATION_KIND_REFUND,
    MailKind.RETURN_RECEIVED: pb.NOTIFICATION_KIND_RETURN_RECEIVED,
    MailKind.APPROVAL_NEEDED: pb.NOTIFICATION_KIND_APPROVAL_NEEDED,
}
STATUS_TO_PB = {
    DeliveryStatus.PENDING: pb.DELIVERY_STATUS_PENDING,
    DeliveryStatus.SENT: pb.DELIVERY_STATUS_SENT,
    DeliveryStatus.FAILED: pb.DELIVERY_STATUS_FAILED,
}
STATUS_FROM_PB = {value: key for key, value in STATUS_TO_PB.items()}


def money(message: common_pb2.Money, currency: str) -> Money:
    return Money(message.amount, message.currency or currency)


def address_lines(address: common_pb2.Address) -> tuple[str, ...]:
    city = " ".join(part for part in (address.postal_code, address.city) if part)
    parts = (address.name, address.line1, address.line2, city, address.region, address.country)
    return tuple(part for part in parts if part)


def order_facts(order: order_pb2.Order) -> OrderFacts:
    currency = order.currency
    totals = order.totals
    method = order.fulfilment_method
    return OrderFacts(
        order_id=order.order_id,
        number=order.number,
        email=order.email,
        account_id=order.account_id,
        customer_id=order.customer_id,
        lines=tuple(
            Line(line.name or line.sku, line.sku, line.quantity, money(line.line_total, currency))
            for line in order.lines
        ),
        subtotal=money(totals.subtotal, currency),
        shipping=money(totals.shipping_total, currency),
        tax=money(totals.tax_total, currency),
        discount=money(totals.discount_total, currency),
        total=money(totals.total, currency),
        ship_to=address_lines(method.ship.address) if method.HasField("ship") else (),
        pickup_store=method.pickup.store_id if method.HasField("pickup") else "",
    )


def waiting_step(order: order_pb2.Order) -> ApprovalStep | None:
    """The step of the order's approval chain that waits for decisions; None when none does."""
    progress = order.approval_progress
    if not order.HasField("approval_progress") or not 0 <= progress.current_step < len(progress.steps):
        return None
    step = progress.steps[progress.current_step]
    return ApprovalStep(
        progress.current_step + 1, len(progress.steps), step.name, tuple(step.approvers), max(1, step.quorum)
    )


def named_quantities(order: order_pb2.Order, lines: Iterable[order_pb2.LineQuantity]) -> tuple[tuple[str, int], ...]:
    """(product name, quantity) of each line of a fulfilment or refund."""
    names = {line.line_id: line.name or line.sku for line in order.lines}
    return tuple((names.get(line.line_id, line.line_id), line.quantity) for line in lines)


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def notification(row: Mapping[str, Any], *, bodies: bool) -> pb.Notification:
    message = pb.Notification(
        notification_id=str(row["id"]),
        kind=KIND_TO_PB[MailKind(row["kind"])],
        order_id=row["order_id"],
        event_id=row["event_id"],
        recipient=row["recipient"],
        subject=row["subject"],
        message_id=row["message_id"],
        status=STATUS_TO_PB[DeliveryStatus(row["status"])],
        attempts=row["attempts"],
        last_error=row["last_error"],
        created_at=timestamp(row["created_at"]),
        next_attempt_at=timestamp(row["next_attempt_at"]),
        sent_at=timestamp(row["sent_at"]),
    )
    if bodies:
        message.text_body = row["text_body"]
        message.html_body = row["html_body"]
    return message
