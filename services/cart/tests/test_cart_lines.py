"""Creating carts, adding, changing and removing lines: catalog checks, limits, idempotency,
ownership and concurrency, over a real gRPC channel with real catalog, pricing and inventory."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import grpc

from shop.cart.v1 import cart_pb2
from shop.catalog.v1 import catalog_pb2
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Shop

CART_SETTINGS = {"max_lines": 20, "max_line_quantity": 10}
GUEST: tuple[tuple[str, str], ...] = ()


def lines_of(cart: cart_pb2.Cart) -> list[tuple[str, int]]:
    return [(line.sku, line.quantity) for line in cart.lines]


# --- creating carts ----------------------------------------------------------------------------


async def test_a_guest_cart_is_created_once_per_request_id(shop: Shop) -> None:
    request = cart_pb2.CreateCartRequest(context=shop.context(), request_id=str(uuid.uuid4()))
    first = (await shop.stub.CreateCart(request, metadata=GUEST)).cart
    again = (await shop.stub.CreateCart(request, metadata=GUEST)).cart
    assert first.cart_id == again.cart_id
    assert first.status == cart_pb2.CART_STATUS_ACTIVE
    assert first.customer_id == "" and first.version == 1 and not first.lines
    assert first.pricing.total.amount == 0 and first.pricing.total.currency == "USD"
    assert first.expires_at.ToDatetime() > first.created_at.ToDatetime()


async def test_a_customer_has_one_active_cart(shop: Shop) -> None:
    customer = shop.unique("cust")
    carts = await asyncio.gather(*(shop.customer_cart(customer) for _ in range(5)))
    assert len({cart.cart_id for cart in carts}) == 1
    active = await shop.stub.GetActiveCart(
        cart_pb2.GetActiveCartRequest(customer_id=customer), metadata=shop.customer(customer)
    )
    assert active.cart.cart_id == carts[0].cart_id and active.cart.customer_id == customer
    rows = await shop.sql("SELECT count(*) AS n FROM carts WHERE customer_id = :c", c=customer)
    assert rows[0].n == 1


async def test_create_cart_rejects_bad_input_and_foreign_customers(shop: Shop) -> None:
    error = await shop.fails(
        shop.stub.CreateCart(
            cart_pb2.CreateCartRequest(context=shop.context(currency="usd", channel="tv")), metadata=GUEST
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {"context.currency", "context.channel", "request_id"}
    error = await shop.fails(
        shop.stub.CreateCart(cart_pb2.CreateCartRequest(context=shop.context("alice")), metadata=shop.customer("bob"))
    )
    assert error.code == grpc.StatusCode.PERMISSION_DENIED


# --- lines ---------------------------------------------------------------------------------------


async def test_add_update_and_remove_lines(shop: Shop) -> None:
    sku_a, sku_b = await shop.sku(price=1250), await shop.sku(price=300)
    cart = await shop.guest_cart()
    added = await shop.add(cart.cart_id, sku_a, 2)
    line_a = added.line_id
    assert lines_of(added.cart) == [(sku_a, 2)]
    line = added.cart.lines[0]
    assert line.line_id == line_a and line.name.startswith("Product ") and line.product_id
    assert (line.unit_price.amount, line.line_total.amount, line.unit_price.currency) == (1250, 2500, "USD")
    assert not line.problems and not added.cart.has_blocking_problems
    assert added.cart.version == 2

    again = await shop.add(cart.cart_id, sku_a, 3)  # the same SKU: the line grows
    assert again.line_id == line_a and lines_of(again.cart) == [(sku_a, 5)]
    both = (await shop.add(cart.cart_id, sku_b, 1)).cart
    assert lines_of(both) == [(sku_a, 5), (sku_b, 1)]
    assert both.pricing.subtotal.amount == 5 * 1250 + 300 and both.pricing.total.amount == 6550

    updated = (
        await shop.stub.UpdateCartLine(
            cart_pb2.UpdateCartLineRequest(cart_id=cart.cart_id, line_id=line_a, quantity=1), metadata=GUEST
        )
    ).cart
    assert lines_of(updated) == [(sku_a, 1), (sku_b, 1)] and updated.pricing.total.amount == 1550
    line_b = updated.lines[1].line_id
    removed = (
        await shop.stub.RemoveCartLine(
            cart_pb2.RemoveCartLineRequest(cart_id=cart.cart_id, line_id=line_b), metadata=GUEST
        )
    ).cart
    assert lines_of(removed) == [(sku_a, 1)]
    twice = (
        await shop.stub.RemoveCartLine(
            cart_pb2.RemoveCartLineRequest(cart_id=cart.cart_id, line_id=line_b), metadata=GUEST
        )
    ).cart
    assert twice.version == removed.version  # already gone: unchanged

    zero = (
        await shop.stub.UpdateCartLine(
            cart_pb2.UpdateCartLineRequest(cart_id=cart.cart_id, line_id=line_a, quantity=0), metadata=GUEST
        )
    ).cart
    assert zero.lines == [] and zero.pricing.total.amount == 0
    error = await shop.fails(
        shop.stub.UpdateCartLine(
            cart_pb2.UpdateCartLineRequest(cart_id=cart.cart_id, line_id=line_a, quantity=2), metadata=GUEST
        )
    )
    assert error.code == grpc.StatusCode.NOT_FOUND


async def test_a_line_keeps_the_variant_s_shipping_weight(shop: Shop) -> None:
    heavy, unknown = shop.unique("SKU"), shop.unique("SKU")
    await shop.product(heavy, weight_grams=1500)
    await shop.product(unknown)
    cart = await shop.guest_cart()
    await shop.add(cart.cart_id, heavy, 2)
    lines = (await shop.add(cart.cart_id, unknown, 1)).cart.lines
    assert [(line.sku, line.weight_grams) for line in lines] == [(heavy, 1500), (unknown, 0)]


async def test_unknown_sku_is_invalid_argument_on_sku(shop: Shop) -> None:
    cart = await shop.guest_cart()
    error = await shop.fails(shop.add(cart.cart_id, shop.unique("NOPE")))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.violations] == ["sku"]
    assert (await shop.get(cart.cart_id)).version == cart.version


async def test_discontinued_draft_and_other_channel_skus_are_not_sellable(shop: Shop) -> None:
    discontinued, draft, pos_only = shop.unique("D"), shop.unique("DR"), shop.unique("POS")
    product = await shop.product(discontinued)
    await shop.discontinue(product.id)
    await shop.product(draft, status=catalog_pb2.PRODUCT_STATUS_DRAFT)
    await shop.product(pos_only, channels=[catalog_pb2.CHANNEL_POS])
    cart = await shop.guest_cart()
    error = await shop.fails(shop.add(cart.cart_id, discontinued))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "SKU_NOT_SELLABLE" and error.metadata["sku"] == discontinued
    assert error.metadata["sellability"] == "discontinued"
    nope = shop.unique("NOPE")
    unknown = await shop.fails(shop.add(cart.cart_id, nope))
    # A draft or another channel's product is not revealed: the answer of a SKU that does not exist.
    for sku in (draft, pos_only):
        error = await shop.fails(shop.add(cart.cart_id, sku))
        assert (error.code, error.reason) == (unknown.code, unknown.reason), sku
        assert [(v.field, v.description.replace(sku, "?")) for v in error.violations] == [
            (v.field, v.description.replace(nope, "?")) for v in unknown.violations
        ]
    after = await shop.get(cart.cart_id)
    assert after.lines == [] and after.version == cart.version


async def test_quantity_limits(shop: Shop) -> None:
    sku = await shop.sku()
    cart = await shop.guest_cart()
    before = (await shop.add(cart.cart_id, sku, 8)).cart
    for quantity in (0, -1, 11):
        error = await shop.fails(shop.add(cart.cart_id, sku, quantity))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in error.violations] == ["quantity"]
    error = await shop.fails(
        shop.stub.UpdateCartLine(
            cart_pb2.UpdateCartLineRequest(cart_id=cart.cart_id, line_id=before.lines[0].line_id, quantity=11),
            metadata=GUEST,
        )
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and [v.field for v in error.violations] == ["quantity"]
    error = await shop.fails(shop.add(cart.cart_id, sku, 3))  # 8 + 3 > 10
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "QUANTITY_LIMIT_EXCEEDED"
    after = await shop.get(cart.cart_id)
    assert lines_of(after) == [(sku, 8)] and after.version == before.version


async def test_bad_input_changes_nothing(shop: Shop) -> None:
    cart = await shop.guest_cart()
    request = cart_pb2.AddCartLineRequest(cart_id="not-a-uuid", sku="bad sku!", quantity=1, expected_version=-1)
    error = await shop.fails(shop.stub.AddCartLine(request, metadata=GUEST))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error.violations} == {"cart_id", "sku", "request_id", "expected_version"}
    error = await shop.fails(
        shop.stub.ApplyCoupon(cart_pb2.ApplyCouponRequest(cart_id=cart.cart_id, coupon_code="  "), metadata=GUEST)
    )
    assert [v.field for v in error.violations] == ["coupon_code"]
    error = await shop.fails(shop.stub.GetCart(cart_pb2.GetCartRequest(cart_id=str(uuid.uuid4())), metadata=GUEST))
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert (await shop.get(cart.cart_id)).version == cart.version


async def test_add_is_idempotent_by_request_id(shop: Shop) -> None:
    sku, other = await shop.sku(), await shop.sku()
    cart = await shop.guest_cart()
    request_id = str(uuid.uuid4())
    first = await shop.add(cart.cart_id, sku, 2, request_id=request_id)
    repeats = await asyncio.gather(*(shop.add(cart.cart_id, sku, 2, request_id=request_id) for _ in range(5)))
    assert all(r.line_id == first.line_id for r in repeats)
    after = await shop.get(cart.cart_id)
    assert lines_of(after) == [(sku, 2)] and after.version == first.cart.version
    error = await shop.fails(shop.add(cart.cart_id, other, 1, request_id=request_id))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and error.reason == "REQUEST_ID_REUSED"


# --- ownership -------------------------------------------------------------------------------------


async def test_customers_see_only_their_own_cart(shop: Shop) -> None:
    sku = await shop.sku()
    alice, bob = shop.unique("alice"), shop.unique("bob")
    cart = await shop.customer_cart(alice)
    await shop.add(cart.cart_id, sku, who=shop.customer(alice))
    as_bob = shop.customer(bob)
    calls: list[Awaitable[Any]] = [
        shop.stub.GetCart(cart_pb2.GetCartRequest(cart_id=cart.cart_id), metadata=as_bob),
        shop.add(cart.cart_id, sku, who=as_bob),
        shop.stub.RemoveCartLine(
            cart_pb2.RemoveCartLineRequest(cart_id=cart.cart_id, line_id=str(uuid.uuid4())), metadata=as_bob
        ),
        shop.stub.RefreshCart(cart_pb2.RefreshCartRequest(cart_id=cart.cart_id), metadata=as_bob),
        shop.stub.GetActiveCart(cart_pb2.GetActiveCartRequest(customer_id=alice), metadata=as_bob),
        shop.stub.GetCart(cart_pb2.GetCartRequest(cart_id=cart.cart_id), metadata=GUEST),
    ]
    for call in calls:
        assert (await shop.fails(call)).code == grpc.StatusCode.NOT_FOUND
    for role in ("admin", "service"):
        seen = (
            await shop.stub.GetCart(cart_pb2.GetCartRequest(cart_id=cart.cart_id), metadata=metadata_for(role))
        ).cart
        assert lines_of(seen) == [(sku, 1)]
    # A guest cart is open to whoever holds its id.
    guest = await shop.guest_cart()
    assert (await shop.get(guest.cart_id, who=as_bob)).cart_id == guest.cart_id


# --- concurrency -------------------------------------------------------------------------------------


async def test_twenty_concurrent_adds_of_different_skus_keep_every_line(shop: Shop) -> None:
    skus = [shop.unique("CC") for _ in range(20)]
    await shop.product(*skus, price=100)
    cart = await shop.guest_cart()
    responses = await asyncio.gather(*(shop.add(cart.cart_id, sku) for sku in skus))
    after = await shop.get(cart.cart_id)
    assert sorted(sku for sku, _ in lines_of(after)) == sorted(skus)
    assert after.version == cart.version + 20
    assert after.pricing.total.amount == 20 * 100
    assert sorted(r.cart.version for r in responses) == list(range(cart.version + 1, cart.version + 21))
    # Every response is the cart as that change left it, priced.
    assert all(len(r.cart.lines) == r.cart.version - cart.version for r in responses)
    assert all(r.cart.pricing.total.amount == 100 * len(r.cart.lines) for r in responses)

    error = await shop.fails(shop.add(cart.cart_id, await shop.sku()))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "TOO_MANY_LINES"


async def test_concurrent_quantity_increments_are_all_counted(shop: Shop) -> None:
    sku = await shop.sku()
    cart = await shop.guest_cart()
    await asyncio.gather(*(shop.add(cart.cart_id, sku, 1) for _ in range(10)))
    assert lines_of(await shop.get(cart.cart_id)) == [(sku, 10)]


async def test_a_stale_expected_version_is_aborted_and_changes_nothing(shop: Shop) -> None:
    sku, other = await shop.sku(), await shop.sku()
    cart = await shop.guest_cart()
    seen = (await shop.add(cart.cart_id, sku, 1, expected_version=cart.version)).cart
    await shop.add(cart.cart_id, other, 1)  # someone else changes the cart
    error = await shop.fails(shop.add(cart.cart_id, sku, 1, expected_version=seen.version))
    assert error.code == grpc.StatusCode.ABORTED and error.reason == "CART_VERSION_MISMATCH"
    assert error.metadata["version"] == str(seen.version + 1)
    error = await shop.fails(
        shop.stub.UpdateCartLine(
            cart_pb2.UpdateCartLineRequest(
                cart_id=cart.cart_id, line_id=seen.lines[0].line_id, quantity=5, expected_version=seen.version
            ),
            metadata=GUEST,
        )
    )
    assert error.code == grpc.StatusCode.ABORTED
    after = await shop.get(cart.cart_id)
    assert lines_of(after) == [(sku, 1), (other, 1)] and after.version == seen.version + 1
    current = (
        await shop.stub.UpdateCartLine(
            cart_pb2.UpdateCartLineRequest(
                cart_id=cart.cart_id, line_id=seen.lines[0].line_id, quantity=5, expected_version=after.version
            ),
            metadata=GUEST,
        )
    ).cart
    assert lines_of(current) == [(sku, 5), (other, 1)] and current.version == after.version + 1


async def test_concurrent_adds_with_one_expected_version_let_exactly_one_win(shop: Shop) -> None:
    skus = [shop.unique("EV") for _ in range(5)]
    await shop.product(*skus)
    cart = await shop.guest_cart()
    outcomes = await asyncio.gather(
        *(shop.add(cart.cart_id, sku, expected_version=cart.version) for sku in skus), return_exceptions=True
    )
    won = [o for o in outcomes if isinstance(o, cart_pb2.AddCartLineResponse)]
    lost = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(won) == 1 and len(lost) == 4
    assert all(error.code() == grpc.StatusCode.ABORTED for error in lost)
    assert len((await shop.get(cart.cart_id)).lines) == 1
