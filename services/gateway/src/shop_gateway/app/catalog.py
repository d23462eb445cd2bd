"""Browsing: products with the caller's prices and availability, categories, pickup stores."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from shop.catalog.v1 import catalog_pb2
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2
from shop.pricing.v1 import pricing_pb2
from shop_gateway.app import mapping, models
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import SERVICE_IDENTITY, Shop
from shop_gateway.app.validation import MAX_INT64, check_page
from shop_gateway.principal import Principal
from shopkit.errors import NotFound, Violations
from shopkit.identifiers import check_country

log = logging.getLogger("shop_gateway.catalog")

MAX_QUERY = 256
PRICE_BATCH = 500  # pricing's GetPrices limit
AVAILABILITY_BATCH = 200  # inventory's GetAvailability limit
CHANNELS = {"web": catalog_pb2.CHANNEL_WEB, "mobile": catalog_pb2.CHANNEL_MOBILE, "b2b": catalog_pb2.CHANNEL_B2B}
ALL_STATUSES = (
    catalog_pb2.PRODUCT_STATUS_DRAFT,
    catalog_pb2.PRODUCT_STATUS_ACTIVE,
    catalog_pb2.PRODUCT_STATUS_DISCONTINUED,
)
# The catalog's request fields as the HTTP parameters that fill them.
PAGE_FIELDS = {
    "page.page_token": "page_token",
    "page.page_size": "page_size",
    "category_id": "category",
    "filters.min_price": "min_price",
    "filters.max_price": "max_price",
    "sort": "sort",
}
SORTS = {
    "": catalog_pb2.PRODUCT_SORT_UNSPECIFIED,
    "relevance": catalog_pb2.PRODUCT_SORT_RELEVANCE,
    "newest": catalog_pb2.PRODUCT_SORT_NEWEST,
    "name": catalog_pb2.PRODUCT_SORT_NAME,
    "price_asc": catalog_pb2.PRODUCT_SORT_PRICE_ASC,
    "price_desc": catalog_pb2.PRODUCT_SORT_PRICE_DESC,
    "slug": catalog_pb2.PRODUCT_SORT_SLUG,
}
# Facets every facet answer has; any other name asks for the counts of that attribute's values.
BUILT_IN_FACETS = frozenset({"category", "price", "availability"})
MAX_FACET_KEYS = 10
FACET_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def _category_id(shop: Shop, category: str, violations: Violations) -> str:
    """A category id from an id or a slug."""
    if not category or _is_uuid(category):
        return category
    for item in await shop.categories():
        if item.slug == category:
            return item.id
    violations.add("category", "is neither a category id nor the slug of a category")
    return ""


@dataclass(frozen=True)
class Browse:
    """What a product listing asks for beyond the page: order, price range, stock, facets."""

    sort: str = ""
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool = False
    facets: tuple[str, ...] = ()


def _check_browse(browse: Browse, searching: bool, violations: Violations) -> None:
    violations.check(browse.sort in SORTS, "sort", f"must be one of {', '.join(sorted(s for s in SORTS if s))}")
    violations.check(searching or browse.sort != "relevance", "sort", "relevance orders search results only")
    for name in ("min_price", "max_price"):
        bound = getattr(browse, name)
        violations.check(bound is None or 0 <= bound <= MAX_INT64, name, f"must be between 0 and {MAX_INT64}")
    if browse.min_price is not None and browse.max_price is not None:
        violations.check(browse.min_price <= browse.max_price, "max_price", "must not be below min_price")
    keys = [name for name in browse.facets if name not in BUILT_IN_FACETS]
    violations.check(len(keys) <= MAX_FACET_KEYS, "facets", f"at most {MAX_FACET_KEYS} attribute keys")
    for name in browse.facets:
        violations.check(bool(FACET_NAME.fullmatch(name)), "facets", f"{name!r} is not a facet name (lower_snake_case)")


def _catalog_browse(shop: Shop, who: Principal, browse: Browse) -> dict[str, Any]:
    """The catalog request fields of a listing: prices are base prices in the caller's currency."""
    priced = browse.sort.startswith("price") or browse.min_price is not None or browse.max_price is not None
    priced = priced or "price" in browse.facets
    filters = catalog_pb2.ProductFilters(
        currency=shop.currency(who) if priced else "",
        min_price=browse.min_price,
        max_price=browse.max_price,
        in_stock_only=browse.in_stock,
    )
    fields: dict[str, Any] = {"filters": filters, "sort": SORTS[browse.sort]}
    if browse.facets:
        keys = [name for name in dict.fromkeys(browse.facets) if name not in BUILT_IN_FACETS]
        fields["facets"] = catalog_pb2.FacetsRequest(attribute_keys=keys)
    return fields


async def list_products(
    shop: Shop,
    who: Principal,
    *,
    query: str = "",
    category: str = "",
    page_size: int = 0,
    page_token: str = "",
    browse: Browse = Browse(),
) -> models.ProductPage:
    violations = Violations()
    size = check_page(violations, page_size)
    violations.check(len(query) <= MAX_QUERY, "query", f"must be at most {MAX_QUERY} characters")
    _check_browse(browse, bool(query.strip()), violations)
    category_id = await _category_id(shop, category, violations) if len(query) <= MAX_QUERY else ""
    violations.raise_if_any()
    admin = who.role == "admin"
    # Shoppers see active products of their channel; admins see everything.
    statuses = ALL_STATUSES if admin else (catalog_pb2.PRODUCT_STATUS_ACTIVE,)
    channel = catalog_pb2.CHANNEL_UNSPECIFIED if admin else CHANNELS.get(who.channel, catalog_pb2.CHANNEL_WEB)
    page = common_pb2.PageRequest(page_size=size, page_token=page_token)
    common: dict[str, Any] = {"page": page, "category_id": category_id, "statuses": statuses, "channel": channel}
    common.update(_catalog_browse(shop, who, browse))
    products: Sequence[catalog_pb2.Product]
    with upstream("catalog", PAGE_FIELDS):
        if query.strip():
            search = await shop.backends.catalog.SearchProducts(
                catalog_pb2.SearchProductsRequest(query=query, **common), metadata=who.metadata()
            )
            products, token = [hit.product for hit in search.hits], search.page.next_page_token
            found = search.facets if search.HasField("facets") else None
        else:
            listed = await shop.backends.catalog.ListProducts(
                catalog_pb2.ListProductsRequest(**common), metadata=who.metadata()
            )
            products, token = listed.products, listed.page.next_page_token
            found = listed.facets if listed.HasField("facets") else None
    results = [mapping.product(p) for p in products]
    await _attach_prices(shop, who, results)
    facets = _facets(found) if found is not None else None
    return models.ProductPage(products=results, next_page_token=token, facets=facets)


