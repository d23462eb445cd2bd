"""CreateOrder, GetOrder and ListOrders over a real gRPC channel, with the database as the witness."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC
from typing import TYPE_CHECKING

import grpc
import pytest

from shop.order.v1 import order_pb2
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Shop

Metadata = tuple[tuple[str, str], ...]
ADMIN = metadata_for("admin")
SERVICE = metadata_for("service")
CONFIRMED = order_pb2.ORDER_STATUS_CONFIRMED


def new_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4()}"


def customer(customer_id: str) -> tuple[tuple[str, str], ...]:
    return metadata_for("customer", customer_id)


def b2b(role: str, customer_id: str, account_id: str) -> tuple[tuple[str, str], ...]:
    return metadata_for(role, customer_id, account_id)


# --- CreateOrder ----------------------------------------------------------------------------------------


async def test_create_records_the_order_with_lines_totals_addresses_and_payment(shop: Shop) -> None:
    request = shop.request(lines={"SKU-A": (2, 1250), "SKU-B": (1, 999)}, shipping=490)
    pm, auth = await shop.sandbox.authorise(request.totals.total.amount)
    request.payment.payment_method_id, request.payment.authorisation_id = pm, auth

    order = (await shop.stub.CreateOrder(request, metadata=SERVICE)).order

    assert uuid.UUID(order.order_id) and order.number.startswith("SO-") and len(order.number) >= 9
    assert (order.status, order.payment_status, order.fulfilment_status) == (
        CONFIRMED,
        order_pb2.PAYMENT_STATUS_AUTHORISED,
        order_pb2.FULFILMENT_STATUS_UNFULFILLED,
    )
    assert [(line.sku, line.quantity, line.line_total.amount) for line in order.lines] == [
        ("SKU-A", 2, 2500),
        ("SKU-B", 1, 999),
    ]
    assert all(uuid.UUID(line.line_id) for line in order.lines)
    assert (order.totals.subtotal.amount, order.totals.total.amount) == (3499, 3989)
    assert order.fulfilment_method.ship.address.postal_code == "10115"
    assert order.billing_address.city == "Berlin"
    assert (order.payment.authorisation_id, order.payment.authorised_amount.amount) == (auth, 3989)
    assert order.reservation_id == request.checkout_id  # checkout reserves under its own id
    assert order.version == 1
    got = await shop.get(order.order_id, full=True)
    assert got.number == order.number and [h.change for h in got.history] == [order_pb2.ORDER_CHANGE_CREATED]
    by_number = await shop.stub.GetOrder(order_pb2.GetOrderRequest(number=order.number), metadata=ADMIN)
    assert by_number.order.order_id == order.order_id and not by_number.order.history


async def test_create_is_idempotent_by_checkout_id(shop: Shop) -> None:
    request = shop.request(authorisation=("pm_1", "auth_1"))
    first = (await shop.stub.CreateOrder(request, metadata=SERVICE)).order
    again = (await shop.stub.CreateOrder(request, metadata=SERVICE)).order
    assert again == first

    changed = order_pb2.CreateOrderRequest()
    changed.CopyFrom(request)
    changed.lines[0].quantity += 1
    changed.lines[0].line_total.amount += changed.lines[0].unit_price.amount
    changed.totals.subtotal.amount += changed.lines[0].unit_price.amount
    changed.totals.total.amount += changed.lines[0].unit_price.amount
    changed.payment.authorised_amount.amount = changed.totals.total.amount
    error = await shop.fails(shop.stub.CreateOrder(changed, metadata=SERVICE))
    assert (error.code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "CHECKOUT_ORDER_DIFFERS")
    rows = await shop.sql("SELECT count(*) AS n FROM orders WHERE checkout_id = :c", c=request.checkout_id)
    assert rows[0].n == 1


async def test_concurrent_duplicate_creates_make_one_order(shop: Shop) -> None:
    request = shop.request(authorisation=("pm_1", "auth_1"))
    before = await shop.counts()

    results = await asyncio.gather(*(shop.stub.CreateOrder(request, metadata=SERVICE) for _ in range(20)))

    assert len({r.order.order_id for r in results}) == 1
    assert len({r.order.number for r in results}) == 1
    after = await shop.counts()
    assert after["orders"] - before["orders"] == 1
    assert after["order_history"] - before["order_history"] == 1
    # placed + confirmed + status_changed, once.
    assert after["outbox"] - before["outbox"] == 3


def _invalid_requests(shop: Shop) -> list[tuple[str, order_pb2.CreateOrderRequest, set[str]]]:
    cases: list[tuple[str, order_pb2.CreateOrderRequest, set[str]]] = []

    def case(name: str, expected: set[str], **options: object) -> order_pb2.CreateOrderRequest:
        request = shop.request(authorisation=("pm_1", "auth_1"), **options)  # type: ignore[arg-type]
        cases.append((name, request, expected))
        return request

    empty = order_pb2.CreateOrderRequest()
    cases.append(
        (
            "empty",
            empty,
            {
                "checkout_id",
                "customer.currency",
                "email",
                "lines",
                "totals",
                "fulfilment_method",
                "billing_address",
                "payment.kind",
            },
        )
    )
    bad = case(
        "bad fields",
        {
            "checkout_id",
            "email",
            "lines[0].sku",
            "lines[0].quantity",
            "lines[0].line_total",
            "totals.subtotal",
            "fulfilment_method.ship.address.postal_code",
            "billing_address.country",
            "payment.authorised_amount.currency",
        },
    )
    bad.checkout_id = "not valid!"
    bad.email = "nobody"
    bad.lines[0].sku = "bad sku"
    bad.lines[0].quantity = 0
    bad.fulfilment_method.ship.address.postal_code = ""
    bad.billing_address.country = "Germany"
    bad.payment.authorised_amount.currency = "USD"
    wrong_currency = case("currency", {"lines[0].unit_price.currency", "totals.shipping_total.currency"})
    wrong_currency.lines[0].unit_price.currency = "USD"
    wrong_currency.totals.shipping_total.currency = "GBP"
    case("invoice without account", {"payment.kind"}, invoice=True)
    approval = case("approval without account", {"approval_required"}, approval_limit=100)
    approval.customer.account_id = ""
    card = case("card without authorisation", {"payment.authorisation_id", "payment.payment_method_id"})
    card.payment.authorisation_id = ""
    card.payment.payment_method_id = ""
    case("pickup store", {"fulfilment_method.pickup.store_id"}, pickup_store="Store 1")
    return cases


async def test_bad_input_is_invalid_argument_with_every_field_and_changes_nothing(shop: Shop) -> None:
    before = await shop.counts()
    for name, request, expected in _invalid_requests(shop):
        error = await shop.fails(shop.stub.CreateOrder(request, metadata=SERVICE))
        assert error.code is grpc.StatusCode.INVALID_ARGUMENT, name
        assert {v.field for v in error.violations} == expected, name
    assert await shop.counts() == before


async def test_only_checkout_creates_orders(shop: Shop) -> None:
    request = shop.request(authorisation=("pm_1", "auth_1"))
    for metadata in (customer("cus-1"), metadata_for("b2b_approver", "a", "acct"), ()):
        error = await shop.fails(shop.stub.CreateOrder(request, metadata=metadata))
        assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    await shop.stub.CreateOrder(request, metadata=ADMIN)


# --- GetOrder and ownership --------------------------------------------------------------------------


async def test_customers_see_only_their_own_orders(shop: Shop) -> None:
    alice, bob = new_id("alice-"), new_id("bob-")
    order = await shop.place(customer_id=alice)
    request = order_pb2.GetOrderRequest(order_id=order.order_id)

    assert (await shop.stub.GetOrder(request, metadata=customer(alice))).order.order_id == order.order_id
    for metadata in (customer(bob), b2b("b2b_approver", bob, "acct-x"), metadata_for("customer")):
        error = await shop.fails(shop.stub.GetOrder(request, metadata=metadata))
        assert error.code is grpc.StatusCode.NOT_FOUND
    missing = await shop.fails(
        shop.stub.GetOrder(order_pb2.GetOrderRequest(order_id=new_id()), metadata=customer(alice))
    )
    assert missing.code is grpc.StatusCode.NOT_FOUND
    by_number = order_pb2.GetOrderRequest(number=order.number)
    assert (await shop.fails(shop.stub.GetOrder(by_number, metadata=customer(bob)))).code is grpc.StatusCode.NOT_FOUND
    analyst = await shop.stub.GetOrder(request, metadata=metadata_for("fraud_analyst", "fa-1"))
    assert analyst.order.order_id == order.order_id
    anonymous = await shop.fails(shop.stub.GetOrder(request))
    assert anonymous.code is grpc.StatusCode.PERMISSION_DENIED


async def test_b2b_roles_see_their_accounts_orders(shop: Shop) -> None:
    account = new_id("acct-")
    order = await shop.place(customer_id="buyer-1", account_id=account)
    request = order_pb2.GetOrderRequest(order_id=order.order_id)
    for metadata in (b2b("b2b_buyer", "buyer-2", account), b2b("b2b_approver", "approver", account)):
        assert (await shop.stub.GetOrder(request, metadata=metadata)).order.account_id == account
    error = await shop.fails(shop.stub.GetOrder(request, metadata=b2b("b2b_buyer", "buyer-3", "acct-other")))
    assert error.code is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("request_fields", "fields"),
    [
        ({}, {"order_id"}),
        ({"order_id": "nope"}, {"order_id"}),
        ({"number": "123"}, {"number"}),
        ({"order_id": str(uuid.uuid4()), "number": "SO-000001"}, {"order_id"}),
        ({"order_id": str(uuid.uuid4()), "view": 9}, {"view"}),
    ],
)
async def test_get_validates_its_input(shop: Shop, request_fields: dict[str, object], fields: set[str]) -> None:
    error = await shop.fails(shop.stub.GetOrder(order_pb2.GetOrderRequest(**request_fields), metadata=ADMIN))  # type: ignore[arg-type]
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == fields


# --- ListOrders ---------------------------------------------------------------------------------------


async def list_all(shop: Shop, metadata: Metadata, **fields: object) -> list[order_pb2.Order]:
    found: list[order_pb2.Order] = []
    token = ""
    while True:
        request = order_pb2.ListOrdersRequest(**fields)  # type: ignore[arg-type]
        request.page.page_size = 2
        request.page.page_token = token
        response = await shop.stub.ListOrders(request, metadata=metadata)
        assert len(response.orders) <= 2
        found.extend(response.orders)
        token = response.page.next_page_token
        if not token:
            return found


async def test_list_pages_a_customers_orders_newest_first(shop: Shop) -> None:
    alice = new_id("alice-")
    placed = [await shop.place(customer_id=alice, paid=False) for _ in range(5)]
    await shop.place(customer_id=new_id("bob-"), paid=False)

    found = await list_all(shop, customer(alice))

    assert [o.order_id for o in found] == [o.order_id for o in reversed(placed)]
    assert found == await list_all(shop, ADMIN, customer_id=alice)
    full = await shop.stub.ListOrders(
        order_pb2.ListOrdersRequest(customer_id=alice, view=order_pb2.ORDER_VIEW_FULL), metadata=customer(alice)
    )
    assert all(len(o.history) == 1 for o in full.orders) and len(full.orders) == 5


async def test_list_filters_by_creation_time_page_by_page(shop: Shop) -> None:
    alice = new_id("alice-")
    placed = [await shop.place(customer_id=alice, paid=False) for _ in range(5)]
    times = [o.created_at.ToDatetime(tzinfo=UTC) for o in placed]
    since, until = order_pb2.ListOrdersRequest().created_after, order_pb2.ListOrdersRequest().created_before
    since.FromDatetime(times[1])
    until.FromDatetime(times[4])

    window = await list_all(shop, ADMIN, customer_id=alice, created_after=since, created_before=until)

    assert [o.order_id for o in window] == [o.order_id for o in reversed(placed[1:4])]
    assert [o.order_id for o in await list_all(shop, ADMIN, customer_id=alice, created_after=until)] == [
        placed[4].order_id
    ]
    backwards = order_pb2.ListOrdersRequest(customer_id=alice, created_after=until, created_before=since)
    error = await shop.fails(shop.stub.ListOrders(backwards, metadata=ADMIN))
    assert [v.field for v in error.violations] == ["created_before"]


async def test_list_filters_by_status_and_account(shop: Shop) -> None:
    account = new_id("acct-")
    held = await shop.place(customer_id="buyer-1", account_id=account, approval_limit=100, invoice=True)
    confirmed = await shop.place(customer_id="buyer-2", account_id=account, invoice=True)
    approver = b2b("b2b_approver", "approver-1", account)

    waiting = await list_all(shop, approver, statuses=[order_pb2.ORDER_STATUS_PENDING_APPROVAL])
    everything = await list_all(shop, approver)

    assert [o.order_id for o in waiting] == [held.order_id]
    assert [o.order_id for o in everything] == [confirmed.order_id, held.order_id]
    own = await list_all(shop, b2b("b2b_buyer", "buyer-2", account), customer_id="buyer-2")
    assert [o.order_id for o in own] == [confirmed.order_id]


async def test_list_refuses_other_peoples_orders(shop: Shop) -> None:
    alice = new_id("alice-")
    for metadata, fields in [
        (customer(alice), {"customer_id": "bob"}),
        (customer(alice), {"account_id": "acct-1"}),
        (b2b("b2b_buyer", "buyer", "acct-1"), {"account_id": "acct-2"}),
        (metadata_for("customer"), {}),
    ]:
        error = await shop.fails(shop.stub.ListOrders(order_pb2.ListOrdersRequest(**fields), metadata=metadata))  # type: ignore[arg-type]
        assert error.code is grpc.StatusCode.PERMISSION_DENIED, fields


async def test_list_validates_its_input(shop: Shop) -> None:
    request = order_pb2.ListOrdersRequest(view=7)  # type: ignore[arg-type]
    request.statuses.extend([0, 42])  # type: ignore[list-item]
    request.page.page_size = -1
    error = await shop.fails(shop.stub.ListOrders(request, metadata=ADMIN))
    assert {v.field for v in error.violations} == {"statuses[0]", "statuses[1]", "view"}
    request = order_pb2.ListOrdersRequest()
    request.page.page_size = -1
    assert {v.field for v in (await shop.fails(shop.stub.ListOrders(request, metadata=ADMIN))).violations} == {
        "page.page_size"
    }
    request = order_pb2.ListOrdersRequest()
    request.page.page_token = "garbage"
    assert {v.field for v in (await shop.fails(shop.stub.ListOrders(request, metadata=ADMIN))).violations} == {
        "page.page_token"
    }


async def test_amounts_are_integer_minor_units(shop: Shop) -> None:
    order = await shop.place(lines={"SKU-Y": (3, 333)}, shipping=1, paid=False)
    assert order.totals.total == shop.money(1000)


async def test_an_order_records_the_sales_quote_it_was_placed_at(shop: Shop) -> None:
    request = shop.request(account_id="acme", authorisation=("pm_1", "auth_1"))
    request.sales_quote_id = new_id()
    order = (await shop.stub.CreateOrder(request, metadata=SERVICE)).order
    assert order.sales_quote_id == request.sales_quote_id
    assert (await shop.get(order.order_id)).sales_quote_id == request.sales_quote_id
    without = (await shop.stub.CreateOrder(shop.request(authorisation=("pm_2", "auth_2")), metadata=SERVICE)).order
    assert without.sales_quote_id == ""
