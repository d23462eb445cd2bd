"""The replacement order of an exchange (pure): which lines, at which price, paid how."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from datetime import datetime

from shop_order.domain import decisions
from shop_order.domain.decisions import Decision
from shop_order.domain.model import (
    Actor,
    Change,
    FulfilmentStatus,
    HistoryEntry,
    Order,
    OrderStatus,
    PaymentKind,
    PaymentStatus,
)
from shop_order.domain.returns import ProductTerms, Return
from shopkit.money import Money

EXCHANGE_NOT_POSSIBLE = "EXCHANGE_NOT_POSSIBLE"


def place_replacement(
    order: Order, ret: Return, terms: Mapping[str, ProductTerms], actor: Actor, now: datetime
) -> Decision:
    """The replacement order of an exchange: the exchanged units at the original unit price, whose
    total is exactly what those units paid (their discount and tax share). It pays with the original
    payment, which keeps that amount instead of refunding it: no new payment is taken, and a later
    return of the replacement refunds to the original card. Confirmed at once, shipped like the
    original; its id and checkout id derive from the return, so it is placed once."""
    items = [line for line in ret.lines if line.exchange_sku and line.accepted]
    new_lines = []
    tax = 0
    for item in items:
        original = order.line(item.line_id)
        assert original is not None
        gross = original.unit_price.amount * item.accepted
        discount = max(0, gross - item.refund_amount)
        line_tax = max(0, item.refund_amount - gross)
        tax += line_tax
        rule = terms.get(item.exchange_sku, ProductTerms())
        new_lines.append(
            dataclasses.replace(
                original,
                line_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"exchange:{ret.return_id}:{item.line_id}")),
                sku=item.exchange_sku,
                product_id=rule.product_id or original.product_id,
                name=rule.name or original.name,
                quantity=item.accepted,
                discount=Money(discount, order.currency),
                line_total=Money(gross - discount, order.currency),
                tax=line_tax,
                fulfilled_quantity=0,
                refunded_quantity=0,
            )
        )
    subtotal = sum(line.unit_price.amount * line.quantity for line in new_lines)
    discounts = sum(line.discount.amount for line in new_lines)
    total = subtotal - discounts + tax
    if total <= 0 and order.payment.kind is PaymentKind.CARD:
        raise decisions.refuse(order, EXCHANGE_NOT_POSSIBLE, "units that were not paid for cannot be exchanged")

    def money(amount: int) -> Money:
        return Money(amount, order.currency)

    card = order.payment.kind is PaymentKind.CARD
    payment_status = PaymentStatus.CAPTURED if card else PaymentStatus.INVOICED
    exchange_id = f"exchange-{ret.return_id}"
    draft = dataclasses.replace(
        order,
        order_id=str(uuid.uuid5(uuid.NAMESPACE_URL, exchange_id)),
        number="",
        checkout_id=exchange_id,
        reservation_id=exchange_id,
        lines=tuple(new_lines),
        totals=dataclasses.replace(
            order.totals,
            subtotal=money(subtotal),
            discount_total=money(discounts),
            shipping_total=money(0),
            tax_total=money(tax),
            total=money(total),
            tax_included=False,  # the tax the units paid is added to the lines' prices, as it was paid
        ),
        coupon_code="",
        fraud_review_id="",
        fulfilments=(),
        refunds=(),
        history=(),
        fulfilled_at=None,
        cancellation_reason=None,
        payment=dataclasses.replace(
            order.payment,
            authorised_amount=money(total if card else 0),
            captured_amount=total if card else 0,
            refunded_amount=0,
        ),
    )
    placed = decisions.place(draft, approval_required=False, approval_limit=None, actor=actor, now=now)
    confirmed = dataclasses.replace(placed.order, payment_status=payment_status)
    entry = HistoryEntry(
        0,
        Change.CREATED,
        OrderStatus.CONFIRMED,
        None,
        payment_status,
        FulfilmentStatus.UNFULFILLED,
        actor,
        reason="exchange",
        note=f"exchange for return {ret.return_id} of order {order.number}",
        occurred_at=now,
    )
    return Decision(confirmed, (entry,))
