"""The catalog's domain events: payload builders for `shopkit.outbox.add_events`.

Every event is staged in the transaction of its state change; callers wake the relay after commit.
The catalog consumes no events.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message

from shop.catalog.v1 import events_pb2
from shop_catalog import mapping
from shop_catalog.domain import Product

PRODUCT_CREATED = "shop.catalog.product_created"
PRODUCT_UPDATED = "shop.catalog.product_updated"
PRODUCT_DISCONTINUED = "shop.catalog.product_discontinued"


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
