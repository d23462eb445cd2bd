"""Invoices and credit as plain data: what an invoice order owes, when it is due, what was paid, and
whether an account may take on more debt. No I/O.

An invoice is issued with its order and never changes its amounts: payments recorded against it and
refunds of its order (credits) reduce its balance; cancelling the order (only possible before
fulfilment) voids it. Its status is derived, not stored: VOID when its order is cancelled, PAID once
payments and credits cover the total, OPEN otherwise; overdue is an OPEN invoice past its due date.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from shop_order.domain.model import Actor, Address, Order, OrderStatus, Totals
from shopkit.errors import FailedPrecondition
from shopkit.money import Money

# ErrorInfo reasons callers can branch on.
CREDIT_LIMIT_EXCEEDED = "CREDIT_LIMIT_EXCEEDED"
INVOICES_OVERDUE = "INVOICES_OVERDUE"
INVOICE_OVERPAID = "INVOICE_OVERPAID"
INVOICE_NOT_OPEN = "INVOICE_NOT_OPEN"
INVOICE_CURRENCY_MISMATCH = "INVOICE_CURRENCY_MISMATCH"


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


@dataclass(frozen=True, slots=True)
class InvoiceTerms:
    """What CreateOrder gets for an invoice order: the account's terms and its credit limit."""

    terms_days: int = 0
    credit_limit: Money | None = None  # None: no limit


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    sku: str
    name: str
    quantity: int
    unit_price: int
    discount: int
    line_total: int
    tax: int


@dataclass(frozen=True, slots=True)
class InvoicePayment:
    payment_id: str
    amount: Money
    reference: str
    paid_at: datetime
    recorded_at: datetime
    recorded_by: Actor
    idempotency_key: str = ""
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class Invoice:
    number: str
    account_id: str
    customer_id: str
    order_id: str
    order_number: str
    issued_at: datetime
    due_at: datetime
    terms_days: int
    currency: str
    lines: tuple[InvoiceLine, ...]
    totals: Totals
    billing_address: Address
    purchase_order_number: str
    amount_paid: int = 0
    credited: int = 0  # refunds of the order
    order_cancelled: bool = False
    payments: tuple[InvoicePayment, ...] = field(default_factory=tuple)
    seq: int = 0  # the store's insertion order (page cursor)

    @property
    def total(self) -> int:
        return self.totals.total.amount

    @property
    def status(self) -> InvoiceStatus:
        if self.order_cancelled:
            return InvoiceStatus.VOID
        return InvoiceStatus.PAID if self.balance == 0 else InvoiceStatus.OPEN

    @property
    def balance(self) -> int:
        """What is still owed: never negative (a credit after full payment is the shop's to refund)."""
        if self.order_cancelled:
            return 0
        return max(self.total - self.amount_paid - self.credited, 0)

    def overdue(self, now: datetime) -> bool:
        return self.status is InvoiceStatus.OPEN and self.due_at < now


def due_date(issued_at: datetime, terms_days: int) -> datetime:
    """Net terms: due `terms_days` after issue (0: due on issue)."""
    return issued_at + timedelta(days=terms_days)


def issue(order: Order, terms_days: int, now: datetime) -> Invoice:
    """The invoice of a new invoice order (its number is the store's to give)."""
    return Invoice(
        number="",
        account_id=order.account_id,
        customer_id=order.customer_id,
        order_id=order.order_id,
        order_number=order.number,
        issued_at=now,
        due_at=due_date(now, terms_days),
        terms_days=terms_days,
        currency=order.currency,
        lines=tuple(
            InvoiceLine(
                line.sku,
                line.name,
                line.quantity,
                line.unit_price.amount,
                line.discount.amount,
                line.line_total.amount,
                line.tax,
            )
            for line in order.lines
        ),
        totals=order.totals,
        billing_address=order.billing_address,
        purchase_order_number=order.payment.purchase_order_number,
        order_cancelled=order.status is OrderStatus.CANCELLED,
    )


