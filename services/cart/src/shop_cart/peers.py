"""Calls to catalog, pricing and inventory, and the mapping of their answers and errors. Every call
carries the kit's deadline (what is left of the incoming call's, or the default) and the metadata of
role `service` (the customer travels in the request: a service never speaks for a user). A peer that
is down or too slow becomes our UNAVAILABLE with reason `<PEER>_UNAVAILABLE`; any other failure of a
peer is our INTERNAL with reason `<PEER>_FAILED` (a peer's INVALID_ARGUMENT is our bug, not the
caller's).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import grpc

from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shop_cart.domain import Cart, CouponState, LinePrice, Quote, VariantFacts, judge_variant
from shopkit.auth import metadata_for
from shopkit.errors import DomainError, Unavailable, parse_rpc_error

log = logging.getLogger("shop_cart.peers")

_TRANSIENT = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
)
_STATUS = {
    catalog_pb2.PRODUCT_STATUS_DRAFT: "draft",
    catalog_pb2.PRODUCT_STATUS_ACTIVE: "active",
    catalog_pb2.PRODUCT_STATUS_DISCONTINUED: "discontinued",
}
_CHANNEL = {
    catalog_pb2.CHANNEL_WEB: "web",
    catalog_pb2.CHANNEL_MOBILE: "mobile",
    catalog_pb2.CHANNEL_B2B: "b2b",
    catalog_pb2.CHANNEL_POS: "pos",
}


class PeerFailed(DomainError):
    """A peer answered with an error that is not the caller's fault."""

    code = grpc.StatusCode.INTERNAL
    default_reason = "PEER_FAILED"


def peer_error(peer: str, error: grpc.aio.AioRpcError) -> DomainError:
    info = parse_rpc_error(error)
    metadata = {"peer": peer, "peer_code": info.code.name, "peer_reason": info.reason}
    if info.code in _TRANSIENT:
        return Unavailable(f"{peer} is unavailable; try again", reason=f"{peer.upper()}_UNAVAILABLE", metadata=metadata)
    log.error("%s failed: %s %s", peer, info.code.name, info.message)
    return PeerFailed(f"{peer} failed", reason=f"{peer.upper()}_FAILED", metadata=metadata)


def _money(amount: common_pb2.Money) -> int:
    return int(amount.amount)


class Peers:
    def __init__(self, catalog: grpc.aio.Channel, pricing: grpc.aio.Channel, inventory: grpc.aio.Channel):
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(catalog)
        self.pricing = pricing_pb2_grpc.PricingServiceStub(pricing)
        self.inventory = inventory_pb2_grpc.InventoryServiceStub(inventory)

    async def variants(self, skus: Sequence[str], channel: str) -> dict[str, VariantFacts]:
        """Catalog facts of the SKUs the catalog knows (unknown SKUs are absent)."""
        if not skus:
            return {}
        try:
            response = await self.catalog.BatchGetVariants(
                catalog_pb2.BatchGetVariantsRequest(skus=list(skus)), metadata=metadata_for("service")
            )
        except grpc.aio.AioRpcError as error:
            raise peer_error("catalog", error) from error
        facts = {}
        for view in response.variants:
            variant = view.variant
            facts[variant.sku] = judge_variant(
                sku=variant.sku,
                product_id=view.product_id,
                name=_title(view),
                product_status=_STATUS.get(view.product_status, ""),
                channels=[_CHANNEL[c] for c in view.channels if c in _CHANNEL],
                channel=channel,
                track_inventory=variant.track_inventory if variant.HasField("track_inventory") else True,
                allow_preorder=variant.allow_preorder,
                weight_grams=variant.weight_grams if variant.HasField("weight_grams") else 0,
            )
        return facts

    async def availability(self, skus: Sequence[str]) -> dict[str, int]:
        """Total availability per SKU over every active location."""
        if not skus:
            return {}
        try:
            response = await self.inventory.GetAvailability(
                inventory_pb2.GetAvailabilityRequest(skus=list(skus)), metadata=metadata_for("service")
            )
        except grpc.aio.AioRpcError as error:
            raise peer_error("inventory", error) from error
        return {item.sku: int(item.total_available) for item in response.skus}

    async def availability_if_reachable(self, skus: Sequence[str]) -> dict[str, int] | None:
        """Availability, or None when inventory cannot answer: a cart change does not wait for stock
        figures (checkout's reservation is the real check); the lines keep what was last known."""
        try:
            return await self.availability(skus)
        except DomainError as error:
            log.warning("no availability for the cart change: %s", error.reason)
            return None

    async def quote(self, cart: Cart) -> Quote:
        """Pricing's quote of the cart's lines, context and coupon (an empty cart's coupon is checked
        on its own: pricing quotes no lines when there is a coupon code)."""
        coupon = cart.coupon.code if cart.coupon else ""
        if not cart.lines and not coupon:
            return Quote({}, 0, 0, 0)
        skus = [line.sku for line in cart.lines]
        context = cart.context
        request = pricing_pb2.QuoteRequest(
            lines=[pricing_pb2.QuoteLine(sku=line.sku, quantity=line.quantity) for line in cart.lines],
            context=common_pb2.CustomerContext(
                customer_id=context.customer_id,
                customer_group=context.customer_group,
                account_id=context.account_id,
                channel=context.channel,
                country=context.country,
                currency=context.currency,
            ),
            coupon_code=coupon,
        )
        try:
            response = await self.pricing.Quote(request, metadata=metadata_for("service"))
        except grpc.aio.AioRpcError as error:
            raise peer_error("pricing", error) from error
        outcome = None
        if response.HasField("coupon"):
            c = response.coupon
            outcome = CouponState(c.code, c.applied, c.reason, c.description, _money(c.discount))
        prices = {
            skus[q.index]: LinePrice(
                _money(q.unit_price), _money(q.original_price), _money(q.discount), _money(q.line_total)
            )
            for q in response.lines
            if 0 <= q.index < len(skus)
        }
        return Quote(
            prices, _money(response.subtotal), _money(response.discount_total), _money(response.total), outcome
        )


def _title(view: catalog_pb2.VariantView) -> str:
    """The product name, with the variant title when it says more (e.g. "Trail shoe - Red / 42")."""
    title = view.variant.title
    if not title or title == view.product_name:
        return view.product_name
    if title.startswith(view.product_name):
        return title  # it names the product already ("Trail shoe - 42")
    return f"{view.product_name} - {title}"
