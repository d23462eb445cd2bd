"""CheckOutCart (checkout's last saga step) and the sweeper that abandons idle carts, with events."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc

from shop.cart.v1 import cart_pb2, events_pb2
from shopkit.auth import metadata_for
from shopkit.testing import eventually

if TYPE_CHECKING:
    from conftest import Shop

IDLE_TTL = 3600.0
REQUEST_RETENTION = 2 * IDLE_TTL
CART_SETTINGS = {
    "sweeper_enabled": True,
    "sweeper_interval_seconds": 0.05,
    "cart_idle_ttl_seconds": IDLE_TTL,
    "request_retention_seconds": REQUEST_RETENTION,
}
SERVICE = metadata_for("service")
GUEST: tuple[tuple[str, str], ...] = ()


def check_out(cart_id: str, checkout_id: str, order_id: str = "order-1") -> cart_pb2.CheckOutCartRequest:
    return cart_pb2.CheckOutCartRequest(cart_id=cart_id, checkout_id=checkout_id, order_id=order_id)


async def test_only_checkout_may_check_a_cart_out(shop: Shop) -> None:
    customer = shop.unique("cust")
    cart = await shop.customer_cart(customer)
    for who in (shop.customer(customer), metadata_for("admin"), GUEST):
        error = await shop.fails(shop.stub.CheckOutCart(check_out(cart.cart_id, "co-x"), metadata=who))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "ROLE_REQUIRED"
    assert (await shop.get(cart.cart_id, who=shop.customer(customer))).status == cart_pb2.CART_STATUS_ACTIVE
    error = await shop.fails(shop.stub.CheckOutCart(check_out("nope", "", ""), metadata=SERVICE))
    assert {v.field for v in error.violations} == {"cart_id", "checkout_id", "order_id"}


async def test_check_out_ends_the_cart_once(shop: Shop) -> None:
    sku = await shop.sku()
    customer = shop.unique("cust")
    as_customer = shop.customer(customer)
    cart = await shop.customer_cart(customer)
    filled = (await shop.add(cart.cart_id, sku, 2, who=as_customer)).cart
    done = (await shop.stub.CheckOutCart(check_out(cart.cart_id, "co-1", "order-9"), metadata=SERVICE)).cart
    assert done.status == cart_pb2.CART_STATUS_CHECKED_OUT
    assert (done.checkout_id, done.order_id, done.version) == ("co-1", "order-9", filled.version + 1)
    assert not done.HasField("expires_at")
    repeat = (await shop.stub.CheckOutCart(check_out(cart.cart_id, "co-1", "order-9"), metadata=SERVICE)).cart
    assert repeat.version == done.version
    error = await shop.fails(shop.stub.CheckOutCart(check_out(cart.cart_id, "co-2"), metadata=SERVICE))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "CART_ALREADY_CHECKED_OUT"

    error = await shop.fails(shop.add(cart.cart_id, sku, who=as_customer))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "CART_NOT_ACTIVE"
    assert error.metadata["status"] == "checked_out"
    seen = await shop.get(cart.cart_id, who=as_customer)  # still readable by its owner
    assert seen.status == cart_pb2.CART_STATUS_CHECKED_OUT and len(seen.lines) == 1
    fresh = await shop.customer_cart(customer)  # the next cart of the customer
    assert fresh.cart_id != cart.cart_id and not fresh.lines

    data = await shop.event(
        "shop.cart.checked_out", lambda d: events_pb2.CartCheckedOut.FromString(d).cart_id == cart.cart_id
    )
    event = events_pb2.CartCheckedOut.FromString(data)
    assert (event.customer_id, event.checkout_id, event.order_id) == (customer, "co-1", "order-9")
    assert event.meta.event_id and event.meta.aggregate_id == cart.cart_id
    error = await shop.fails(shop.stub.CheckOutCart(check_out(str(uuid.uuid4()), "co-3"), metadata=SERVICE))
    assert error.code == grpc.StatusCode.NOT_FOUND


async def test_idle_carts_are_abandoned_by_the_sweeper(shop: Shop) -> None:
    sku = await shop.sku(price=250)
    customer = shop.unique("cust")
    as_customer = shop.customer(customer)
    idle = await shop.customer_cart(customer)
    idle = (await shop.add(idle.cart_id, sku, 3, who=as_customer)).cart
    busy = await shop.guest_cart()
    assert idle.expires_at.ToDatetime() == idle.updated_at.ToDatetime() + timedelta(seconds=IDLE_TTL)

    shop.clock.advance(IDLE_TTL - 600)
    busy = (await shop.add(busy.cart_id, sku)).cart  # activity keeps this one alive
    shop.clock.advance(700)  # idle: TTL + 100 s without activity; busy: 700 s

    async def abandoned() -> bool:
        return (await shop.get(idle.cart_id, who=as_customer)).status == cart_pb2.CART_STATUS_ABANDONED

    await eventually(abandoned)
    assert (await shop.get(busy.cart_id)).status == cart_pb2.CART_STATUS_ACTIVE
    gone = await shop.get(idle.cart_id, who=as_customer)
    assert gone.version == idle.version + 1 and not gone.HasField("expires_at")

    data = await shop.event(
        "shop.cart.abandoned", lambda d: events_pb2.CartAbandoned.FromString(d).cart_id == idle.cart_id
    )
    event = events_pb2.CartAbandoned.FromString(data)
    assert (event.customer_id, list(event.skus), event.item_count) == (customer, [sku], 3)
    assert (event.total.amount, event.total.currency) == (750, "USD")
    assert event.last_activity_at.ToDatetime() == idle.updated_at.ToDatetime()

    error = await shop.fails(shop.add(idle.cart_id, sku, who=as_customer))
    assert error.reason == "CART_NOT_ACTIVE"
    assert (await shop.customer_cart(customer)).cart_id != idle.cart_id
    # The order of a checkout that was in flight still closes the cart.
    closed = (await shop.stub.CheckOutCart(check_out(idle.cart_id, "co-late"), metadata=SERVICE)).cart
    assert closed.status == cart_pb2.CART_STATUS_CHECKED_OUT


async def test_request_ids_past_their_retention_are_deleted_and_newer_ones_kept(shop: Shop) -> None:
    sku = await shop.sku()
    old_cart = await shop.guest_cart()
    await shop.add(old_cart.cart_id, sku, request_id="req-old")
    shop.clock.advance(REQUEST_RETENTION + 60)  # (the idle sweeper abandons old_cart meanwhile)
    new_cart = await shop.guest_cart()
    await shop.add(new_cart.cart_id, sku, request_id="req-new")

    async def kept() -> list[str]:
        rows = await shop.sql(
            "SELECT request_id FROM cart_requests WHERE cart_id IN (:a, :b) ORDER BY request_id",
            a=uuid.UUID(old_cart.cart_id),
            b=uuid.UUID(new_cart.cart_id),
        )
        return [row.request_id for row in rows]

    async def only_the_new_one() -> bool:
        return await kept() == ["req-new"]

    await eventually(only_the_new_one)
    # The new id still recognises its retry: the line is not added twice.
    again = (await shop.add(new_cart.cart_id, sku, request_id="req-new")).cart
    assert [line.quantity for line in again.lines] == [1]
