"""MergeCarts at login: summing within the limits, the coupon, adoption, idempotency, access."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import grpc

from shop.cart.v1 import cart_pb2, events_pb2
from shop.pricing.v1 import pricing_pb2
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Shop

CART_SETTINGS = {"max_line_quantity": 10, "max_lines": 3}
GUEST: tuple[tuple[str, str], ...] = ()


def lines_of(cart: cart_pb2.Cart) -> list[tuple[str, int]]:
    return [(line.sku, line.quantity) for line in cart.lines]


async def merge(shop: Shop, guest_cart_id: str, customer: str, who: str = "") -> cart_pb2.Cart:
    request = cart_pb2.MergeCartsRequest(guest_cart_id=guest_cart_id, context=shop.context(customer))
    return (await shop.stub.MergeCarts(request, metadata=shop.customer(who or customer))).cart


async def apply(shop: Shop, cart_id: str, code: str, who: tuple[tuple[str, str], ...] = GUEST) -> cart_pb2.Cart:
    request = cart_pb2.ApplyCouponRequest(cart_id=cart_id, coupon_code=code)
    return (await shop.stub.ApplyCoupon(request, metadata=who)).cart


async def test_a_guest_cart_merges_into_the_customers_cart(shop: Shop) -> None:
    both, guest_only = await shop.sku(price=1000), await shop.sku(price=500)
    code = await shop.coupon(percent_bp=1000)
    customer = shop.unique("cust")
    own = await shop.customer_cart(customer)
    await shop.add(own.cart_id, both, 2, who=shop.customer(customer))
    guest = await shop.guest_cart()
    await shop.add(guest.cart_id, both, 9)
    await shop.add(guest.cart_id, guest_only, 1)
    guest = await apply(shop, guest.cart_id, code)

    merged = await merge(shop, guest.cart_id, customer)
    assert merged.cart_id == own.cart_id and merged.customer_id == customer
    assert lines_of(merged) == [(both, 10), (guest_only, 1)]  # 2 + 9 capped at 10
    assert merged.coupon.code == code and merged.coupon.applied
    assert merged.pricing.total.amount == (10 * 1000 + 500) * 9 // 10
    after = await shop.get(guest.cart_id)
    assert after.status == cart_pb2.CART_STATUS_MERGED and after.merged_into_cart_id == own.cart_id
    assert after.version == guest.version + 1

    again = await merge(shop, guest.cart_id, customer)  # idempotent
    assert again.cart_id == merged.cart_id and again.version == merged.version
    assert lines_of(again) == lines_of(merged)

    data = await shop.event("shop.cart.merged", lambda d: events_pb2.CartMerged.FromString(d).cart_id == own.cart_id)
    event = events_pb2.CartMerged.FromString(data)
    assert (event.guest_cart_id, event.customer_id, event.meta.aggregate_id) == (guest.cart_id, customer, own.cart_id)


async def test_the_customers_coupon_wins_and_lines_beyond_the_limit_stay_behind(shop: Shop) -> None:
    skus = [await shop.sku(price=100) for _ in range(4)]
    mine, theirs = await shop.coupon(percent_bp=500), await shop.coupon(percent_bp=2000)
    customer = shop.unique("cust")
    as_customer = shop.customer(customer)
    own = await shop.customer_cart(customer)
    await shop.add(own.cart_id, skus[0], who=as_customer)
    await shop.add(own.cart_id, skus[1], who=as_customer)
    await apply(shop, own.cart_id, mine, as_customer)
    guest = await shop.guest_cart()
    for sku in skus[1:]:
        await shop.add(guest.cart_id, sku)
    await apply(shop, guest.cart_id, theirs)
    merged = await merge(shop, guest.cart_id, customer)
    assert lines_of(merged) == [(skus[0], 1), (skus[1], 2), (skus[2], 1)]  # max 3 lines
    assert merged.coupon.code == mine


async def test_a_guest_coupon_the_customer_cannot_use_is_dropped(shop: Shop) -> None:
    sku, code = await shop.sku(price=1000), await shop.coupon(per_customer=1)
    customer = shop.unique("cust")
    await shop.peers.pricing.RedeemCoupon(  # the customer used the coupon on an earlier order
        pricing_pb2.RedeemCouponRequest(code=code, customer_id=customer, idempotency_key=str(uuid.uuid4())),
        metadata=metadata_for("service"),
    )
    own = await shop.customer_cart(customer)
    guest = await shop.guest_cart()
    await shop.add(guest.cart_id, sku)
    assert (await apply(shop, guest.cart_id, code)).coupon.applied  # fine for an anonymous guest
    merged = await merge(shop, guest.cart_id, customer)
    assert merged.cart_id == own.cart_id and lines_of(merged) == [(sku, 1)]
    assert not merged.HasField("coupon") and merged.pricing.total.amount == 1000


async def test_without_an_active_cart_the_guest_cart_is_adopted(shop: Shop) -> None:
    sku = await shop.sku(price=800)
    customer, other = shop.unique("cust"), shop.unique("other")
    guest = await shop.guest_cart()
    await shop.add(guest.cart_id, sku, 2)
    adopted = await merge(shop, guest.cart_id, customer)
    assert adopted.cart_id == guest.cart_id and adopted.customer_id == customer
    assert adopted.status == cart_pb2.CART_STATUS_ACTIVE and lines_of(adopted) == [(sku, 2)]
    active = await shop.stub.GetActiveCart(
        cart_pb2.GetActiveCartRequest(customer_id=customer), metadata=shop.customer(customer)
    )
    assert active.cart.cart_id == guest.cart_id
    # Now a customer's cart: the id alone no longer opens it.
    for who in (GUEST, shop.customer(other)):
        error = await shop.fails(shop.stub.GetCart(cart_pb2.GetCartRequest(cart_id=guest.cart_id), metadata=who))
        assert error.code == grpc.StatusCode.NOT_FOUND
    again = await merge(shop, guest.cart_id, customer)
    assert again.cart_id == guest.cart_id and again.version == adopted.version
    error = await shop.fails(merge(shop, guest.cart_id, other))
    assert error.code == grpc.StatusCode.NOT_FOUND
    data = await shop.event("shop.cart.merged", lambda d: events_pb2.CartMerged.FromString(d).cart_id == guest.cart_id)
    assert events_pb2.CartMerged.FromString(data).guest_cart_id == guest.cart_id


async def test_concurrent_merges_of_one_guest_cart_merge_once(shop: Shop) -> None:
    sku = await shop.sku()
    customer = shop.unique("cust")
    own = await shop.customer_cart(customer)
    await shop.add(own.cart_id, sku, 1, who=shop.customer(customer))
    guest = await shop.guest_cart()
    await shop.add(guest.cart_id, sku, 3)
    outcomes = await asyncio.gather(*(merge(shop, guest.cart_id, customer) for _ in range(5)), return_exceptions=True)
    merged = [o for o in outcomes if isinstance(o, cart_pb2.Cart)]
    assert merged and all(o.cart_id == own.cart_id for o in merged)
    for error in (o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)):
        assert error.code() == grpc.StatusCode.ABORTED  # a retry answers with the merged cart
    assert lines_of(await shop.get(own.cart_id, who=shop.customer(customer))) == [(sku, 4)]


async def test_merge_is_refused_for_other_customers_and_finished_carts(shop: Shop) -> None:
    customer = shop.unique("cust")
    guest = await shop.guest_cart()
    error = await shop.fails(merge(shop, guest.cart_id, customer, who=shop.unique("intruder")))
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    error = await shop.fails(
        shop.stub.MergeCarts(cart_pb2.MergeCartsRequest(guest_cart_id="nope", context=shop.context()), metadata=GUEST)
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {"guest_cart_id", "context.customer_id"}
    error = await shop.fails(merge(shop, str(uuid.uuid4()), customer))
    assert error.code == grpc.StatusCode.NOT_FOUND
    await shop.stub.CheckOutCart(
        cart_pb2.CheckOutCartRequest(cart_id=guest.cart_id, checkout_id="co-1", order_id="order-1"),
        metadata=metadata_for("service"),
    )
    error = await shop.fails(merge(shop, guest.cart_id, customer))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "CART_NOT_ACTIVE"
