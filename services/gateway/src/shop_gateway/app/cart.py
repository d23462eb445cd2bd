"""The caller's cart. Shoppers address lines by SKU; the cart service's line ids stay internal."""

from __future__ import annotations

import uuid

import grpc

from shop.cart.v1 import cart_pb2
from shop.common.v1 import common_pb2
from shop_gateway.app import mapping, models
from shop_gateway.app.access import require_cart_holder
from shop_gateway.app.errors import UpstreamError, upstream
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import check_quantity, check_version
from shop_gateway.principal import Principal
from shopkit.errors import NotFound, Violations
from shopkit.identifiers import check_request_id, check_sku

MAX_COUPON = 64
FIELDS = {"coupon_code": "code", "request_id": "idempotency_key"}


async def active_cart(shop: Shop, who: Principal) -> cart_pb2.Cart | None:
    """The caller's active cart, None when there is none; a guest's cart as it is (any status)."""
    if who.is_guest:
        return await _guest_cart(shop, who.guest_cart_id)
    request = cart_pb2.GetActiveCartRequest(customer_id=who.subject)
    try:
        response = await shop.backends.cart.GetActiveCart(request, metadata=who.metadata())
    except grpc.aio.AioRpcError as error:
        if error.code() is grpc.StatusCode.NOT_FOUND:
            return None
        raise UpstreamError.from_rpc("cart", error, FIELDS) from error
    return response.cart


async def _guest_cart(shop: Shop, cart_id: str) -> cart_pb2.Cart:
    """A guest cart by its id (the guest's token): the cart service shows it to whoever holds the id,
    and a customer's cart to nobody without the customer's identity."""
    try:
        response = await shop.backends.cart.GetCart(cart_pb2.GetCartRequest(cart_id=cart_id))
    except grpc.aio.AioRpcError as error:
        if error.code() is grpc.StatusCode.NOT_FOUND:
            raise NotFound("guest cart", cart_id) from error
        raise UpstreamError.from_rpc("cart", error, FIELDS) from error
    return response.cart


async def _cart_to_change(shop: Shop, who: Principal) -> cart_pb2.Cart:
    """The caller's active cart, created when there is none (CreateCart returns the existing one); a
    guest's cart exists from the start (POST /v1/guest-carts)."""
    if who.is_guest:
        return await _guest_cart(shop, who.guest_cart_id)
    with upstream("cart", FIELDS):
        response = await shop.backends.cart.CreateCart(
            cart_pb2.CreateCartRequest(context=shop.customer_context(who)), metadata=who.metadata()
        )
    return response.cart


def buyer_context(shop: Shop, who: Principal, cart: cart_pb2.Cart) -> common_pb2.CustomerContext:
    """Whom the cart's purchase is priced for: the signed-in caller, or a guest's cart as created
    (a guest has no customer; its cart fixed currency and country)."""
    return cart.context if who.is_guest else shop.customer_context(who)


def _line(cart: cart_pb2.Cart, sku: str) -> cart_pb2.CartLine | None:
    return next((line for line in cart.lines if line.sku == sku), None)


async def get_cart(shop: Shop, who: Principal) -> models.Cart:
    require_cart_holder(who)
    cart = await active_cart(shop, who)
    return mapping.cart(cart) if cart is not None else mapping.empty_cart(shop.currency(who))


async def add_item(
    shop: Shop, who: Principal, *, sku: str, quantity: int, request_id: str = "", expected_version: int = 0
) -> models.Cart:
    require_cart_holder(who)
    violations = Violations()
    check_sku(violations, sku, "sku")
    check_quantity(violations, quantity, least=1)
    if request_id:
        check_request_id(violations, request_id, "idempotency_key")
    check_version(violations, expected_version)
    violations.raise_if_any()
    cart = await _cart_to_change(shop, who)
    request = cart_pb2.AddCartLineRequest(
        cart_id=cart.cart_id,
        sku=sku,
        quantity=quantity,
        request_id=request_id or str(uuid.uuid4()),
        expected_version=expected_version,
    )
    with upstream("cart", FIELDS):
        response = await shop.backends.cart.AddCartLine(request, metadata=who.metadata())
    return mapping.cart(response.cart)


async def update_item(shop: Shop, who: Principal, *, sku: str, quantity: int, expected_version: int = 0) -> models.Cart:
    require_cart_holder(who)
    violations = Violations()
    check_sku(violations, sku, "sku")
    check_quantity(violations, quantity, least=0)  # 0 removes the line
    check_version(violations, expected_version)
    violations.raise_if_any()
    cart = await active_cart(shop, who)
    line = _line(cart, sku) if cart is not None else None
    if cart is None or line is None:
        raise NotFound("cart line", sku)
    request = cart_pb2.UpdateCartLineRequest(
        cart_id=cart.cart_id, line_id=line.line_id, quantity=quantity, expected_version=expected_version
    )
    with upstream("cart", FIELDS):
        response = await shop.backends.cart.UpdateCartLine(request, metadata=who.metadata())
    return mapping.cart(response.cart)


async def remove_item(shop: Shop, who: Principal, *, sku: str, expected_version: int = 0) -> models.Cart:
    """Removing a SKU the cart does not hold returns the cart unchanged (DELETE is idempotent)."""
    require_cart_holder(who)
    violations = Violations()
    check_sku(violations, sku, "sku")
    check_version(violations, expected_version)
    violations.raise_if_any()
    cart = await active_cart(shop, who)
    if cart is None:
        return mapping.empty_cart(shop.currency(who))
    line = _line(cart, sku)
    if line is None:
        return mapping.cart(cart)
    request = cart_pb2.RemoveCartLineRequest(
        cart_id=cart.cart_id, line_id=line.line_id, expected_version=expected_version
    )
    with upstream("cart", FIELDS):
        response = await shop.backends.cart.RemoveCartLine(request, metadata=who.metadata())
    return mapping.cart(response.cart)


async def apply_coupon(shop: Shop, who: Principal, *, code: str, expected_version: int = 0) -> models.Cart:
    require_cart_holder(who)
    violations = Violations()
    violations.check(0 < len(code.strip()) <= MAX_COUPON, "code", f"must be 1-{MAX_COUPON} characters")
    check_version(violations, expected_version)
    violations.raise_if_any()
    cart = await _cart_to_change(shop, who)
    request = cart_pb2.ApplyCouponRequest(
        cart_id=cart.cart_id, coupon_code=code.strip(), expected_version=expected_version
    )
    with upstream("cart", FIELDS):
        response = await shop.backends.cart.ApplyCoupon(request, metadata=who.metadata())
    return mapping.cart(response.cart)


async def remove_coupon(shop: Shop, who: Principal, *, expected_version: int = 0) -> models.Cart:
    require_cart_holder(who)
    violations = Violations()
    check_version(violations, expected_version)
    violations.raise_if_any()
    cart = await active_cart(shop, who)
    if cart is None:
        return mapping.empty_cart(shop.currency(who))
    request = cart_pb2.RemoveCouponRequest(cart_id=cart.cart_id, expected_version=expected_version)
    with upstream("cart", FIELDS):
        response = await shop.backends.cart.RemoveCoupon(request, metadata=who.metadata())
    return mapping.cart(response.cart)
