"""GET /v1/cart/shipping-options: the caller's cart priced for a destination, with its shipping options,
the chosen option and the tax (what POST /v1/checkout then charges for the same cart and address)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shop_gateway.app import shipping as app
from shop_gateway.httpapi.deps import ERROR_RESPONSES, CartHolder, ShopDep

shipping = APIRouter(prefix="/v1/cart", tags=["cart"], responses=ERROR_RESPONSES)


@shipping.get("/shipping-options", summary="Shipping options and totals of the cart for a destination")
async def shipping_options(
    shop: ShopDep,
    who: CartHolder,
    country: Annotated[str, Query(description="ISO-3166-1 alpha-2 of the ship-to address (or the pickup store)")],
    region: Annotated[str, Query(description="e.g. CA: a US state decides the sales tax")] = "",
    postal_code: Annotated[str, Query(max_length=20)] = "",
    pickup: Annotated[bool, Query(description="collected at a store: no shipping, taxed where the store is")] = False,
    shipping_method: Annotated[str, Query(description="the option to total with; empty: the cheapest")] = "",
) -> app.ShippingEstimate:
    """Options cheapest first (none for a pickup); `totals` include the chosen option's shipping and the tax:
    US sales tax is added on the shipping address's state; EU VAT is included in the prices (`tax_included`:
    the tax is the part of the total that is tax). A B2B account whose token carries a tax id is exempt where
    the rule allows it. 400 on `shipping_method` when that method does not ship there; 412 CART_EMPTY
    without lines."""
    return await app.estimate(
        shop,
        who,
        country=country,
        region=region,
        postal_code=postal_code,
        pickup=pickup,
        shipping_method=shipping_method,
    )