def _facets(found: catalog_pb2.Facets) -> models.ProductFacets:
    price = None
    if found.HasField("price"):
        p = found.price
        buckets = [models.PriceBucket(b.min_amount, b.max_amount, b.count) for b in p.buckets]
        price = models.PriceFacet(p.currency, p.min_amount, p.max_amount, p.priced, buckets)
    return models.ProductFacets(
        total=found.total,
        categories=[models.CategoryFacet(c.category_id, c.slug, c.path, c.count) for c in found.categories],
        attributes=[
            models.AttributeFacet(a.key, [models.FacetValue(v.value, v.count) for v in a.values])
            for a in found.attributes
        ],
        price=price,
        in_stock=found.in_stock,
        out_of_stock=found.out_of_stock,
    )


def shown_to(who: Principal, product: catalog_pb2.Product) -> bool:
    """Whether the caller may see the product: admins see every product, shoppers the active products
    of their channel (as in the listings)."""
    if who.role == "admin":
        return True
    channel = CHANNELS.get(who.channel, catalog_pb2.CHANNEL_WEB)
    return product.status == catalog_pb2.PRODUCT_STATUS_ACTIVE and channel in product.channels


async def get_product(shop: Shop, who: Principal, key: str) -> models.Product:
    """One product by id or slug. A product the caller may not see is NOT_FOUND, the same answer as a
    product that does not exist. The catalog checks it too, from the forwarded role; checking here
    keeps the public answer right whatever a backend returns."""
    request = catalog_pb2.GetProductRequest(id=key) if _is_uuid(key) else catalog_pb2.GetProductRequest(slug=key)
    if not key:
        raise NotFound("product", key)
    with upstream("catalog", {"id": "id", "slug": "id"}):
        found = await shop.backends.catalog.GetProduct(request, metadata=who.metadata())
    if not shown_to(who, found):
        raise NotFound("product", key)
    product = mapping.product(found)
    await asyncio.gather(_attach_prices(shop, who, [product]), _attach_availability(shop, who, product))
    return product


async def _attach_prices(shop: Shop, who: Principal, products: list[models.Product]) -> None:
    """Unit prices for the caller's context. Pricing being down degrades the page, not fails it."""
    variants = {v.sku: v for p in products for v in p.variants}
    skus = list(variants)
    context = shop.customer_context(who)
    for start in range(0, len(skus), PRICE_BATCH):
        request = pricing_pb2.GetPricesRequest(
            items=[pricing_pb2.PriceQuery(sku=sku, quantity=1) for sku in skus[start : start + PRICE_BATCH]],
            context=context,
        )
        try:
            response = await shop.backends.pricing.GetPrices(request, metadata=who.metadata())
        except grpc.aio.AioRpcError as error:
            log.warning("prices unavailable", extra={"grpc_code": error.code().name})
            return
        for price in response.prices:
            variant = variants.get(price.sku)
            if variant is not None:
                variant.price = mapping.money(price.unit_price)
                variant.original_price = mapping.money(price.original_price)


async def _attach_availability(shop: Shop, who: Principal, product: models.Product) -> None:
    variants = {v.sku: v for v in product.variants}
    skus = list(variants)
    for start in range(0, len(skus), AVAILABILITY_BATCH):
        request = inventory_pb2.GetAvailabilityRequest(skus=skus[start : start + AVAILABILITY_BATCH])
        try:
            response = await shop.backends.inventory.GetAvailability(request, metadata=who.metadata())
        except grpc.aio.AioRpcError as error:
            log.warning("availability unavailable", extra={"grpc_code": error.code().name})
            return
        for item in response.skus:
            variant = variants.get(item.sku)
            if variant is not None:
                variant.availability = mapping.availability(item)


async def list_categories(shop: Shop, who: Principal) -> models.CategoryList:
    return models.CategoryList(categories=list(await shop.categories()))


async def list_stores(shop: Shop, who: Principal, *, country: str = "") -> models.StoreList:
    """Active click-and-collect stores. Inventory's location reads are internal, so the gateway
    reads them as `service` and hands out only the public fields."""
    violations = Violations()
    check_country(violations, country, "country", optional=True)
    violations.raise_if_any()
    stores: list[models.Store] = []
    token = ""
    while True:
        request = inventory_pb2.ListLocationsRequest(
            type=inventory_pb2.LOCATION_TYPE_STORE,
            country=country,
            click_and_collect_only=True,
            page=common_pb2.PageRequest(page_size=500, page_token=token),
        )
        with upstream("inventory"):
            response = await shop.backends.inventory.ListLocations(request, metadata=SERVICE_IDENTITY)
        stores.extend(mapping.store(location) for location in response.locations)
        token = response.page.next_page_token
        if not token:
            return models.StoreList(stores=stores)
