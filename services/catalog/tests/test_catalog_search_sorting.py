"""Every sort order pages through a known catalog without duplicates or gaps: keyset pages on the
sort key and the product id, with page sizes, stock filters and search drawn by hypothesis."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shop.catalog.v1 import catalog_pb2
from shop.common.v1 import common_pb2
from shopkit import events as kit_events
from shopkit.testing import eventually

NAMES = ("anchor", "beacon", "compass", "compass", "dinghy", "ensign", "ensign", "ensign")
SORTS = {
    "slug": catalog_pb2.PRODUCT_SORT_SLUG,
    "newest": catalog_pb2.PRODUCT_SORT_NEWEST,
    "name": catalog_pb2.PRODUCT_SORT_NAME,
    "price_asc": catalog_pb2.PRODUCT_SORT_PRICE_ASC,
    "price_desc": catalog_pb2.PRODUCT_SORT_PRICE_DESC,
}
LAST = 2**63


@dataclass(frozen=True)
class Item:
    id: uuid.UUID
    slug: str
    name: str
    created_at: datetime
    price: int | None
    in_stock: bool


@dataclass(frozen=True)
class Shelf:
    category_id: str
    items: list[Item]


@pytest.fixture(scope="module")
async def shelf(catalog: Any, nats_url: str) -> Shelf:
    rng = random.Random(10)
    category = await catalog.category(catalog.unique("boats"))
    nc = await kit_events.connect(nats_url, "catalog-sort-test")
    js = nc.jetstream()
    items = []
    try:
        for index in range(23):
            sku = catalog.unique(f"S{index}").upper()
            name = rng.choice(NAMES)
            created = await catalog.create(
                catalog.product(catalog.unique(name), category.id, [sku], name=name, description="sailing gear")
            )
            price = rng.choice([None, 500, 900, 900, 1500, 2500])  # ties: the id breaks them
            in_stock = rng.random() < 0.6
            if price is not None:
                await catalog.publish_price(js, sku, price)
            await catalog.publish_stock(js, sku, 3 if in_stock else 0)
            when = created.created_at.ToDatetime()
            items.append(Item(uuid.UUID(created.id), created.slug, name, when, price, in_stock))
    finally:
        await nc.close()

    async def projected() -> bool:
        async def count(filters: catalog_pb2.ProductFilters) -> int:
            request = catalog_pb2.ListProductsRequest(category_id=category.id, filters=filters)
            return len((await catalog.stub.ListProducts(request)).products)

        priced = await count(catalog_pb2.ProductFilters(currency="EUR", min_price=0))
        stocked = await count(catalog_pb2.ProductFilters(in_stock_only=True))
        return (priced, stocked) == (sum(i.price is not None for i in items), sum(i.in_stock for i in items))

    await eventually(projected, within=catalog.WITHIN)
    return Shelf(category.id, items)


def expected(items: list[Item], sort: str) -> list[str]:
    keys = {
        "slug": (lambda i: (i.slug,), False),
        "newest": (lambda i: (i.created_at, i.id), True),
        "name": (lambda i: (i.name, i.id), False),
        "price_asc": (lambda i: (LAST if i.price is None else i.price, i.id), False),
        "price_desc": (lambda i: (-1 if i.price is None else i.price, i.id), True),
    }
    key, reverse = keys[sort]
    return [i.slug for i in sorted(items, key=key, reverse=reverse)]  # type: ignore[operator]


async def walk(catalog: Any, request: Any, search: bool) -> list[Any]:
    found, token, pages = [], "", 0
    while True:
        request.page.page_token = token
        if search:
            response = await catalog.stub.SearchProducts(request)
            found.extend(response.hits)
        else:
            response = await catalog.stub.ListProducts(request)
            found.extend(response.products)
        token = response.page.next_page_token
        pages += 1
        assert pages < 100, "the pages do not end"
        if not token:
            return found


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sort=st.sampled_from(sorted(SORTS)), size=st.integers(1, 8), in_stock=st.booleans(), search=st.booleans())
async def test_every_order_pages_without_duplicates_or_gaps(
    catalog: Any, shelf: Shelf, sort: str, size: int, in_stock: bool, search: bool
) -> None:
    filters = catalog_pb2.ProductFilters(currency="EUR", in_stock_only=in_stock)
    page = common_pb2.PageRequest(page_size=size)
    wanted = [i for i in shelf.items if i.in_stock or not in_stock]
    if search:
        request: Any = catalog_pb2.SearchProductsRequest(
            query="sailing", category_id=shelf.category_id, filters=filters, sort=SORTS[sort], page=page
        )
        got = [hit.product.slug for hit in await walk(catalog, request, search=True)]
    else:
        request = catalog_pb2.ListProductsRequest(
            category_id=shelf.category_id, filters=filters, sort=SORTS[sort], page=page
        )
        got = [p.slug for p in await walk(catalog, request, search=False)]
    assert got == expected(wanted, sort)


@given(size=st.integers(1, 8))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_relevance_pages_best_first(catalog: Any, shelf: Shelf, size: int) -> None:
    request = catalog_pb2.SearchProductsRequest(
        query="ensign or compass", category_id=shelf.category_id, page=common_pb2.PageRequest(page_size=size)
    )
    hits = await walk(catalog, request, search=True)
    slugs = [hit.product.slug for hit in hits]
    assert sorted(slugs) == sorted(i.slug for i in shelf.items if i.name in ("ensign", "compass"))
    assert len(slugs) == len(set(slugs))
    keys = [(hit.rank, uuid.UUID(hit.product.id)) for hit in hits]
    assert keys == sorted(keys, reverse=True)


async def test_a_token_is_bound_to_its_order(catalog: Any, shelf: Shelf) -> None:
    first = await catalog.stub.ListProducts(
        catalog_pb2.ListProductsRequest(
            category_id=shelf.category_id, sort=catalog_pb2.PRODUCT_SORT_NAME, page=common_pb2.PageRequest(page_size=2)
        )
    )
    other = catalog_pb2.ListProductsRequest(
        category_id=shelf.category_id,
        sort=catalog_pb2.PRODUCT_SORT_NEWEST,
        page=common_pb2.PageRequest(page_size=2, page_token=first.page.next_page_token),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await catalog.stub.ListProducts(other)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