@dataclass(frozen=True, slots=True)
class Credit:
    """An account's debt in one currency: the sum of its open invoices' balances."""

    account_id: str
    currency: str
    open_balance: int = 0
    open_count: int = 0
    overdue_count: int = 0
    overdue_amount: int = 0


def check_credit(credit: Credit, order_total: Money, limit: Money | None) -> None:
    """Refuse an invoice order of an account with an overdue invoice, or one that would take its open
    balance past its credit limit (None: no limit). Overdue invoices in any currency block."""
    if credit.overdue_count:
        raise FailedPrecondition(
            f"account {credit.account_id} has {credit.overdue_count} overdue invoice(s): "
            "pay them before placing invoice orders",
            reason=INVOICES_OVERDUE,
            metadata={
                "account_id": credit.account_id,
                "overdue_count": str(credit.overdue_count),
                "overdue_amount": str(credit.overdue_amount),
                "currency": credit.currency,
            },
        )
    if limit is None:
        return
    if limit.currency != order_total.currency:
        # The account's debt is weighed in its credit limit's currency; there is no exchange here.
        raise FailedPrecondition(
            f"the account's credit limit is in {limit.currency}: invoice orders in {order_total.currency} "
            "cannot be weighed against it",
            reason=CREDIT_LIMIT_EXCEEDED,
            metadata={
                "account_id": credit.account_id,
                "credit_limit": str(limit.amount),
                "currency": limit.currency,
                "order_currency": order_total.currency,
            },
        )
    after = credit.open_balance + order_total.amount
    if after > limit.amount:
        raise FailedPrecondition(
            f"the account's open invoices ({credit.open_balance}) and this order ({order_total.amount}) "
            f"would exceed its credit limit of {limit.amount} {limit.currency}",
            reason=CREDIT_LIMIT_EXCEEDED,
            metadata={
                "account_id": credit.account_id,
                "open_balance": str(credit.open_balance),
                "order_total": str(order_total.amount),
                "credit_limit": str(limit.amount),
                "available": str(max(limit.amount - credit.open_balance, 0)),
                "currency": limit.currency,
            },
        )


@dataclass(frozen=True, slots=True)
class PaymentCommand:
    idempotency_key: str
    amount: Money
    reference: str
    paid_at: datetime | None  # None: now

    @property
    def fingerprint(self) -> str:
        body = {
            "amount": self.amount.amount,
            "currency": self.amount.currency,
            "reference": self.reference,
            "paid_at": None if self.paid_at is None else self.paid_at.isoformat(),
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _refuse(invoice: Invoice, reason: str, message: str, **extra: str) -> FailedPrecondition:
    return FailedPrecondition(message, reason=reason, metadata={"invoice_number": invoice.number, **extra})


def pay(invoice: Invoice, command: PaymentCommand, payment_id: str, actor: Actor, now: datetime) -> InvoicePayment:
    """A new payment against an open invoice: in its currency, at most its balance."""
    if command.amount.currency != invoice.currency:
        raise _refuse(
            invoice,
            INVOICE_CURRENCY_MISMATCH,
            f"invoice {invoice.number} is in {invoice.currency}, not {command.amount.currency}",
        )
    if invoice.status is not InvoiceStatus.OPEN:
        raise _refuse(invoice, INVOICE_NOT_OPEN, f"invoice {invoice.number} is {invoice.status}: nothing is owed")
    if command.amount.amount > invoice.balance:
        raise _refuse(
            invoice,
            INVOICE_OVERPAID,
            f"{command.amount.amount} is more than the balance {invoice.balance} of invoice {invoice.number}",
            balance=str(invoice.balance),
            currency=invoice.currency,
        )
    return InvoicePayment(
        payment_id=payment_id,
        amount=command.amount,
        reference=command.reference,
        paid_at=command.paid_at or now,
        recorded_at=now,
        recorded_by=actor,
        idempotency_key=command.idempotency_key,
        fingerprint=command.fingerprint,
    )
