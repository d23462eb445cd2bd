"""Invoices and credit over a real gRPC channel and PostgreSQL: issued with the invoice order, paid
(idempotently, never overpaid), credited by refunds, voided by cancellation, and weighed against the
account's credit limit under a per-account lock."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Shop

ADMIN = metadata_for("admin")
SERVICE = metadata_for("service")
OPEN = order_pb2.INVOICE_STATUS_OPEN
PAID = order_pb2.INVOICE_STATUS_PAID
VOID = order_pb2.INVOICE_STATUS_VOID


def eur(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency="EUR")


def account() -> str:
    return f"acct-{uuid.uuid4().hex[:10]}"


def invoice_request(
    shop: Shop, account_id: str, *, price: int = 1000, terms: int = 30, limit: int | None = None
) -> order_pb2.CreateOrderRequest:
    """An invoice order of 2 x price + 500 shipping."""
    request = shop.request(account_id=account_id, invoice=True, lines={f"SKU-{uuid.uuid4().hex[:8]}": (2, price)})
    request.payment.payment_terms_days = terms
    if limit is not None:
        request.credit_limit.CopyFrom(eur(limit))
    return request


async def create(shop: Shop, request: order_pb2.CreateOrderRequest) -> order_pb2.Order:
    return (await shop.stub.CreateOrder(request, metadata=SERVICE)).order


async def get_invoice(shop: Shop, number: str, metadata: Any = ADMIN) -> order_pb2.Invoice:
    return (await shop.stub.GetInvoice(order_pb2.GetInvoiceRequest(number=number), metadata=metadata)).invoice


def payment(
    number: str, amount: int, key: str = "", reference: str = "BANK-1"
) -> order_pb2.RecordInvoicePaymentRequest:
    return order_pb2.RecordInvoicePaymentRequest(
        number=number, idempotency_key=key or f"pay-{uuid.uuid4()}", amount=eur(amount), reference=reference
    )


async def test_an_invoice_order_is_issued_its_invoice_due_after_the_net_terms(shop: Shop) -> None:
    account_id = account()
    order = await create(shop, invoice_request(shop, account_id, terms=30))
    assert order.invoice.number.startswith("INV-") and order.invoice.status == OPEN
    assert order.invoice.balance == eur(2500)
    invoice = await get_invoice(shop, order.invoice.number)
    assert (invoice.order_id, invoice.order_number, invoice.account_id) == (order.order_id, order.number, account_id)
    assert invoice.due_at.ToDatetime() - invoice.issued_at.ToDatetime() == timedelta(days=30)
    assert invoice.payment_terms_days == 30 and invoice.purchase_order_number == "PO-1"
    assert [(line.sku, line.quantity, line.line_total.amount) for line in invoice.lines] == [
        (order.lines[0].sku, 2, 2000)
    ]
    assert invoice.totals.total == eur(2500) and invoice.balance == eur(2500) and not invoice.overdue
    assert invoice.billing_address.name == "Ada"
    # The order shows its invoice, by id too; the event is in the outbox.
    got = await shop.stub.GetOrder(order_pb2.GetOrderRequest(order_id=order.order_id), metadata=ADMIN)
    assert got.order.invoice.number == invoice.number
    by_order = await shop.stub.GetInvoice(order_pb2.GetInvoiceRequest(order_id=order.order_id), metadata=ADMIN)
    assert by_order.invoice.number == invoice.number
    events = await shop.sql("SELECT count(*) AS n FROM outbox WHERE subject = 'shop.order.invoice_issued'")
    assert events[0].n >= 1
    # A repeat of CreateOrder returns the same order and issues nothing new.
    again = await create(shop, invoice_request(shop, account_id))
    assert again.invoice.number != invoice.number  # another checkout: another invoice
    repeat = invoice_request(shop, account_id)
    first = await create(shop, repeat)
    assert (await create(shop, repeat)).invoice.number == first.invoice.number


async def test_card_orders_have_no_invoice(shop: Shop) -> None:
    order = await shop.place()
    assert not order.HasField("invoice")


async def test_an_accounts_order_list_shows_each_invoice_orders_invoice(shop: Shop) -> None:
    account_id = account()
    unpaid = await create(shop, invoice_request(shop, account_id))
    paid = await create(shop, invoice_request(shop, account_id, price=2000))
    await shop.stub.RecordInvoicePayment(payment(paid.invoice.number, 4500), metadata=ADMIN)
    card = (await shop.stub.CreateOrder(shop.request(account_id=account_id), metadata=SERVICE)).order

    listed = await shop.stub.ListOrders(order_pb2.ListOrdersRequest(account_id=account_id), metadata=ADMIN)

    by_id = {order.order_id: order for order in listed.orders}
    assert set(by_id) == {unpaid.order_id, paid.order_id, card.order_id}
    assert (by_id[unpaid.order_id].invoice.number, by_id[unpaid.order_id].invoice.status) == (
        unpaid.invoice.number,
        OPEN,
    )
    assert by_id[unpaid.order_id].invoice.balance == eur(2500)
    assert (by_id[paid.order_id].invoice.status, by_id[paid.order_id].invoice.balance) == (PAID, eur(0))
    assert not by_id[card.order_id].HasField("invoice")


async def test_payments_are_idempotent_and_settle_the_invoice(shop: Shop) -> None:
    order = await create(shop, invoice_request(shop, account()))
    number = order.invoice.number
    first = await shop.stub.RecordInvoicePayment(payment(number, 1000, "key-0000001"), metadata=ADMIN)
    assert first.invoice.amount_paid == eur(1000) and first.invoice.balance == eur(1500)
    again = await shop.stub.RecordInvoicePayment(payment(number, 1000, "key-0000001"), metadata=ADMIN)
    assert again.payment.payment_id == first.payment.payment_id and again.invoice.balance == eur(1500)
    reused = await shop.fails(shop.stub.RecordInvoicePayment(payment(number, 900, "key-0000001"), metadata=ADMIN))
    assert reused.code is grpc.StatusCode.ALREADY_EXISTS and reused.reason == "REQUEST_ID_REUSED"
    over = await shop.fails(shop.stub.RecordInvoicePayment(payment(number, 1501), metadata=ADMIN))
    assert over.code is grpc.StatusCode.FAILED_PRECONDITION and over.reason == "INVOICE_OVERPAID"
    usd = payment(number, 100)
    usd.amount.currency = "USD"
    mismatch = await shop.fails(shop.stub.RecordInvoicePayment(usd, metadata=ADMIN))
    assert mismatch.reason == "INVOICE_CURRENCY_MISMATCH"
    settled = await shop.stub.RecordInvoicePayment(payment(number, 1500), metadata=ADMIN)
    assert settled.invoice.status == PAID and settled.invoice.balance == eur(0)
    assert len((await get_invoice(shop, number)).payments) == 2
    paid_events = await shop.sql(
        "SELECT count(*) AS n FROM outbox WHERE subject = 'shop.order.invoice_paid' AND headers IS NOT NULL"
    )
    assert paid_events[0].n >= 1
    closed = await shop.fails(shop.stub.RecordInvoicePayment(payment(number, 1), metadata=ADMIN))
    assert closed.reason == "INVOICE_NOT_OPEN"


async def test_payment_requests_are_validated_and_only_staff_record_them(shop: Shop) -> None:
    bad = order_pb2.RecordInvoicePaymentRequest(number="X-1", idempotency_key="short", amount=eur(0))
    error = await shop.fails(shop.stub.RecordInvoicePayment(bad, metadata=ADMIN))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} >= {"number", "idempotency_key", "amount.amount"}
    out_of_range = payment("INV-000001", 1)
    out_of_range.paid_at.seconds = -(10**15)
    error = await shop.fails(shop.stub.RecordInvoicePayment(out_of_range, metadata=ADMIN))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT and {v.field for v in error.violations} == {"paid_at"}
    future = payment("INV-000001", 1)
    future.paid_at.FromDatetime(datetime.now(UTC) + timedelta(days=1))
    error = await shop.fails(shop.stub.RecordInvoicePayment(future, metadata=ADMIN))
    assert {v.field for v in error.violations} == {"paid_at"}
    buyer = metadata_for("b2b_buyer", "buyer-1", "acme")
    denied = await shop.fails(shop.stub.RecordInvoicePayment(payment("INV-000001", 1), metadata=buyer))
    assert denied.code is grpc.StatusCode.PERMISSION_DENIED
    missing = await shop.fails(shop.stub.RecordInvoicePayment(payment("INV-999999999", 1), metadata=ADMIN))
    assert missing.code is grpc.StatusCode.NOT_FOUND


async def test_refunds_credit_the_invoice_and_cancelling_voids_it(shop: Shop) -> None:
    account_id = account()
    credited = await create(shop, invoice_request(shop, account_id))
    await shop.refund(credited.order_id, 700)
    invoice = await get_invoice(shop, credited.invoice.number)
    assert invoice.credited == eur(700) and invoice.balance == eur(1800) and invoice.status == OPEN
    voided = await create(shop, invoice_request(shop, account_id))
    await shop.cancel(voided.order_id)
    invoice = await get_invoice(shop, voided.invoice.number)
    assert invoice.status == VOID and invoice.balance == eur(0)
    credit = await shop.stub.GetAccountCredit(order_pb2.GetAccountCreditRequest(account_id=account_id), metadata=ADMIN)
    assert list(credit.open_balance) == [eur(1800)] and credit.open_count == 1 and credit.overdue_count == 0


async def test_an_order_past_the_credit_limit_is_refused_and_creates_nothing(shop: Shop) -> None:
    account_id = account()
    first = await create(shop, invoice_request(shop, account_id, limit=4000))  # 2500 of 4000
    before = await shop.counts()
    refused = await shop.fails(shop.stub.CreateOrder(invoice_request(shop, account_id, limit=4000), metadata=SERVICE))
    assert refused.code is grpc.StatusCode.FAILED_PRECONDITION and refused.reason == "CREDIT_LIMIT_EXCEEDED"
    assert refused.metadata["open_balance"] == "2500" and refused.metadata["order_total"] == "2500"
    assert refused.metadata["credit_limit"] == "4000" and refused.metadata["currency"] == "EUR"
    assert await shop.counts() == before
    in_dollars = invoice_request(shop, account_id)
    in_dollars.credit_limit.CopyFrom(common_pb2.Money(amount=10**9, currency="USD"))
    other_currency = await shop.fails(shop.stub.CreateOrder(in_dollars, metadata=SERVICE))
    assert other_currency.reason == "CREDIT_LIMIT_EXCEEDED" and other_currency.metadata["order_currency"] == "EUR"
    # A payment frees the credit: the same order passes then.
    await shop.stub.RecordInvoicePayment(payment(first.invoice.number, 1000), metadata=ADMIN)
    second = await create(shop, invoice_request(shop, account_id, limit=4000))
    assert second.invoice.status == OPEN


async def test_an_overdue_invoice_blocks_invoice_orders_until_it_is_paid(shop: Shop) -> None:
    account_id = account()
    first = await create(shop, invoice_request(shop, account_id))
    past = datetime.now(UTC) - timedelta(days=1)
    await shop.sql(
        "UPDATE invoices SET issued_at = :issued, due_at = :due WHERE number = :n",
        issued=past - timedelta(days=30),
        due=past,
        n=first.invoice.number,
    )
    assert (await get_invoice(shop, first.invoice.number)).overdue
    overdue = await shop.stub.ListInvoices(
        order_pb2.ListInvoicesRequest(account_id=account_id, overdue_only=True), metadata=ADMIN
    )
    assert [i.number for i in overdue.invoices] == [first.invoice.number]
    refused = await shop.fails(shop.stub.CreateOrder(invoice_request(shop, account_id), metadata=SERVICE))
    assert refused.reason == "INVOICES_OVERDUE" and refused.metadata["overdue_count"] == "1"
    assert (await shop.place()).status  # card orders of anyone are not affected
    await shop.stub.RecordInvoicePayment(payment(first.invoice.number, 2500), metadata=ADMIN)
    assert (await create(shop, invoice_request(shop, account_id))).invoice.status == OPEN


async def test_two_concurrent_invoice_orders_over_the_limit_together_exactly_one_passes(shop: Shop) -> None:
    for _ in range(3):
        account_id = account()
        requests = [invoice_request(shop, account_id, limit=4000) for _ in range(2)]  # 2500 each
        results = await asyncio.gather(
            *(shop.stub.CreateOrder(r, metadata=SERVICE) for r in requests), return_exceptions=True
        )
        passed = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(passed) == 1 and len(refused) == 1, results
        assert refused[0].code() is grpc.StatusCode.FAILED_PRECONDITION
        rows = await shop.sql("SELECT count(*) AS n FROM orders WHERE account_id = :a", a=account_id)
        assert rows[0].n == 1


async def test_members_see_their_accounts_invoices_only(shop: Shop) -> None:
    account_id, other = account(), account()
    mine = await create(shop, invoice_request(shop, account_id))
    await create(shop, invoice_request(shop, account_id))
    theirs = await create(shop, invoice_request(shop, other))
    buyer = metadata_for("b2b_buyer", "buyer-1", account_id)
    listed = await shop.stub.ListInvoices(
        order_pb2.ListInvoicesRequest(page=common_pb2.PageRequest(page_size=1)), metadata=buyer
    )
    assert len(listed.invoices) == 1 and listed.page.next_page_token
    rest = await shop.stub.ListInvoices(
        order_pb2.ListInvoicesRequest(page=common_pb2.PageRequest(page_size=5, page_token=listed.page.next_page_token)),
        metadata=buyer,
    )
    assert {i.number for i in [*listed.invoices, *rest.invoices]} >= {mine.invoice.number}
    assert all(i.account_id == account_id for i in [*listed.invoices, *rest.invoices])
    assert (await get_invoice(shop, mine.invoice.number, buyer)).number == mine.invoice.number
    hidden = await shop.fails(
        shop.stub.GetInvoice(order_pb2.GetInvoiceRequest(number=theirs.invoice.number), metadata=buyer)
    )
    assert hidden.code is grpc.StatusCode.NOT_FOUND
    denied = await shop.fails(shop.stub.ListInvoices(order_pb2.ListInvoicesRequest(account_id=other), metadata=buyer))
    assert denied.code is grpc.StatusCode.PERMISSION_DENIED
    consumer = metadata_for("customer", "cus-1")
    assert (
        await shop.fails(
            shop.stub.GetAccountCredit(order_pb2.GetAccountCreditRequest(account_id=account_id), metadata=consumer)
        )
    ).code is grpc.StatusCode.PERMISSION_DENIED
    paid = await shop.stub.ListInvoices(
        order_pb2.ListInvoicesRequest(account_id=account_id, statuses=[PAID]), metadata=ADMIN
    )
    assert list(paid.invoices) == []


async def test_terms_and_credit_limit_are_validated(shop: Shop) -> None:
    request = invoice_request(shop, account(), terms=400)
    request.credit_limit.CopyFrom(common_pb2.Money(amount=-1, currency="usd"))
    error = await shop.fails(shop.stub.CreateOrder(request, metadata=SERVICE))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {
        "payment.payment_terms_days",
        "credit_limit.currency",
        "credit_limit.amount",
    }
