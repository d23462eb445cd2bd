"""Pricing for staff: price lists and their tiers, promotions and coupons, exchange rates, dynamic-pricing
rules and the audit log of base-price changes.

Each operation is one pricing RPC whose request the caller built (the HTTP routes from JSON, the gRPC
face as it came): the pricing service validates the resources and answers field violations, which the
gateway passes on in the client's terms (the resource's fields, without the request's wrapper). Writes
are safe to repeat by the resources' client-chosen ids. Role admin for all.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from shop_gateway.app.backoffice.common import changing, require_admin
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import check_page
from shop_gateway.principal import Principal
from shopkit.errors import Violations

# The request's wrapper is not the client's: "price_list.name" is "name" to a client that sent a price list.
FIELDS = {
    "price_list": "",
    "promotion": "",
    "coupon": "",
    "rate": "",
    "rule": "",
    "page.page_token": "page_token",
    "page.page_size": "page_size",
}
# The RPCs staff may call through the gateway; True: it changes what quotes and product pages show.
OPERATIONS = {
    "CreatePriceList": True,
    "UpdatePriceList": True,
    "SetPriceListEntries": True,
    "DeletePriceListEntries": True,
    "ListPriceLists": False,
    "GetPriceList": False,
    "CreatePromotion": True,
    "ListPromotions": False,
    "CreateCoupon": True,
    "GetCoupon": False,
    "SetRate": True,
    "ListRates": False,
    "PutDynamicRule": True,
    "DeleteDynamicRule": True,
    "ListDynamicRules": False,
    "ListPriceChanges": False,
}


async def call(shop: Shop, who: Principal, operation: str, request: Message) -> Any:
    """`operation` of the pricing service for a staff member, with the gateway's bound on page sizes."""
    require_admin(who)
    changes = OPERATIONS[operation]  # a KeyError is a bug of the adapter, not a client's mistake
    if request.DESCRIPTOR.fields_by_name.get("page") is not None:
        violations = Violations()
        page = getattr(request, "page")  # noqa: B009 - the field exists on list requests only
        page.page_size = check_page(violations, page.page_size)
        violations.raise_if_any()
    rpc = getattr(shop.backends.pricing, operation)
    if changes:
        with changing(shop, "pricing", FIELDS):
            return await rpc(request, metadata=who.metadata())
    with upstream("pricing", FIELDS):
        return await rpc(request, metadata=who.metadata())
