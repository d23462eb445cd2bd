"""Guests: a cart without an account, and its merge into the customer's cart at sign-in.

A guest's cart id is its only credential: an unguessable UUID that the client keeps and sends back
as `X-Cart-Token` (the cart service shows a guest cart to whoever holds its id, and a customer's cart
to nobody without the customer's identity). With it a guest uses the cart routes and buys with an
e-mail address; after signing in, the client merges the guest cart into the customer's cart
(quantities of one SKU add up, the guest cart becomes MERGED and read-only).
"""

from __future__ import annotations

import uuid

from shop.cart.v1 import cart_pb2
from shop.common.v1 import common_pb2
from shop_gateway.app import mapping, models
from shop_gateway.app.access import require_shopper
from shop_gateway.app.cart import FIELDS
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.principal import CART_TOKEN_HEADER, Principal, guest
from shopkit.errors import FailedPrecondition, Violations
from shopkit.identifiers import check_country
from shopkit.money import is_currency

CREATE_FIELDS = {**FIELDS, "context.currency": "currency", "context.country": "country"}


def _uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def create_cart(
    shop: Shop, who: Principal, *, request_id: str = "", currency: str = "", country: str = ""
) -> models.Cart:
    """A new guest cart priced in `currency` for `country` (the shop's defaults when empty). The same
    `request_id` (a UUID the client chose) returns the same cart: it names the cart until the answer
    arrives, so it must be as unguessable as the cart id itself."""
    if who.authenticated:
        raise FailedPrecondition(
            "a signed-in customer has a cart of their own (GET /v1/cart); guest carts are for callers without a token",
            reason="SIGNED_IN",
        )
    violations = Violations()
    violations.check(
        not request_id or _uuid(request_id), "idempotency_key", "must be a UUID (random: it names the cart)"
    )
    violations.check(not currency or is_currency(currency), "currency", "must be an ISO 4217 code")
    check_country(violations, country, "country", optional=True)
    violations.raise_if_any()
    context = common_pb2.CustomerContext(
        channel="web",
        country=country or shop.settings.default_country,
        currency=currency or shop.settings.default_currency,
    )
    request = cart_pb2.CreateCartRequest(context=context, request_id=request_id or str(uuid.uuid4()))
    with upstream("cart", CREATE_FIELDS):
        response = await shop.backends.cart.CreateCart(request)
    return mapping.cart(response.cart)


async def merge_cart(shop: Shop, who: Principal, *, cart_token: str) -> models.Cart:
    """The signed-in customer's cart after taking in the guest cart of `cart_token`; repeating it
    changes nothing more (a merged guest cart is merged once)."""
    require_shopper(who)
    request = cart_pb2.MergeCartsRequest(
        guest_cart_id=guest(cart_token).guest_cart_id, context=shop.customer_context(who)
    )
    with upstream("cart", {**FIELDS, "guest_cart_id": CART_TOKEN_HEADER}):
        response = await shop.backends.cart.MergeCarts(request, metadata=who.metadata())
    return mapping.cart(response.cart)
