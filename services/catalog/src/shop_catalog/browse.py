"""ListProducts and SearchProducts: one use case for both, over search.py's listings.

A request is decoded and checked before any I/O (every bad field reported at once); then one
autocommit connection reads the page (ids in order, then the products) and, when asked, the facets.
Page tokens carry the last row's sort key values and a digest of the request's filters and order,
so a token is never reused with other filters.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shop.catalog.v1 import catalog_pb2
from shop_catalog import domain, facets, mapping, search, store
from shop_catalog.domain import ProductStatus
from shop_catalog.facets import FacetSpec
from shop_catalog.search import Listing, Sort
from shopkit import pagination
from shopkit.db import Database
from shopkit.errors import FieldViolation, InvalidArgument, Violations
from shopkit.money import is_currency

MAX_QUERY = 256
MAX_FACET_KEYS = 10
MAX_FACET_VALUES = 50
MAX_PRICE_BUCKETS = 20
SORTS: dict[int, Sort] = {
    catalog_pb2.PRODUCT_SORT_RELEVANCE: Sort.RELEVANCE,
    catalog_pb2.PRODUCT_SORT_NEWEST: Sort.NEWEST,
    catalog_pb2.PRODUCT_SORT_NAME: Sort.NAME,
    catalog_pb2.PRODUCT_SORT_PRICE_ASC: Sort.PRICE_ASC,
    catalog_pb2.PRODUCT_SORT_PRICE_DESC: Sort.PRICE_DESC,
    catalog_pb2.PRODUCT_SORT_SLUG: Sort.SLUG,
}
BAD_TOKEN = "is not a token this service issued"


def filter_key(*parts: Any) -> str:
    """A short digest of a request's filters, kept in page tokens so a token is not reused with others."""
    raw = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def cursor(token: str, key: str) -> dict[str, Any] | None:
    found = pagination.decode_token(token)
    if found is not None and found.get("f") != key:
        raise InvalidArgument([FieldViolation("page.page_token", "was issued for different filters")])
    return found


# --- decoding ------------------------------------------------------------------------------------


def _statuses(numbers: Any, violations: Violations) -> tuple[ProductStatus, ...]:
    found: list[ProductStatus] = []
    for index, number in enumerate(numbers):
        status = mapping.status_from_proto(number, f"statuses[{index}]", violations)
        if status is None and number == catalog_pb2.PRODUCT_STATUS_UNSPECIFIED:
            violations.add(f"statuses[{index}]", "must be a status, not unspecified")
        elif status is not None and status not in found:
            found.append(status)
    return tuple(found)


def _channel(number: int, violations: Violations) -> domain.Channel | None:
    if number == catalog_pb2.CHANNEL_UNSPECIFIED:
        return None
    return mapping.channel_from_proto(number, "channel", violations)


def _attributes(filters: Any, violations: Violations) -> tuple[tuple[str, str], ...]:
    found = []
    for index, item in enumerate(filters):
        violations.check(bool(item.key), f"attributes[{index}].key", "is required")
        violations.check(bool(item.value), f"attributes[{index}].value", "is required")
        found.append((item.key, item.value))
    return tuple(found)


def _sort(number: int, *, searching: bool, violations: Violations) -> Sort:
    if number == catalog_pb2.PRODUCT_SORT_UNSPECIFIED:
        return Sort.RELEVANCE if searching else Sort.SLUG
    found = SORTS.get(number)
    if found is None:
        violations.add("sort", f"unknown sort order {number}")
        return Sort.SLUG
    if found is Sort.RELEVANCE and not searching:
        violations.add("sort", "relevance orders search results only")
    return found


def _listing(request: Any, query: str | None, statuses: tuple[ProductStatus, ...], violations: Violations) -> Listing:
    """The listing a List/SearchProductsRequest asks for (category path resolved later)."""
    filters = request.filters
    currency = filters.currency or None
    if currency is not None:
        violations.check(is_currency(currency), "filters.currency", "must be an ISO 4217 code, e.g. EUR")
    low = filters.min_price if filters.HasField("min_price") else None
    high = filters.max_price if filters.HasField("max_price") else None
    for name, bound in (("filters.min_price", low), ("filters.max_price", high)):
        violations.check(bound is None or bound >= 0, name, "must not be negative")
    if low is not None and high is not None:
        violations.check(low <= high, "filters.max_price", "must not be below min_price")
    sort = _sort(request.sort, searching=query is not None, violations=violations)
    needs_currency = low is not None or high is not None or sort.by_price
    violations.check(
        currency is not None or not needs_currency, "filters.currency", "is required to filter or sort by price"
    )
    where = store.ProductFilter(
        None, statuses, _channel(request.channel, violations), _attributes(request.attributes, violations)
    )
    return Listing(where, query, currency, low, high, filters.in_stock_only, sort)


def _facet_spec(request: Any, violations: Violations) -> FacetSpec | None:
    if not request.HasField("facets"):
        return None
    asked = request.facets
    keys = tuple(dict.fromkeys(asked.attribute_keys))
    violations.check(len(keys) <= MAX_FACET_KEYS, "facets.attribute_keys", f"at most {MAX_FACET_KEYS} keys")
    for index, key in enumerate(keys):
        violations.check(0 < len(key) <= 64, f"facets.attribute_keys[{index}]", "must be 1-64 characters")
    values = asked.max_values or 10
    violations.check(0 < values <= MAX_FACET_VALUES, "facets.max_values", f"must be 0-{MAX_FACET_VALUES}")
    buckets = asked.price_buckets or 5
    violations.check(0 < buckets <= MAX_PRICE_BUCKETS, "facets.price_buckets", f"must be 0-{MAX_PRICE_BUCKETS}")
    return FacetSpec(keys, values, buckets)


