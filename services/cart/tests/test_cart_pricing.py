"""Price snapshots, their expiry and refresh, coupons, line problems, and what happens when a peer
is down — against the real pricing, catalog and inventory services."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from shop.cart.v1 import cart_pb2
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Shop

TTL = 600.0
CART_SETTINGS = {"price_snapshot_ttl_seconds": TTL}
GUEST: tuple[tuple[str, str], ...] = ()
K = cart_pb2


def problems(cart: cart_pb2.Cart) -> list[tuple[str, int, bool]]:
    """(sku, problem kind, blocking) of every line problem."""
    return [(line.sku, p.kind, p.blocking) for line in cart.lines for p in line.problems]


async def apply(shop: Shop, cart_id: str, code: str) -> cart_pb2.Cart:
    request = cart_pb2.ApplyCouponRequest(cart_id=cart_id, coupon_code=code)
    return (await shop.stub.ApplyCoupon(request, metadata=GUEST)).cart


# --- coupons -------------------------------------------------------------------------------------


async def test_a_valid_coupon_discounts_the_cart_and_can_be_removed(shop: Shop) -> None:
    sku, code = await shop.sku(price=5000), await shop.coupon(percent_bp=1000)
    cart = await shop.guest_cart()
    await shop.add(cart.cart_id, sku)
    applied = await apply(shop, cart.cart_id, code.lower())
    assert applied.coupon.code == code and applied.coupon.applied
    assert applied.coupon.discount.amount == 500
    assert (applied.pricing.subtotal.amount, applied.pricing.discount_total.amount) == (5000, 500)
    assert applied.pricing.total.amount == 4500
    again = await apply(shop, cart.cart_id, code)
    assert again.version == applied.version  # the code the cart already has: unchanged
    removed = (await shop.stub.RemoveCoupon(cart_pb2.RemoveCouponRequest(cart_id=cart.cart_id), metadata=GUEST)).cart
    assert not removed.HasField("coupon") and removed.pricing.total.amount == 5000
    assert removed.version == applied.version + 1


async def test_an_invalid_coupon_is_refused_with_pricings_reason_and_changes_nothing(shop: Shop) -> None:
    sku, good, expired = await shop.sku(price=5000), await shop.coupon(), await shop.coupon(expired=True)
    cart = await shop.guest_cart()
    await shop.add(cart.cart_id, sku)
    before = await apply(shop, cart.cart_id, good)
    for code, reason in (("NO-SUCH-CODE", "NOT_FOUND"), (expired, "EXPIRED")):
        error = await shop.fails(apply(shop, cart.cart_id, code))
        assert error.code == grpc.StatusCode.FAILED_PRECONDITION
        assert error.reason == "COUPON_INVALID" and error.metadata["coupon_reason"] == reason
    after = await shop.get(cart.cart_id)
    assert after.coupon.code == good and after.version == before.version
    assert after.pricing.total.amount == 4500


async def test_a_coupon_whose_conditions_are_not_met_yet_is_kept_unapplied(shop: Shop) -> None:
    sku, code = await shop.sku(price=4000), await shop.coupon(percent_bp=1000, min_spend=10000)
    cart = await shop.guest_cart()
    await shop.add(cart.cart_id, sku)
    kept = await apply(shop, cart.cart_id, code)
    assert kept.coupon.code == code and not kept.coupon.applied
    assert kept.coupon.reason == "MIN_SPEND_NOT_MET" and "60.00 USD" in kept.coupon.description
    assert kept.pricing.total.amount == 4000
    grown = (await shop.add(cart.cart_id, sku, 2)).cart  # 12000 now reaches the minimum spend
    assert grown.coupon.applied and grown.coupon.reason == ""
    assert grown.pricing.total.amount == 12000 - 1200


async def test_a_coupon_on_an_empty_cart_is_checked_and_waits_for_lines(shop: Shop) -> None:
    sku, code = await shop.sku(price=2000), await shop.coupon(percent_bp=2500)
    cart = await shop.guest_cart()
    error = await shop.fails(apply(shop, cart.cart_id, "NO-SUCH-CODE"))
    assert error.reason == "COUPON_INVALID" and error.metadata["coupon_reason"] == "NOT_FOUND"
    error = await shop.fails(apply(shop, cart.cart_id, await shop.coupon(expired=True)))
    assert error.reason == "COUPON_INVALID" and error.metadata["coupon_reason"] == "EXPIRED"
    waiting = await apply(shop, cart.cart_id, code)
    assert waiting.coupon.code == code and not waiting.coupon.applied and waiting.coupon.reason == "CART_EMPTY"
    assert waiting.pricing.total.amount == 0
    filled = (await shop.add(cart.cart_id, sku)).cart
    assert filled.coupon.applied and filled.pricing.total.amount == 1500


# --- snapshot expiry and refresh --------------------------------------------------------------------


async def test_an_expired_snapshot_is_repriced_on_read(shop: Shop) -> None:
    sku = await shop.sku(price=1000)
    cart = await shop.guest_cart()
    added = (await shop.add(cart.cart_id, sku, 2)).cart
    priced_at = added.pricing.priced_at.ToDatetime()
    assert (added.pricing.expires_at.ToDatetime() - priced_at).total_seconds() == TTL
    await shop.set_price(sku, 1200)

    still = await shop.get(cart.cart_id)  # the snapshot is valid: as last priced
    assert still.lines[0].unit_price.amount == 1000 and still.pricing.total.amount == 2000
    assert still.pricing.priced_at == added.pricing.priced_at and not still.pricing.stale

    shop.clock.advance(TTL + 1)
    renewed = await shop.get(cart.cart_id)
    assert renewed.lines[0].unit_price.amount == 1200 and renewed.pricing.total.amount == 2400
    assert renewed.pricing.priced_at.ToDatetime() > priced_at and not renewed.pricing.stale
    line = renewed.lines[0]
    assert [(p.kind, p.blocking, p.previous_unit_price.amount) for p in line.problems] == [
        (K.LINE_PROBLEM_KIND_PRICE_CHANGED, False, 1000)
    ]
    assert not renewed.has_blocking_problems and renewed.version == added.version + 1

    # Setting the quantity shows the customer the current price: the problem goes away.
    updated = (
        await shop.stub.UpdateCartLine(
            cart_pb2.UpdateCartLineRequest(cart_id=cart.cart_id, line_id=line.line_id, quantity=3), metadata=GUEST
        )
    ).cart
    assert problems(updated) == [] and updated.pricing.total.amount == 3600


async def test_refresh_reports_stock_price_and_catalog_problems(shop: Shop) -> None:
    gone, short, dearer, fine = (shop.unique(p) for p in ("GONE", "SHORT", "DEAR", "FINE"))
    gone_product = await shop.product(gone)
    for sku in (short, dearer, fine):
        await shop.product(sku, price=1000)
    cart = await shop.guest_cart()
    for sku in (gone, short, dearer, fine):
        await shop.add(cart.cart_id, sku, 3)
    await shop.discontinue(gone_product.id)
    await shop.set_stock(short, 1)
    await shop.set_price(dearer, 1100)
    refreshed = await shop.refresh(cart.cart_id)
    assert problems(refreshed) == [
        (gone, K.LINE_PROBLEM_KIND_DISCONTINUED, True),
        (short, K.LINE_PROBLEM_KIND_INSUFFICIENT_STOCK, True),
        (dearer, K.LINE_PROBLEM_KIND_PRICE_CHANGED, False),
    ]
    assert refreshed.lines[1].problems[0].available_quantity == 1
    assert refreshed.lines[1].problems[0].message == "Only 1 left"
    assert refreshed.has_blocking_problems

    await shop.set_stock(short, 0)
    out = await shop.refresh(cart.cart_id)
    assert (short, K.LINE_PROBLEM_KIND_OUT_OF_STOCK, True) in problems(out)
    await shop.set_stock(short, 50)
    back = await shop.refresh(cart.cart_id)
    assert [sku for sku, _, _ in problems(back)] == [gone, dearer]


async def test_stock_running_out_shows_on_the_next_change(shop: Shop) -> None:
    sku = await shop.sku(stock=5)
    cart = await shop.guest_cart()
    first = (await shop.add(cart.cart_id, sku, 2)).cart
    assert problems(first) == []
    await shop.set_stock(sku, 0)
    second = (await shop.add(cart.cart_id, sku, 1)).cart
    assert problems(second) == [(sku, K.LINE_PROBLEM_KIND_OUT_OF_STOCK, True)]
    assert second.lines[0].problems[0].message == "Out of stock"


async def test_a_sku_without_a_price_is_a_blocking_problem(shop: Shop) -> None:
    priced = await shop.sku(price=700)
    unpriced = shop.unique("NOPRICE")
    await shop.product(unpriced, price=None)
    cart = await shop.guest_cart()
    await shop.add(cart.cart_id, priced)
    added = (await shop.add(cart.cart_id, unpriced)).cart
    assert problems(added) == [(unpriced, K.LINE_PROBLEM_KIND_PRICE_UNAVAILABLE, True)]
    assert not added.lines[1].HasField("unit_price")
    assert added.pricing.total.amount == 700 and added.has_blocking_problems


# --- peers that are down -----------------------------------------------------------------------------


async def test_pricing_down_reads_answer_stale_and_changes_are_unavailable(shop: Shop) -> None:
    sku, other = await shop.sku(price=900), await shop.sku()
    cart = await shop.guest_cart()
    added = (await shop.add(cart.cart_id, sku)).cart
    no_pricing = await shop.another_instance(pricing_addr=shop.dead_address())

    fresh = (await no_pricing.GetCart(cart_pb2.GetCartRequest(cart_id=cart.cart_id), metadata=GUEST)).cart
    assert not fresh.pricing.stale and fresh.pricing.total.amount == 900  # valid snapshot: no call needed
    shop.clock.advance(TTL + 1)
    stale = (await no_pricing.GetCart(cart_pb2.GetCartRequest(cart_id=cart.cart_id), metadata=GUEST)).cart
    assert stale.pricing.stale and stale.pricing.total.amount == 900
    assert stale.pricing.priced_at == added.pricing.priced_at and stale.version == added.version

    request = cart_pb2.AddCartLineRequest(cart_id=cart.cart_id, sku=other, quantity=1, request_id="r-pricing-down")
    error = await shop.fails(no_pricing.AddCartLine(request, metadata=GUEST))
    assert error.code == grpc.StatusCode.UNAVAILABLE and error.reason == "PRICING_UNAVAILABLE"
    error = await shop.fails(
        no_pricing.UpdateCartLine(
            cart_pb2.UpdateCartLineRequest(cart_id=cart.cart_id, line_id=added.lines[0].line_id, quantity=2),
            metadata=GUEST,
        )
    )
    assert error.code == grpc.StatusCode.UNAVAILABLE and error.reason == "PRICING_UNAVAILABLE"
    unchanged = await shop.get(cart.cart_id)  # through the healthy instance: renewed, nothing else changed
    assert [(line.sku, line.quantity) for line in unchanged.lines] == [(sku, 1)] and not unchanged.pricing.stale
    retried = await shop.stub.AddCartLine(request, metadata=GUEST)  # the same request id, pricing back
    assert [line.sku for line in retried.cart.lines] == [sku, other]


async def test_catalog_down_blocks_adds_and_inventory_down_only_refreshes(shop: Shop) -> None:
    sku = await shop.sku()
    cart = await shop.guest_cart()
    no_catalog = await shop.another_instance(catalog_addr=shop.dead_address())
    request = cart_pb2.AddCartLineRequest(cart_id=cart.cart_id, sku=sku, quantity=1, request_id="r-catalog-down")
    error = await shop.fails(no_catalog.AddCartLine(request, metadata=GUEST))
    assert error.code == grpc.StatusCode.UNAVAILABLE and error.reason == "CATALOG_UNAVAILABLE"
    assert error.metadata["peer"] == "catalog"

    no_inventory = await shop.another_instance(inventory_addr=shop.dead_address())
    added = (await no_inventory.AddCartLine(request, metadata=GUEST)).cart
    assert [line.sku for line in added.lines] == [sku] and problems(added) == []  # stock unknown: no problem
    error = await shop.fails(
        no_inventory.RefreshCart(cart_pb2.RefreshCartRequest(cart_id=cart.cart_id), metadata=metadata_for("service"))
    )
    assert error.code == grpc.StatusCode.UNAVAILABLE and error.reason == "INVENTORY_UNAVAILABLE"
