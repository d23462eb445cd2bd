"""The API edge: protobuf messages <-> domain types. Only enum, id and shape problems are found here;
the domain checks the content."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from shop.catalog.v1 import catalog_pb2
from shop_catalog import domain
from shop_catalog.domain import Category, Channel, Dimensions, Product, ProductSpec, ProductStatus, Variant
from shopkit.errors import Violations

STATUS_TO_PROTO = {
    ProductStatus.DRAFT: catalog_pb2.PRODUCT_STATUS_DRAFT,
    ProductStatus.ACTIVE: catalog_pb2.PRODUCT_STATUS_ACTIVE,
    ProductStatus.DISCONTINUED: catalog_pb2.PRODUCT_STATUS_DISCONTINUED,
}
STATUS_FROM_PROTO = {number: status for status, number in STATUS_TO_PROTO.items()}
CHANNEL_TO_PROTO = {
    Channel.WEB: catalog_pb2.CHANNEL_WEB,
    Channel.MOBILE: catalog_pb2.CHANNEL_MOBILE,
    Channel.B2B: catalog_pb2.CHANNEL_B2B,
    Channel.POS: catalog_pb2.CHANNEL_POS,
}
CHANNEL_FROM_PROTO = {number: channel for channel, number in CHANNEL_TO_PROTO.items()}


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def parse_uuid(text: str, field_path: str, violations: Violations, *, required: bool = True) -> uuid.UUID | None:
    if not text:
        if required:
            violations.add(field_path, "is required")
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        violations.add(field_path, "must be a UUID")
        return None


def status_from_proto(number: int, field_path: str, violations: Violations) -> ProductStatus | None:
    """None for UNSPECIFIED (the caller picks the default); unknown numbers are violations."""
    if number == catalog_pb2.PRODUCT_STATUS_UNSPECIFIED:
        return None
    status: ProductStatus | None = STATUS_FROM_PROTO.get(number)  # type: ignore[call-overload]
    if status is None:
        violations.add(field_path, "unknown status")
    return status


def channel_from_proto(number: int, field_path: str, violations: Violations) -> Channel | None:
    channel: Channel | None = CHANNEL_FROM_PROTO.get(number)  # type: ignore[call-overload]
    if channel is None:
        violations.add(field_path, "must be one of web, mobile, b2b, pos")
    return channel


def variant_from_proto(message: catalog_pb2.Variant) -> Variant:
    dims = message.dimensions if message.HasField("dimensions") else None
    return Variant(
        sku=message.sku,
        title=message.title,
        attributes=dict(message.attributes),
        weight_grams=message.weight_grams if message.HasField("weight_grams") else None,
        dimensions=Dimensions(dims.length_mm, dims.width_mm, dims.height_mm) if dims is not None else None,
        track_inventory=message.track_inventory if message.HasField("track_inventory") else True,
        allow_preorder=message.allow_preorder,
    )


def spec_from_proto(message: catalog_pb2.Product, prefix: str, violations: Violations) -> ProductSpec:
    """The content of a Product message; output-only fields are ignored. An unspecified status is draft."""
    channels = []
    for index, number in enumerate(message.channels):
        channel = channel_from_proto(number, f"{join(prefix, 'channels')}[{index}]", violations)
        if channel is not None:
            channels.append(channel)
    status = status_from_proto(message.status, join(prefix, "status"), violations)
    return ProductSpec(
        slug=message.slug,
        name=message.name,
        description=message.description,
        brand=message.brand,
        category_id=parse_uuid(message.category_id, join(prefix, "category_id"), violations, required=False),
        category_slug=message.category_slug,
        attributes=dict(message.attributes),
        channels=tuple(channels),
        status=status or ProductStatus.DRAFT,
        variants=tuple(variant_from_proto(v) for v in message.variants),
        return_window_days=(
            message.return_window_days if message.HasField("return_window_days") else domain.DEFAULT_RETURN_WINDOW_DAYS
        ),
        returnable=message.returnable if message.HasField("returnable") else True,
    )


# Messages are filled in place (`add()`, sub-message fields) rather than built and copied: GetProduct is
# the hottest call and each copy costs a little.

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def set_timestamp(stamp: Timestamp, moment: datetime) -> None:
    """`stamp.FromDatetime(moment)` (naive means UTC) in integer arithmetic, at a third of its cost."""
    delta = moment - (_EPOCH if moment.tzinfo is not None else _NAIVE_EPOCH)
    stamp.seconds = delta.days * 86_400 + delta.seconds
    stamp.nanos = delta.microseconds * 1000


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    set_timestamp(stamp, moment)
    return stamp


def _fill_variant(message: catalog_pb2.Variant, variant: Variant) -> None:
    message.sku = variant.sku
    message.title = variant.title
    message.attributes.update(variant.attributes)
    if variant.weight_grams is not None:
        message.weight_grams = variant.weight_grams
    message.track_inventory = variant.track_inventory
    message.allow_preorder = variant.allow_preorder
    dims = variant.dimensions
    if dims is not None:
        message.dimensions.length_mm = dims.length_mm
        message.dimensions.width_mm = dims.width_mm
        message.dimensions.height_mm = dims.height_mm


def variant_to_proto(variant: Variant) -> catalog_pb2.Variant:
    message = catalog_pb2.Variant()
    _fill_variant(message, variant)
    return message


def product_to_proto(product: Product) -> catalog_pb2.Product:
    spec = product.spec
    message = catalog_pb2.Product(
        id=str(product.id),
        slug=spec.slug,
        name=spec.name,
        description=spec.description,
        brand=spec.brand,
        category_id=str(spec.category_id),
        category_slug=spec.category_slug,
        category_path=product.category_path,
        attributes=spec.attributes,
        channels=[CHANNEL_TO_PROTO[c] for c in spec.channels],
        status=STATUS_TO_PROTO[spec.status],
        version=product.version,
        return_window_days=spec.return_window_days,
        returnable=spec.returnable,
    )
    for variant in spec.variants:
        _fill_variant(message.variants.add(), variant)
    set_timestamp(message.created_at, product.created_at)
    set_timestamp(message.updated_at, product.updated_at)
    if product.discontinued_at is not None:
        set_timestamp(message.discontinued_at, product.discontinued_at)
    return message


def category_to_proto(category: Category) -> catalog_pb2.Category:
    return catalog_pb2.Category(
        id=str(category.id),
        parent_id=str(category.parent_id) if category.parent_id else "",
        slug=category.slug,
        name=category.name,
        path=category.path,
        depth=category.depth,
        created_at=timestamp(category.created_at),
    )
