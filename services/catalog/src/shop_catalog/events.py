"""The catalog's domain events (payload builders for `shopkit.outbox.add_events`) and the events it
consumes: pricing's base prices and inventory's stock levels, which keep the search projection.

Every event is staged in the transaction of its state change; callers wake the relay after commit.
Consumed events are applied once (the inbox, in the consumer's transaction); a batch keeps only the
newest price/level per key and refreshes each product it touches once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC

from google.protobuf.message import Message
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.catalog.v1 import events_pb2
from shop.inventory.v1 import events_pb2 as inventory_events
from shop.pricing.v1 import events_pb2 as pricing_events
from shop_catalog import mapping, projection
from shop_catalog.domain import Product

PRODUCT_CREATED = "shop.catalog.product_created"
PRODUCT_UPDATED = "shop.catalog.product_updated"
PRODUCT_DISCONTINUED = "shop.catalog.product_discontinued"

PRICE_CHANGED = "shop.pricing.price_changed"
STOCK_LEVEL_CHANGED = "shop.inventory.stock_level_changed"
# Durables "catalog-search-prices" on SHOP_PRICING and "catalog-search-stock" on SHOP_INVENTORY.
PRICES_CONSUMER = "search-prices"
STOCK_CONSUMER = "search-stock"

log = logging.getLogger("shop_catalog.events")


# (subject, message, aggregate id): one item of `shopkit.outbox.add_events`.
PendingEvent = tuple[str, Message, str]


def _variants(product: Product) -> list[events_pb2.VariantSummary]:
    return [
        events_pb2.VariantSummary(
            sku=v.sku, title=v.title, track_inventory=v.track_inventory, allow_preorder=v.allow_preorder
        )
        for v in product.spec.variants
    ]


def product_created(product: Product) -> PendingEvent:
    spec = product.spec
    message = events_pb2.ProductCreated(
        product_id=str(product.id),
        slug=spec.slug,
        name=spec.name,
        status=mapping.STATUS_TO_PROTO[spec.status],
        version=product.version,
        skus=spec.skus,
        variants=_variants(product),
        channels=[mapping.CHANNEL_TO_PROTO[c] for c in spec.channels],
        category_id=str(spec.category_id),
    )
    return PRODUCT_CREATED, message, str(product.id)


def product_updated(product: Product, *, changed: Sequence[str], removed_skus: Sequence[str]) -> PendingEvent:
    spec = product.spec
    message = events_pb2.ProductUpdated(
        product_id=str(product.id),
        slug=spec.slug,
        name=spec.name,
        status=mapping.STATUS_TO_PROTO[spec.status],
        version=product.version,
        skus=spec.skus,
        variants=_variants(product),
        removed_skus=removed_skus,
        changed_fields=changed,
        channels=[mapping.CHANNEL_TO_PROTO[c] for c in spec.channels],
        category_id=str(spec.category_id),
    )
    return PRODUCT_UPDATED, message, str(product.id)


def product_discontinued(product: Product) -> PendingEvent:
    message = events_pb2.ProductDiscontinued(
        product_id=str(product.id), slug=product.spec.slug, version=product.version, skus=product.spec.skus
    )
    return PRODUCT_DISCONTINUED, message, str(product.id)


async def handle_price_changed(conn: AsyncConnection, msg: Msg) -> None:
    await handle_price_changes(conn, [msg])


async def handle_price_changes(conn: AsyncConnection, msgs: Sequence[Msg]) -> None:
    """Record the new base prices of a batch and refresh the products that own their SKUs."""
    prices = []
    for msg in msgs:
        event = pricing_events.PriceChanged.FromString(msg.data)
        price = event.new_price
        if not event.sku or not price.currency:
            log.warning("price event without a SKU or a price ignored", extra={"subject": msg.subject})
            continue
        prices.append((event.sku, price.currency, price.amount, event.audit_id))
    await projection.set_prices(conn, prices)
    await projection.refresh_skus(conn, [sku for sku, *_ in prices])


async def handle_stock_level_changed(conn: AsyncConnection, msg: Msg) -> None:
    await handle_stock_levels(conn, [msg])


async def handle_stock_levels(conn: AsyncConnection, msgs: Sequence[Msg]) -> None:
    """Record the SKUs' total availability of a batch and refresh the products of the SKUs that went
    into or out of stock (the others' products are as they were)."""
    levels = []
    for msg in msgs:
        event = inventory_events.StockLevelChanged.FromString(msg.data)
        if not event.sku:
            log.warning("stock level event without a SKU ignored", extra={"subject": msg.subject})
            continue
        at = event.meta.occurred_at.ToDatetime(tzinfo=UTC)
        levels.append((event.sku, event.total_available, at, event.stock_version))
    await projection.refresh_skus(conn, await projection.set_stock(conn, levels))
