"""Domain -> protobuf for responses (api) and event payloads (events): one mapping for both."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2
from shop_order.domain.chain import ApprovalChain, StepState, Verdict
from shop_order.domain.model import (
    Address,
    ApprovalStatus,
    CancellationReason,
    Change,
    FulfilmentRecord,
    FulfilmentStatus,
    HistoryEntry,
    LineQuantity,
    Order,
    OrderStatus,
    PaymentKind,
    PaymentStatus,
    RefundRecord,
)
from shopkit.money import Money

E = TypeVar("E", bound=StrEnum)


def _enum_map(domain: type[E], proto_enum: object, prefix: str) -> dict[E, int]:
    """Domain enum member -> protobuf enum number, by name (ORDER_STATUS_<NAME>)."""
    value = proto_enum.Value  # type: ignore[attr-defined]
    return {member: int(value(f"{prefix}_{member.name}")) for member in domain}


ORDER_STATUS = _enum_map(OrderStatus, order_pb2.OrderStatus, "ORDER_STATUS")
PAYMENT_STATUS = _enum_map(PaymentStatus, order_pb2.PaymentStatus, "PAYMENT_STATUS")
FULFILMENT_STATUS = _enum_map(FulfilmentStatus, order_pb2.FulfilmentStatus, "FULFILMENT_STATUS")
CANCELLATION_REASON = _enum_map(CancellationReason, order_pb2.CancellationReason, "CANCELLATION_REASON")
CHANGE = _enum_map(Change, order_pb2.OrderChange, "ORDER_CHANGE")
APPROVAL_STATUS = _enum_map(ApprovalStatus, order_pb2.ApprovalStatus, "APPROVAL_STATUS")
PAYMENT_KIND = _enum_map(PaymentKind, order_pb2.PaymentMethodKind, "PAYMENT_METHOD_KIND")
STEP_STATE = _enum_map(StepState, order_pb2.ApprovalStepState, "APPROVAL_STEP_STATE")
VERDICT = _enum_map(Verdict, order_pb2.ApprovalVerdict, "APPROVAL_VERDICT")
ORDER_STATUS_FROM_PB = {number: status for status, number in ORDER_STATUS.items()}
CANCELLATION_REASON_FROM_PB = {number: reason for reason, number in CANCELLATION_REASON.items()}
PAYMENT_KIND_FROM_PB = {number: kind for kind, number in PAYMENT_KIND.items()}


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def money(value: Money) -> common_pb2.Money:
    return common_pb2.Money(amount=value.amount, currency=value.currency)


def address(value: Address) -> common_pb2.Address:
    return common_pb2.Address(**asdict(value))


def quantities(values: tuple[LineQuantity, ...]) -> list[order_pb2.LineQuantity]:
    return [order_pb2.LineQuantity(line_id=q.line_id, quantity=q.quantity) for q in values]


def fulfilment(record: FulfilmentRecord) -> order_pb2.Fulfilment:
    return order_pb2.Fulfilment(
        fulfilment_id=record.fulfilment_id,
        lines=quantities(record.lines),
        location_id=record.location_id,
        carrier=record.carrier,
        tracking_number=record.tracking_number,
        fulfilled_at=timestamp(record.fulfilled_at),
    )


def refund(record: RefundRecord) -> order_pb2.Refund:
    return order_pb2.Refund(
        refund_id=record.refund_id,
        amount=money(record.amount),
        lines=quantities(record.lines),
        reason=record.reason,
        provider_refund_id=record.provider_refund_id,
        refunded_at=timestamp(record.refunded_at),
    )


def approval_decision(approver: str, verdict: Verdict, note: str, at: datetime | None) -> order_pb2.ApprovalDecision:
    return order_pb2.ApprovalDecision(
        approver=approver,
        decision=VERDICT[verdict],  # type: ignore[arg-type]
        note=note,
        at=timestamp(at),
    )


def approval_progress(chain: ApprovalChain) -> order_pb2.ApprovalProgress | None:
    """The order's approval chain and its decisions; None when it has none."""
    if not chain.steps:
        return None
    return order_pb2.ApprovalProgress(
        steps=[
            order_pb2.ApprovalStepProgress(
                name=step.name,
                rule_id=step.rule_id,
                approvers=step.approvers,
                quorum=step.quorum,
                state=STEP_STATE[step.state],  # type: ignore[arg-type]
                decisions=[approval_decision(d.approver, d.verdict, d.note, d.at) for d in step.decisions],
            )
            for step in chain.steps
        ],
        current_step=chain.current,
        hold_days=chain.hold_days,
    )


