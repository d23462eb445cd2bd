"""Invoices as plain data: due dates from net terms, balances after payments and credits, overdue,
void on cancellation, and the credit check."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shop_order.domain import invoices
from shop_order.domain.invoices import Credit, Invoice, InvoiceStatus, PaymentCommand
from shop_order.domain.model import Actor, Address, Totals
from shopkit.errors import FailedPrecondition
from shopkit.money import Money

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ADMIN = Actor("admin", "ops-1")


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


def invoice(total: int = 10_000, **fields: object) -> Invoice:
    base = Invoice(
        number="INV-000001",
        account_id="acme",
        customer_id="buyer-1",
        order_id="o-1",
        order_number="SO-000001",
        issued_at=T0,
        due_at=invoices.due_date(T0, 30),
        terms_days=30,
        currency="EUR",
        lines=(),
        totals=Totals(eur(total), eur(0), eur(0), eur(0), eur(total)),
        billing_address=Address(name="Acme"),
        purchase_order_number="PO-1",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def test_due_date_is_issue_date_plus_net_terms() -> None:
    assert invoices.due_date(T0, 30) == T0 + timedelta(days=30)
    assert invoices.due_date(T0, 0) == T0


def test_balance_falls_with_payments_and_credits_and_the_invoice_is_paid_at_zero() -> None:
    assert invoice().balance == 10_000 and invoice().status is InvoiceStatus.OPEN
    assert invoice(amount_paid=4_000).balance == 6_000
    assert invoice(amount_paid=4_000, credited=1_000).balance == 5_000
    settled = invoice(amount_paid=9_000, credited=1_000)
    assert settled.balance == 0 and settled.status is InvoiceStatus.PAID
    # A credit after full payment is the shop's to pay back: the balance does not go negative.
    assert invoice(amount_paid=10_000, credited=2_000).balance == 0


def test_overdue_is_an_open_invoice_past_its_due_date() -> None:
    after = T0 + timedelta(days=31)
    assert not invoice().overdue(T0 + timedelta(days=29))
    assert invoice().overdue(after)
    assert not invoice(amount_paid=10_000).overdue(after)
    assert not invoice(order_cancelled=True).overdue(after)


def test_a_cancelled_order_voids_its_invoice() -> None:
    void = invoice(order_cancelled=True, amount_paid=1_000)
    assert void.status is InvoiceStatus.VOID and void.balance == 0


def test_credit_check_refuses_an_order_past_the_limit_with_the_figures() -> None:
    credit = Credit("acme", "EUR", open_balance=8_000, open_count=1)
    invoices.check_credit(credit, eur(2_000), eur(10_000))  # exactly the limit passes
    invoices.check_credit(credit, eur(50_000), None)  # no limit
    with pytest.raises(FailedPrecondition) as refused:
        invoices.check_credit(credit, eur(2_001), eur(10_000))
    assert refused.value.reason == invoices.CREDIT_LIMIT_EXCEEDED
    assert refused.value.metadata["open_balance"] == "8000"
    assert refused.value.metadata["order_total"] == "2001"
    assert refused.value.metadata["credit_limit"] == "10000"
    assert refused.value.metadata["available"] == "2000"


def test_a_limit_in_another_currency_cannot_weigh_the_order() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        invoices.check_credit(Credit("acme", "EUR"), eur(1), Money(1_000_000, "USD"))
    assert refused.value.reason == invoices.CREDIT_LIMIT_EXCEEDED
    assert refused.value.metadata["order_currency"] == "EUR" and refused.value.metadata["currency"] == "USD"


def test_credit_check_refuses_an_account_with_an_overdue_invoice_whatever_the_limit() -> None:
    credit = Credit("acme", "EUR", open_balance=100, open_count=1, overdue_count=1, overdue_amount=100)
    with pytest.raises(FailedPrecondition) as refused:
        invoices.check_credit(credit, eur(1), None)
    assert refused.value.reason == invoices.INVOICES_OVERDUE


def test_payments_are_in_the_invoice_currency_at_most_its_balance_and_only_on_open_invoices() -> None:
    open_one = invoice(amount_paid=6_000)
    paid = invoices.pay(open_one, PaymentCommand("key-00001", eur(4_000), "BANK-1", None), "p-1", ADMIN, T0)
    assert paid.amount == eur(4_000) and paid.paid_at == T0 and paid.recorded_by == ADMIN
    cases = [
        (open_one, PaymentCommand("key-00002", eur(4_001), "", None), invoices.INVOICE_OVERPAID),
        (open_one, PaymentCommand("key-00003", Money(100, "USD"), "", None), invoices.INVOICE_CURRENCY_MISMATCH),
        (invoice(order_cancelled=True), PaymentCommand("key-00004", eur(1), "", None), invoices.INVOICE_NOT_OPEN),
        (invoice(amount_paid=10_000), PaymentCommand("key-00005", eur(1), "", None), invoices.INVOICE_NOT_OPEN),
    ]
    for target, command, reason in cases:
        with pytest.raises(FailedPrecondition) as refused:
            invoices.pay(target, command, "p-x", ADMIN, T0)
        assert refused.value.reason == reason


def test_a_payments_fingerprint_is_its_body() -> None:
    a = PaymentCommand("key-00001", eur(100), "BANK-1", None)
    assert a.fingerprint == PaymentCommand("key-00001", eur(100), "BANK-1", None).fingerprint
    assert a.fingerprint != PaymentCommand("key-00001", eur(101), "BANK-1", None).fingerprint
    assert a.fingerprint != PaymentCommand("key-00001", eur(100), "BANK-2", None).fingerprint