# --- page tokens ---------------------------------------------------------------------------------


def _encode_key(values: list[Any]) -> list[Any]:
    return [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v for v in values]


def _decode_key(sort: Sort, values: Any) -> list[Any]:
    """The sort key values of a token, typed as the sort's columns; INVALID_ARGUMENT when malformed."""
    try:
        if sort is Sort.SLUG:
            (slug,) = values
            return [str(slug)]
        first, last_id = values
        product_id = uuid.UUID(str(last_id))
        match sort:
            case Sort.NAME:
                return [str(first), product_id]
            case Sort.NEWEST:
                return [datetime.fromisoformat(str(first)), product_id]
            case Sort.RELEVANCE:
                return [float(first), product_id]
            case _:
                if isinstance(first, bool) or not isinstance(first, int):
                    raise ValueError("a price key is an integer")
                return [first, product_id]
    except (TypeError, ValueError) as error:
        raise InvalidArgument([FieldViolation("page.page_token", BAD_TOKEN)]) from error


# --- the use case --------------------------------------------------------------------------------


async def _category_path(conn: AsyncConnection, category_id: uuid.UUID | None) -> str | None:
    if category_id is None:
        return None
    category = await store.category_by_id(conn, category_id)
    if category is None:
        raise InvalidArgument([FieldViolation("category_id", "unknown category")])
    return category.path


async def _run(
    db: Database, request: Any, listing: Listing, category_id: uuid.UUID | None, facet_spec: FacetSpec | None
) -> tuple[list[tuple[domain.Product, list[Any]]], str, facets.FacetCounts | None]:
    size = pagination.page_size(request.page.page_size)
    key = filter_key(category_id, listing)
    found = cursor(request.page.page_token, key)
    after = _decode_key(listing.sort, found.get("k")) if found else None
    counts = None
    async with db.connect() as conn:
        path = await _category_path(conn, category_id)
        listing = dataclasses.replace(listing, where=dataclasses.replace(listing.where, category_path=path))
        rows = await search.page(conn, listing, after=after, limit=size + 1)
        products = {p.id: p for p in await store.products_by_ids(conn, [pid for pid, _ in rows[:size]])}
        if facet_spec is not None:
            counts = await facets.facets(conn, listing, facet_spec)
    token = ""
    if len(rows) > size:
        token = pagination.encode_token({"f": key, "k": _encode_key(rows[size - 1][1])})
    return [(products[pid], keys) for pid, keys in rows[:size] if pid in products], token, counts


async def list_products(db: Database, request: catalog_pb2.ListProductsRequest) -> catalog_pb2.ListProductsResponse:
    violations = Violations()
    pagination.page_size(request.page.page_size)
    category_id = mapping.parse_uuid(request.category_id, "category_id", violations, required=False)
    listing = _listing(request, None, _statuses(request.statuses, violations), violations)
    facet_spec = _facet_spec(request, violations)
    violations.raise_if_any()
    rows, token, counts = await _run(db, request, listing, category_id, facet_spec)
    response = catalog_pb2.ListProductsResponse(products=[mapping.product_to_proto(p) for p, _ in rows])
    response.page.next_page_token = token
    if counts is not None:
        response.facets.CopyFrom(facets_to_proto(counts))
    return response


async def search_products(
    db: Database, request: catalog_pb2.SearchProductsRequest
) -> catalog_pb2.SearchProductsResponse:
    violations = Violations()
    pagination.page_size(request.page.page_size)
    query = request.query.strip()
    violations.check(bool(query), "query", "is required")
    violations.check(len(query) <= MAX_QUERY, "query", f"at most {MAX_QUERY} characters")
    category_id = mapping.parse_uuid(request.category_id, "category_id", violations, required=False)
    statuses = _statuses(request.statuses, violations) or (ProductStatus.ACTIVE,)
    listing = _listing(request, query, statuses, violations)
    facet_spec = _facet_spec(request, violations)
    violations.raise_if_any()
    rows, token, counts = await _run(db, request, listing, category_id, facet_spec)
    hits = []
    for product, keys in rows:
        rank = float(keys[0]) if listing.sort is Sort.RELEVANCE else 0.0
        hits.append(catalog_pb2.SearchHit(product=mapping.product_to_proto(product), rank=rank))
    response = catalog_pb2.SearchProductsResponse(hits=hits)
    response.page.next_page_token = token
    if counts is not None:
        response.facets.CopyFrom(facets_to_proto(counts))
    return response


def facets_to_proto(counts: facets.FacetCounts) -> catalog_pb2.Facets:
    message = catalog_pb2.Facets(
        total=counts.total,
        categories=[
            catalog_pb2.CategoryCount(
                category_id=str(c.category_id), slug=c.slug, path=c.path, depth=c.depth, count=c.count
            )
            for c in counts.categories
        ],
        attributes=[
            catalog_pb2.AttributeFacet(
                key=key, values=[catalog_pb2.AttributeValueCount(value=v, count=n) for v, n in values]
            )
            for key, values in counts.attributes.items()
        ],
        in_stock=counts.in_stock,
        out_of_stock=counts.out_of_stock,
    )
    if counts.price is not None:
        price = counts.price
        message.price.CopyFrom(
            catalog_pb2.PriceFacet(
                currency=price.currency,
                min_amount=price.min_amount,
                max_amount=price.max_amount,
                priced=price.priced,
                buckets=[catalog_pb2.PriceBucket(min_amount=lo, max_amount=hi, count=n) for lo, hi, n in price.buckets],
            )
        )
    return message