def history_entry(entry: HistoryEntry) -> order_pb2.OrderHistoryEntry:
    return order_pb2.OrderHistoryEntry(
        sequence=entry.sequence,
        change=CHANGE[entry.change],  # type: ignore[arg-type]
        status=ORDER_STATUS[entry.status],  # type: ignore[arg-type]
        previous_status=0 if entry.previous_status is None else ORDER_STATUS[entry.previous_status],  # type: ignore[arg-type]
        payment_status=PAYMENT_STATUS[entry.payment_status],  # type: ignore[arg-type]
        fulfilment_status=FULFILMENT_STATUS[entry.fulfilment_status],  # type: ignore[arg-type]
        actor=order_pb2.Actor(role=entry.actor.role, id=entry.actor.id),
        reason=entry.reason,
        note=entry.note,
        occurred_at=timestamp(entry.occurred_at),
    )


def order(value: Order, *, full: bool = False) -> order_pb2.Order:
    """The order as the API shows it; `full` adds the history."""
    currency = value.currency
    payment, approval, method = value.payment, value.approval, value.fulfilment_method
    pb = order_pb2.Order(
        order_id=value.order_id,
        number=value.number,
        checkout_id=value.checkout_id,
        customer_id=value.customer_id,
        account_id=value.account_id,
        email=value.email,
        channel=value.channel,
        status=ORDER_STATUS[value.status],  # type: ignore[arg-type]
        payment_status=PAYMENT_STATUS[value.payment_status],  # type: ignore[arg-type]
        fulfilment_status=FULFILMENT_STATUS[value.fulfilment_status],  # type: ignore[arg-type]
        currency=currency,
        lines=[
            order_pb2.OrderLine(
                line_id=line.line_id,
                sku=line.sku,
                product_id=line.product_id,
                name=line.name,
                quantity=line.quantity,
                unit_price=money(line.unit_price),
                discount=money(line.discount),
                line_total=money(line.line_total),
                fulfilled_quantity=line.fulfilled_quantity,
                refunded_quantity=line.refunded_quantity,
                tax=money(Money(line.tax, currency)),
            )
            for line in value.lines
        ],
        totals=order_pb2.OrderTotals(
            subtotal=money(value.totals.subtotal),
            discount_total=money(value.totals.discount_total),
            shipping_total=money(value.totals.shipping_total),
            tax_total=money(value.totals.tax_total),
            total=money(value.totals.total),
            tax_included=value.totals.tax_included,
        ),
        coupon_code=value.coupon_code,
        sales_quote_id=value.sales_quote_id,
        billing_address=address(value.billing_address),
        payment=order_pb2.OrderPayment(
            kind=PAYMENT_KIND[payment.kind],  # type: ignore[arg-type]
            payment_method_id=payment.payment_method_id,
            authorisation_id=payment.authorisation_id,
            purchase_order_number=payment.purchase_order_number,
            authorised_amount=money(payment.authorised_amount),
            captured_amount=money(Money(payment.captured_amount, currency)),
            refunded_amount=money(Money(payment.refunded_amount, currency)),
        ),
        approval=order_pb2.Approval(
            status=APPROVAL_STATUS[approval.status],  # type: ignore[arg-type]
            limit=None if approval.limit is None else money(approval.limit),
            decided_by=approval.decided_by,
            note=approval.note,
            decided_at=timestamp(approval.decided_at),
        ),
        fraud_review_id=value.fraud_review_id,
        cancellation_reason=(
            0 if value.cancellation_reason is None else CANCELLATION_REASON[value.cancellation_reason]  # type: ignore[arg-type]
        ),
        fulfilments=[fulfilment(f) for f in value.fulfilments],
        refunds=[refund(r) for r in value.refunds],
        version=value.version,
        created_at=timestamp(value.created_at),
        updated_at=timestamp(value.updated_at),
        reservation_id=value.reservation_id,
        approval_progress=approval_progress(value.chain),
    )
    if method.is_pickup:
        pb.fulfilment_method.pickup.store_id = method.store_id
    elif method.ship_to is not None:
        pb.fulfilment_method.ship.address.CopyFrom(address(method.ship_to))
    if full:
        pb.history.extend(history_entry(entry) for entry in value.history)
    return pb
