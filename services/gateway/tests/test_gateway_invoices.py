"""B2B invoices through the gateway against the REAL order service: a company's members list theirs
and read one as JSON or as a PDF (its text holds the invoice number), staff list overdue ones and
record payments by Idempotency-Key; an integration needs invoices:write to record one."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import pypdf
import pytest

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop.storefront.v1 import invoices_pb2, invoices_pb2_grpc, storefront_pb2
from shop_gateway.app import invoices
from shop_gateway.principal import Principal
from shop_order.main import build as build_order
from shop_order.settings import OrderSettings
from shopkit.auth import metadata_for
from shopkit.money import Money
from shopkit.testing import Postgres, free_port, grpc_address, peer

if TYPE_CHECKING:
    from conftest import Backends, Client, GatewayFactory

SERVICE = metadata_for("service")


def usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency="USD")


def invoice_order(account_id: str, customer_id: str, total: int = 3000) -> order_pb2.CreateOrderRequest:
    """An invoice order of one line as checkout creates it (net 30)."""
    sku = f"INV-{uuid.uuid4().hex[:8]}".upper()
    request = order_pb2.CreateOrderRequest(
        checkout_id=str(uuid.uuid4()),
        customer=common_pb2.CustomerContext(
            customer_id=customer_id, account_id=account_id, channel="b2b", country="US", currency="USD"
        ),
        email="buyer@example.com",
        lines=[
            order_pb2.OrderLine(
                sku=sku,
                name="Pallet of paper",
                quantity=1,
                unit_price=usd(total),
                discount=usd(0),
                line_total=usd(total),
            )
        ],
        totals=order_pb2.OrderTotals(
            subtotal=usd(total), discount_total=usd(0), shipping_total=usd(0), tax_total=usd(0), total=usd(total)
        ),
        billing_address=common_pb2.Address(
            name="Initech", line1="1 Main St", city="Austin", postal_code="73301", country="US"
        ),
    )
    request.fulfilment_method.ship.address.CopyFrom(request.billing_address)
    request.payment.kind = order_pb2.PAYMENT_METHOD_KIND_INVOICE
    request.payment.purchase_order_number = "PO-77"
    request.payment.payment_terms_days = 30
    return request


@dataclass
class Books:
    client: Client
    orders: order_pb2_grpc.OrderServiceAsyncStub

    async def invoice(self, account_id: str, customer_id: str = "buyer-1", total: int = 3000) -> order_pb2.Order:
        return (await self.orders.CreateOrder(invoice_order(account_id, customer_id, total), metadata=SERVICE)).order


@pytest.fixture(scope="module")
async def books(
    postgres: Postgres, nats_url: str, backends: Backends, make_gateway: GatewayFactory
) -> AsyncIterator[Books]:
    async with peer(
        build_order,
        OrderSettings,
        postgres,
        nats_url,
        inventory_addr=grpc_address(backends.runtimes["inventory"]),
        payment_provider_url=f"http://127.0.0.1:{free_port()}",
        completion_enabled=False,
    ) as order:
        channel = grpc.aio.insecure_channel(grpc_address(order))
        stub = order_pb2_grpc.OrderServiceStub(channel)  # type: ignore[no-untyped-call]
        async with make_gateway(order_addr=grpc_address(order)) as client:
            yield Books(client, stub)
        await channel.close(grace=None)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


async def test_members_read_their_companys_invoices_as_json_and_pdf(books: Books) -> None:
    gateway = books.client
    account, other = gateway.unique("initech"), gateway.unique("globex")
    buyer = await gateway.auth("b2b_buyer", account_id=account)
    first = await books.invoice(account)
    second = await books.invoice(account, total=4500)
    theirs = await books.invoice(other)

    listed = await gateway.http.get("/v1/company/invoices", headers=buyer)
    assert listed.status_code == 200, listed.text
    numbers = [i["number"] for i in listed.json()["invoices"]]
    assert numbers == [second.invoice.number, first.invoice.number]
    one = await gateway.http.get(f"/v1/invoices/{first.invoice.number}", headers=buyer)
    assert one.status_code == 200, one.text
    invoice = one.json()
    assert (invoice["status"], invoice["overdue"], invoice["payment_terms_days"]) == ("open", False, 30)
    assert invoice["balance"] == {"amount": 3000, "currency": "USD"}
    assert invoice["order_number"] == first.number and invoice["purchase_order_number"] == "PO-77"
    assert invoice["lines"][0]["name"] == "Pallet of paper"
    order = await gateway.http.get(f"/v1/orders/{first.order_id}", headers=buyer)
    assert order.status_code == 200, order.text
    link = order.json()["invoice"]
    assert (link["number"], link["status"], link["overdue"]) == (first.invoice.number, "open", False)
    assert link["balance"] == {"amount": 3000, "currency": "USD"} and link["due_at"] == invoice["due_at"]
    over_grpc = await gateway.grpc.GetOrder(
        storefront_pb2.GetOrderRequest(order_id=first.order_id), metadata=(("authorization", buyer["Authorization"]),)
    )
    assert (over_grpc.order.invoice.number, over_grpc.order.invoice.balance.amount) == (first.invoice.number, 3000)

    for response in (
        await gateway.http.get(f"/v1/invoices/{first.invoice.number}", headers={**buyer, "Accept": "application/pdf"}),
        await gateway.http.get(f"/v1/invoices/{first.invoice.number}.pdf", headers=buyer),
    ):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        text = pdf_text(response.content)
        assert first.invoice.number in text and "PO-77" in text and "30.00 USD" in text

    hidden = await gateway.http.get(f"/v1/invoices/{theirs.invoice.number}", headers=buyer)
    gateway.problem(hidden, 404, "NOT_FOUND")
    customer = await gateway.auth("customer")
    gateway.problem(await gateway.http.get("/v1/company/invoices", headers=customer), 403, "ROLE_REQUIRED")
    bad = await gateway.http.get("/v1/company/invoices", params={"status": "late"}, headers=buyer)
    gateway.problem(bad, 400, "INVALID_ARGUMENT")


async def test_staff_record_payments_idempotently_and_never_overpay(books: Books) -> None:
    gateway = books.client
    account = gateway.unique("hooli")
    admin = await gateway.auth("admin")
    placed = await books.invoice(account, total=5000)
    number = placed.invoice.number
    path = f"/v1/admin/invoices/{number}/payments"
    body: dict[str, Any] = {"amount": {"amount": 2000, "currency": "USD"}, "reference": "WIRE-1"}
    key = {"Idempotency-Key": f"pay-{uuid.uuid4()}"}

    paid = await gateway.http.post(path, json=body, headers={**admin, **key})
    assert paid.status_code == 201, paid.text
    assert paid.json()["invoice"]["balance"] == {"amount": 3000, "currency": "USD"}
    again = await gateway.http.post(path, json=body, headers={**admin, **key})
    assert again.status_code == 201 and again.json()["payment"] == paid.json()["payment"]
    reused = await gateway.http.post(path, json={**body, "reference": "WIRE-2"}, headers={**admin, **key})
    gateway.problem(reused, 409, "REQUEST_ID_REUSED")
    over = {"amount": {"amount": 3001, "currency": "USD"}}
    refused = await gateway.http.post(path, json=over, headers={**admin, "Idempotency-Key": f"pay-{uuid.uuid4()}"})
    gateway.problem(refused, 409, "INVOICE_OVERPAID")
    gateway.problem(await gateway.http.post(path, json=body, headers=admin), 400, "IDEMPOTENCY_KEY_REQUIRED")
    ancient = {**body, "paid_at": "0001-01-01T00:00:00+05:00"}  # before the first instant a timestamp holds
    bad_time = await gateway.http.post(path, json=ancient, headers={**admin, "Idempotency-Key": f"pay-{uuid.uuid4()}"})
    assert [e["field"] for e in gateway.problem(bad_time, 400, "INVALID_ARGUMENT")["errors"]] == ["paid_at"]
    buyer = await gateway.auth("b2b_buyer", account_id=account)
    gateway.problem(await gateway.http.post(path, json=body, headers={**buyer, **key}), 403, "ROLE_REQUIRED")

    rest = {"amount": {"amount": 3000, "currency": "USD"}, "paid_at": "2026-01-15T10:00:00Z"}
    settled = await gateway.http.post(path, json=rest, headers={**admin, "Idempotency-Key": f"pay-{uuid.uuid4()}"})
    assert settled.status_code == 201, settled.text
    assert settled.json()["invoice"]["status"] == "paid" and len(settled.json()["invoice"]["payments"]) == 2
    listed = await gateway.http.get(
        "/v1/admin/invoices", params={"account_id": account, "status": "paid"}, headers=admin
    )
    assert [i["number"] for i in listed.json()["invoices"]] == [number]
    overdue = await gateway.http.get(
        "/v1/admin/invoices", params={"account_id": account, "overdue": "true"}, headers=admin
    )
    assert overdue.status_code == 200 and overdue.json()["invoices"] == []


def test_the_checkout_sends_the_companys_credit_limit() -> None:
    """The buying context carries the company's credit limit; the gateway's request to checkout has it
    (the credit itself is weighed by checkout and order: their tests, and the system test)."""
    who = Principal(subject="ann", role="b2b_buyer", account_id="initech", credit_limit=Money(900_000, "USD"))
    assert invoices.credit_limit_of(who) == common_pb2.Money(amount=900_000, currency="USD")
    assert invoices.credit_limit_of(Principal(subject="ann", role="b2b_buyer", account_id="initech")) is None
    unlimited = Principal(subject="ann", role="b2b_buyer", account_id="initech", credit_limit=Money(0, "USD"))
    assert invoices.credit_limit_of(unlimited) is None


async def test_the_invoices_over_grpc_follow_the_same_rules(books: Books) -> None:
    gateway = books.client
    account = gateway.unique("umbrella")
    placed = await books.invoice(account, total=2000)
    number = placed.invoice.number
    buyer = (("authorization", f"Bearer {await gateway.token(role='b2b_buyer', account_id=account)}"),)
    admin = (("authorization", f"Bearer {await gateway.token(role='admin')}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.runtime.grpc_port}") as channel:
        stub = invoices_pb2_grpc.InvoicesServiceStub(channel)  # type: ignore[no-untyped-call]
        listed = await stub.ListInvoices(order_pb2.ListInvoicesRequest(account_id="someone-else"), metadata=buyer)
        assert [i.number for i in listed.invoices] == [number]  # the member's own company, whatever it asks
        got = await stub.GetInvoice(order_pb2.GetInvoiceRequest(number=number), metadata=buyer)
        assert got.invoice.balance == usd(2000)
        document = await stub.GetInvoicePdf(invoices_pb2.GetInvoicePdfRequest(number=number), metadata=buyer)
        assert document.content.startswith(b"%PDF") and number in pdf_text(document.content)
        payment = order_pb2.RecordInvoicePaymentRequest(
            number=number, idempotency_key=f"grpc-{uuid.uuid4()}", amount=usd(2000), reference="WIRE-9"
        )
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.RecordInvoicePayment(payment, metadata=buyer)
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
        paid = await stub.RecordInvoicePayment(payment, metadata=admin)
        assert paid.invoice.status == order_pb2.INVOICE_STATUS_PAID
        with pytest.raises(grpc.aio.AioRpcError) as no_key:
            await stub.RecordInvoicePayment(order_pb2.RecordInvoicePaymentRequest(number=number), metadata=admin)
        assert no_key.value.code() is grpc.StatusCode.INVALID_ARGUMENT
