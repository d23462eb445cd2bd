"""Invoices and account credit as protobuf (for the API and the invoice events), and what CreateOrder
reads of an invoice order's terms."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2
from shop_order.codec import _enum_map, address, money, timestamp
from shop_order.domain.invoices import Credit, Invoice, InvoicePayment, InvoiceStatus, InvoiceTerms
from shop_order.domain.model import Actor
from shopkit.errors import Violations
from shopkit.money import Money, is_currency

INVOICE_STATUS = _enum_map(InvoiceStatus, order_pb2.InvoiceStatus, "INVOICE_STATUS")
INVOICE_STATUS_FROM_PB = {number: status for status, number in INVOICE_STATUS.items()}
MAX_TERMS_DAYS = 365
DEFAULT_TERMS_DAYS = 30
MAX_AMOUNT = 10**15


def payment(value: InvoicePayment) -> order_pb2.InvoicePayment:
    return order_pb2.InvoicePayment(
        payment_id=value.payment_id,
        amount=money(value.amount),
        reference=value.reference,
        paid_at=timestamp(value.paid_at),
        recorded_at=timestamp(value.recorded_at),
        recorded_by=_actor(value.recorded_by),
    )


def _actor(value: Actor) -> order_pb2.Actor:
    return order_pb2.Actor(role=value.role, id=value.id)


def invoice(value: Invoice, now: datetime) -> order_pb2.Invoice:
    c = value.currency

    def m(amount: int) -> common_pb2.Money:
        return money(Money(amount, c))

    totals = value.totals
    return order_pb2.Invoice(
        number=value.number,
        account_id=value.account_id,
        customer_id=value.customer_id,
        order_id=value.order_id,
        order_number=value.order_number,
        status=INVOICE_STATUS[value.status],  # type: ignore[arg-type]
        overdue=value.overdue(now),
        issued_at=timestamp(value.issued_at),
        due_at=timestamp(value.due_at),
        payment_terms_days=value.terms_days,
        currency=c,
        lines=[
            order_pb2.InvoiceLine(
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=m(line.unit_price),
                discount=m(line.discount),
                line_total=m(line.line_total),
                tax=m(line.tax),
            )
            for line in value.lines
        ],
        totals=order_pb2.OrderTotals(
            subtotal=money(totals.subtotal),
            discount_total=money(totals.discount_total),
            shipping_total=money(totals.shipping_total),
            tax_total=money(totals.tax_total),
            total=money(totals.total),
            tax_included=totals.tax_included,
        ),
        billing_address=address(value.billing_address),
        purchase_order_number=value.purchase_order_number,
        amount_paid=m(value.amount_paid),
        credited=m(value.credited),
        balance=m(value.balance),
        payments=[payment(p) for p in value.payments],
    )


def summary(value: Invoice, now: datetime) -> order_pb2.InvoiceSummary:
    return order_pb2.InvoiceSummary(
        number=value.number,
        due_at=timestamp(value.due_at),
        balance=money(Money(value.balance, value.currency)),
        status=INVOICE_STATUS[value.status],  # type: ignore[arg-type]
        overdue=value.overdue(now),
    )


def credit(account_id: str, credits: Sequence[Credit]) -> order_pb2.GetAccountCreditResponse:
    owing = [c for c in credits if c.open_count]
    overdue = [c for c in credits if c.overdue_count]
    return order_pb2.GetAccountCreditResponse(
        account_id=account_id,
        open_balance=[common_pb2.Money(amount=c.open_balance, currency=c.currency) for c in owing],
        open_count=sum(c.open_count for c in credits),
        overdue_count=sum(c.overdue_count for c in credits),
        overdue_amount=[common_pb2.Money(amount=c.overdue_amount, currency=c.currency) for c in overdue],
    )


def invoice_terms(request: order_pb2.CreateOrderRequest) -> InvoiceTerms | None:
    """An invoice order's terms and credit limit (None for card orders); bad values are INVALID_ARGUMENT."""
    if request.payment.kind != order_pb2.PAYMENT_METHOD_KIND_INVOICE:
        return None
    v = Violations()
    # 0 is "not sent" (proto3): callers from before terms travelled get the usual NET 30.
    days = request.payment.payment_terms_days or DEFAULT_TERMS_DAYS
    v.check(0 <= days <= MAX_TERMS_DAYS, "payment.payment_terms_days", f"must be 0 to {MAX_TERMS_DAYS}")
    limit = None
    if request.HasField("credit_limit"):
        pb = request.credit_limit
        # Another valid currency than the order's is not bad input: the credit check refuses it.
        v.check(is_currency(pb.currency), "credit_limit.currency", "must be an ISO-4217 code like USD")
        v.check(0 <= pb.amount <= MAX_AMOUNT, "credit_limit.amount", f"must be 0 to {MAX_AMOUNT}")
        limit = Money(pb.amount, pb.currency)
    v.raise_if_any()
    return InvoiceTerms(days, limit)
