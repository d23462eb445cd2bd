"""Admin writes to catalog, pricing and inventory (role admin; the services check it again)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shop.catalog.v1 import catalog_pb2
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2
from shop.pricing.v1 import pricing_pb2
from shop_gateway.app import mapping, models
from shop_gateway.app.access import require_admin
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.principal import Principal
from shopkit.errors import NotFound, Violations

PRODUCT_FIELDS = {"product": "", "request_id": "request_id"}


@dataclass(frozen=True)
class VariantInput:
    sku: str
    title: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    allow_preorder: bool = False


@dataclass(frozen=True)
class ProductInput:
    name: str
    category: str  # id or slug
    variants: Sequence[VariantInput]
    slug: str = ""
    description: str = ""
    brand: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    channels: Sequence[str] = ("web", "mobile", "b2b")
    status: str = "active"  # draft or active
    request_id: str = ""
    return_window_days: int | None = None  # None: the catalog's default (30)
    returnable: bool | None = None  # None: the catalog's default (true)


@dataclass(frozen=True)
class PriceInput:
    sku: str
    price: models.Money


@dataclass(frozen=True)
class StockInput:
    sku: str
    location_id: str
    on_hand: int


async def create_category(shop: Shop, who: Principal, *, slug: str, name: str, parent_id: str = "") -> models.Category:
    require_admin(who)
    request = catalog_pb2.CreateCategoryRequest(
        category=catalog_pb2.Category(slug=slug, name=name, parent_id=parent_id)
    )
    try:
        with upstream("catalog", {"category": ""}):
            created = await shop.backends.catalog.CreateCategory(request, metadata=who.metadata())
    finally:
        shop.catalog_changed()  # also when the outcome is unknown (e.g. a deadline passed)
    shop.forget_categories()
    return mapping.category(created)


async def create_product(shop: Shop, who: Principal, product: ProductInput) -> models.Product:
    require_admin(who)
    violations = Violations()
    channels = []
    for index, name in enumerate(product.channels):
        value = mapping.enum_value(catalog_pb2.Channel.DESCRIPTOR, name, "CHANNEL_")
        if value is None:
            violations.add(f"channels[{index}]", "must be web, mobile, b2b or pos")
        else:
            channels.append(value)
    status = mapping.enum_value(catalog_pb2.ProductStatus.DESCRIPTOR, product.status, "PRODUCT_STATUS_")
    violations.check(status is not None, "status", "must be draft or active")
    window = product.return_window_days
    violations.check(
        window is None or 0 <= window <= models.MAX_RETURN_WINDOW_DAYS,
        "return_window_days",
        f"must be 0 to {models.MAX_RETURN_WINDOW_DAYS} days",
    )
    violations.raise_if_any()
    message = catalog_pb2.Product(
        slug=product.slug,
        name=product.name,
        description=product.description,
        brand=product.brand,
        attributes=product.attributes,
        channels=channels,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        variants=[
            catalog_pb2.Variant(sku=v.sku, title=v.title, attributes=v.attributes, allow_preorder=v.allow_preorder)
            for v in product.variants
        ],
    )
    # Left unset, the catalog applies its defaults (and keeps the product's digest as before).
    if window is not None:
        message.return_window_days = window
    if product.returnable is not None:
        message.returnable = product.returnable
    if _looks_like_id(product.category):
        message.category_id = product.category
    else:
        message.category_slug = product.category
    request = catalog_pb2.CreateProductRequest(product=message, request_id=product.request_id)
    with upstream(
        "catalog", {**PRODUCT_FIELDS, "product.category_slug": "category", "product.category_id": "category"}
    ):
        try:
            created = await shop.backends.catalog.CreateProduct(request, metadata=who.metadata())
        finally:
            shop.catalog_changed()
    return mapping.product(created)


async def discontinue_product(shop: Shop, who: Principal, product_id: str) -> models.Product:
    require_admin(who)
    if not product_id:
        raise NotFound("product", product_id)
    try:
        with upstream("catalog"):
            product = await shop.backends.catalog.DiscontinueProduct(
                catalog_pb2.DiscontinueProductRequest(id=product_id), metadata=who.metadata()
            )
    finally:
        shop.catalog_changed()
    return mapping.product(product)


async def set_prices(shop: Shop, who: Principal, prices: Sequence[PriceInput]) -> models.PricesSet:
    require_admin(who)
    request = pricing_pb2.SetBasePricesRequest(
        prices=[
            pricing_pb2.BasePrice(sku=p.sku, price=common_pb2.Money(amount=p.price.amount, currency=p.price.currency))
            for p in prices
        ]
    )
    try:
        with upstream("pricing"):
            response = await shop.backends.pricing.SetBasePrices(request, metadata=who.metadata())
    finally:
        shop.catalog_changed()
    return models.PricesSet(changed=response.changed)


async def set_stock(
    shop: Shop, who: Principal, entries: Sequence[StockInput], *, reason: str = ""
) -> models.StockLevels:
    require_admin(who)
    request = inventory_pb2.SetStockRequest(
        entries=[inventory_pb2.SetStockEntry(sku=e.sku, location_id=e.location_id, on_hand=e.on_hand) for e in entries],
        reason=reason,
    )
    try:
        with upstream("inventory", {"entries": "stock"}):
            response = await shop.backends.inventory.SetStock(request, metadata=who.metadata())
    finally:
        shop.catalog_changed()
    return models.StockLevels(stock=[mapping.stock_level(s) for s in response.stock])


async def stock_levels(shop: Shop, who: Principal, skus: Sequence[str]) -> models.StockLevels:
    """On-hand and reserved stock of the SKUs at every location that has a row for them."""
    require_admin(who)
    request = inventory_pb2.GetStockLevelsRequest(skus=list(skus))
    with upstream("inventory", {"skus": "sku"}):
        response = await shop.backends.inventory.GetStockLevels(request, metadata=who.metadata())
    return models.StockLevels(stock=[mapping.stock_level(s) for s in response.stock])


def _looks_like_id(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4
