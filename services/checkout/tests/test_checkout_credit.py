"""Invoice orders and the account's credit, end to end with the real order service: within the limit
the order gets its invoice (due after the account's terms); past it the checkout fails before
anything is reserved; concurrent checkouts of one account never both take the last credit."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc

from shop.checkout.v1 import checkout_pb2
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2
from shop.order.v1 import order_pb2
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Buyer, Shop

C = checkout_pb2
ADMIN = metadata_for("admin")


def usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency="USD")


async def reservation_exists(shop: Shop, checkout_id: str) -> bool:
    try:
        await shop.inventory.GetReservation(
            inventory_pb2.GetReservationRequest(reservation_id=checkout_id), metadata=ADMIN
        )
    except grpc.aio.AioRpcError as error:
        assert error.code() is grpc.StatusCode.NOT_FOUND, error
        return False
    return True


async def invoice_checkout(shop: Shop, buyer: Buyer, sku: str, limit: int) -> checkout_pb2.PlaceOrderResponse:
    cart_id = await shop.new_cart(buyer, {sku: 1})
    request = shop.request(cart_id, buyer, invoice=True, payment_terms_days=45, credit_limit=usd(limit))
    return await shop.place(request, buyer)


async def test_invoice_orders_get_their_invoice_until_the_credit_limit_refuses_before_reserving(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=6000, stock=10)
    placed = await invoice_checkout(shop, buyer, sku, limit=10_000)
    assert placed.status == C.CHECKOUT_STATUS_COMPLETED, placed
    order = await shop.get_order(placed.order_id)
    invoice = (
        await shop.order.GetInvoice(order_pb2.GetInvoiceRequest(number=order.invoice.number), metadata=ADMIN)
    ).invoice
    assert invoice.payment_terms_days == 45 and invoice.balance.amount == order.totals.total.amount
    assert invoice.due_at.ToDatetime() - invoice.issued_at.ToDatetime() == timedelta(days=45)
    stock_before = await shop.stock(sku)

    refused = await invoice_checkout(shop, buyer, sku, limit=10_000)

    assert refused.status == C.CHECKOUT_STATUS_FAILED
    assert refused.failure.code == C.FAILURE_CODE_CREDIT_LIMIT_EXCEEDED
    assert refused.failure.step == C.CHECKOUT_STEP_KIND_QUOTE_PRICES
    assert "credit" in refused.failure.message
    assert not await reservation_exists(shop, refused.checkout_id)
    assert await shop.stock(sku) == stock_before
    assert await shop.orders_of(refused.checkout_id) == 0
    # Without a limit (the company has none), the same order passes.
    cart_id = await shop.new_cart(buyer, {sku: 1})
    unlimited = await shop.place(shop.request(cart_id, buyer, invoice=True, payment_terms_days=45), buyer)
    assert unlimited.status == C.CHECKOUT_STATUS_COMPLETED


async def test_an_overdue_invoice_fails_invoice_checkouts_before_reserving(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=1000, stock=10)
    first = await invoice_checkout(shop, buyer, sku, limit=100_000)
    async with shop.order_db.begin() as conn:
        await conn.exec_driver_sql(
            "UPDATE invoices SET issued_at = now() - interval '60 days', due_at = now() - interval '1 day' "
            f"WHERE order_id = '{first.order_id}'"
        )
    refused = await invoice_checkout(shop, buyer, sku, limit=100_000)
    assert refused.failure.code == C.FAILURE_CODE_INVOICES_OVERDUE
    assert not await reservation_exists(shop, refused.checkout_id)


async def test_concurrent_checkouts_of_one_account_never_both_take_the_last_credit(shop: Shop) -> None:
    first = shop.b2b_buyer()
    buyers = [first, shop.b2b_buyer(first.account_id)]  # two buyers of one account, a cart each
    sku = await shop.sku(price=6000, stock=10)
    carts = [await shop.new_cart(buyer, {sku: 1}) for buyer in buyers]
    requests = [
        shop.request(cart_id, buyer, invoice=True, payment_terms_days=30, credit_limit=usd(10_000))
        for cart_id, buyer in zip(carts, buyers, strict=True)
    ]
    results = await asyncio.gather(
        *(shop.place(request, buyer) for request, buyer in zip(requests, buyers, strict=True))
    )
    statuses = sorted(r.status for r in results)
    assert statuses == sorted([C.CHECKOUT_STATUS_COMPLETED, C.CHECKOUT_STATUS_FAILED]), results
    failed = next(r for r in results if r.status == C.CHECKOUT_STATUS_FAILED)
    assert failed.failure.code == C.FAILURE_CODE_CREDIT_LIMIT_EXCEEDED
    # Refused at the pre-check or by order's atomic check: either way nothing stays held and no order exists.
    settled = await shop.settled(failed.checkout_id)
    assert settled.status == C.CHECKOUT_STATUS_FAILED
    assert await shop.orders_of(failed.checkout_id) == 0
    reservation = None
    if await reservation_exists(shop, failed.checkout_id):
        reservation = await shop.inventory.GetReservation(
            inventory_pb2.GetReservationRequest(reservation_id=failed.checkout_id), metadata=ADMIN
        )
    assert reservation is None or reservation.status != inventory_pb2.RESERVATION_STATUS_ACTIVE


async def test_a_credit_limit_in_another_currency_refuses_the_invoice_order(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    sku = await shop.sku(price=1000, stock=10)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    euros = common_pb2.Money(amount=10**9, currency="EUR")
    refused = await shop.place(
        shop.request(cart_id, buyer, invoice=True, payment_terms_days=30, credit_limit=euros), buyer
    )
    assert refused.failure.code == C.FAILURE_CODE_CREDIT_LIMIT_EXCEEDED and "EUR" in refused.failure.message
    assert not await reservation_exists(shop, refused.checkout_id)


async def test_a_credit_limit_must_be_money(shop: Shop) -> None:
    buyer = shop.b2b_buyer()
    cart_id = await shop.new_cart(buyer, {await shop.sku(): 1})
    request = shop.request(
        cart_id, buyer, invoice=True, payment_terms_days=30, credit_limit=common_pb2.Money(amount=-1, currency="usd")
    )
    error = await shop.fails(shop.place(request, buyer))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {"credit_limit.currency", "credit_limit.amount"}
