"""Guests over HTTP: POST /v1/guest-carts starts a cart without an account; its cart_id, sent back
as X-Cart-Token, opens the cart and checkout routes to the guest; POST /v1/cart/merge takes a guest
cart into the signed-in customer's cart (see app/guest.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from pydantic import Field

from shop_gateway.app import guest, models
from shop_gateway.httpapi.deps import ERROR_RESPONSES, Caller, ShopDep, SignedIn, cart_response
from shop_gateway.httpapi.schemas import Body
from shop_gateway.principal import CART_TOKEN_HEADER

guests = APIRouter(prefix="/v1", tags=["cart"], responses=ERROR_RESPONSES)


class GuestCartBody(Body):
    currency: str = Field("", description="ISO-4217 code of the cart's prices; default DEFAULT_CURRENCY")
    country: str = Field("", description="ISO-3166-1 alpha-2 of the shopper; default DEFAULT_COUNTRY")


@guests.post("/guest-carts", status_code=201, summary="Start a cart without an account")
async def create_guest_cart(
    shop: ShopDep,
    who: Caller,
    response: Response,
    body: GuestCartBody | None = None,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="a random UUID: a retry returns the same cart")
    ] = None,
) -> models.Cart:
    """For callers without a token (409 SIGNED_IN with one). The answer's `cart_id` is the guest's
    credential: send it as X-Cart-Token to the /v1/cart routes, to POST /v1/checkout (with an
    `email`) and to GET /v1/checkout/{id}; keep it secret like a password. After signing in, POST
    /v1/cart/merge takes the guest cart into the customer's cart."""
    body = body or GuestCartBody()
    result = await guest.create_cart(
        shop, who, request_id=idempotency_key or "", currency=body.currency, country=body.country
    )
    response.headers[CART_TOKEN_HEADER] = result.cart_id
    return cart_response(response, result)


@guests.post("/cart/merge", summary="Take a guest cart into the signed-in customer's cart")
async def merge_guest_cart(
    shop: ShopDep,
    who: SignedIn,
    response: Response,
    cart_token: Annotated[str, Header(alias=CART_TOKEN_HEADER, description="the guest cart's cart_id")],
) -> models.Cart:
    """At sign-in: quantities of one SKU add up (within the line limits), the guest's coupon is kept
    when the customer's cart has none, and the guest cart becomes `merged` (read-only). Without a
    cart of their own the customer adopts the guest cart. Repeating it changes nothing more."""
    return cart_response(response, await guest.merge_cart(shop, who, cart_token=cart_token))
