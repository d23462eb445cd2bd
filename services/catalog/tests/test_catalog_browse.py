"""Browsing over a real gRPC channel: the category tree, filtered and paginated product lists, and
ranked full-text search."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from shop.catalog.v1 import catalog_pb2
from shop.common.v1 import common_pb2
from shopkit.errors import parse_rpc_error

WEB, MOBILE, B2B, POS = (
    catalog_pb2.CHANNEL_WEB,
    catalog_pb2.CHANNEL_MOBILE,
    catalog_pb2.CHANNEL_B2B,
    catalog_pb2.CHANNEL_POS,
)
ACTIVE, DRAFT = catalog_pb2.PRODUCT_STATUS_ACTIVE, catalog_pb2.PRODUCT_STATUS_DRAFT


async def walk(fetch: Callable[[str], Awaitable[tuple[list[Any], str]]]) -> tuple[list[Any], int]:
    """Every item of every page, and the number of pages."""
    items, token, pages = [], "", 0
    while True:
        page, token = await fetch(token)
        items.extend(page)
        pages += 1
        if not token:
            return items, pages


async def test_category_tree(catalog: Any) -> None:
    stub = catalog.stub
    root = await catalog.category(catalog.unique("outdoor"), name="Outdoor")
    child = await catalog.category(catalog.unique("tents"), root.id)
    grandchild = await catalog.category(catalog.unique("ultralight"), child.id)
    sibling = await catalog.category(catalog.unique("stoves"), root.id)
    assert (root.depth, root.path, root.parent_id) == (0, root.slug, "")
    assert grandchild.path == f"{root.slug}/{child.slug}/{grandchild.slug}" and grandchild.depth == 2
    assert await catalog.category(child.slug, root.id) == child  # an identical create is safe to repeat

    children = await stub.ListCategories(catalog_pb2.ListCategoriesRequest(parent_id=root.id))
    assert [c.id for c in children.categories] == sorted(
        [child.id, sibling.id], key=lambda i: {child.id: child.path, sibling.id: sibling.path}[i]
    )

    async def page(token: str) -> tuple[list[Any], str]:
        response = await stub.ListCategories(
            catalog_pb2.ListCategoriesRequest(page=common_pb2.PageRequest(page_size=2, page_token=token))
        )
        return list(response.categories), response.page.next_page_token

    everything, _ = await walk(page)
    paths = [c.path for c in everything]
    assert paths == sorted(paths) and len(paths) == len(set(paths))
    assert {root.path, child.path, grandchild.path, sibling.path} <= set(paths)

    errors = [
        (catalog_pb2.Category(slug=child.slug, name="Other name", parent_id=root.id), grpc.StatusCode.ALREADY_EXISTS),
        (catalog_pb2.Category(slug="Bad Slug", name=""), grpc.StatusCode.INVALID_ARGUMENT),
        (catalog_pb2.Category(slug=catalog.unique("x"), name="X", parent_id="nope"), grpc.StatusCode.INVALID_ARGUMENT),
        (
            catalog_pb2.Category(slug=catalog.unique("x"), name="X", parent_id="00000000-0000-0000-0000-000000000000"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]
    for category, code in errors:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateCategory(catalog_pb2.CreateCategoryRequest(category=category), metadata=catalog.ADMIN)
        assert caught.value.code() == code
    bad = parse_rpc_error(caught.value)
    assert [v.field for v in bad.violations] == ["category.parent_id"]


@pytest.fixture(scope="module")
async def assortment(catalog: Any) -> dict[str, Any]:
    """A small tree with 14 products of varied status, channels and attributes."""
    root = await catalog.category(catalog.unique("furniture"))
    chairs = await catalog.category(catalog.unique("chairs"), root.id)
    tables = await catalog.category(catalog.unique("tables"), root.id)
    made: dict[str, catalog_pb2.Product] = {}
    plan = [(chairs, i) for i in range(7)] + [(tables, i) for i in range(5)] + [(root, i) for i in range(2)]
    for category, i in plan:
        product = catalog.product(
            catalog.unique(f"{category.slug}-{i}"),
            category.id,
            [catalog.unique("F") + "-A", catalog.unique("F") + "-B"],
            attributes={"material": "oak" if i % 2 else "steel"},
            variant_attributes=[{"color": "red" if i % 3 == 0 else "blue"}, {"color": "green"}],
            channels=[WEB, POS] if i % 2 else [B2B],
            status=DRAFT if i == 4 else ACTIVE,
        )
        made[product.slug] = await catalog.create(product)
    return {"root": root, "chairs": chairs, "tables": tables, "products": made}


def list_request(token: str = "", size: int = 3, **filters: Any) -> catalog_pb2.ListProductsRequest:
    return catalog_pb2.ListProductsRequest(page=common_pb2.PageRequest(page_size=size, page_token=token), **filters)


async def test_list_walks_every_page_exactly_once(catalog: Any, assortment: dict[str, Any]) -> None:
    async def page(token: str) -> tuple[list[Any], str]:
        response = await catalog.stub.ListProducts(list_request(token, category_id=assortment["root"].id))
        return list(response.products), response.page.next_page_token

    products, pages = await walk(page)
    slugs = [p.slug for p in products]
    assert sorted(slugs) == slugs and set(slugs) == set(assortment["products"]) and len(slugs) == 14
    assert pages == 5
    assert products[0] == assortment["products"][products[0].slug]  # pages carry full products


async def test_list_filters(catalog: Any, assortment: dict[str, Any]) -> None:
    made: dict[str, catalog_pb2.Product] = assortment["products"]

    async def slugs(**filters: Any) -> set[str]:
        response = await catalog.stub.ListProducts(list_request(size=100, **filters))
        return {p.slug for p in response.products}

    def expected(keep: Callable[[catalog_pb2.Product], bool]) -> set[str]:
        return {slug for slug, p in made.items() if keep(p)}

    chairs, root = assortment["chairs"], assortment["root"]
    assert await slugs(category_id=chairs.id) == expected(lambda p: p.category_id == chairs.id)
    assert await slugs(category_id=root.id, statuses=[DRAFT]) == expected(lambda p: p.status == DRAFT)
    assert await slugs(category_id=root.id, channel=POS) == expected(lambda p: POS in p.channels)
    by_material = await slugs(
        category_id=root.id, attributes=[catalog_pb2.AttributeFilter(key="material", value="OAK")]
    )
    assert by_material == expected(lambda p: p.attributes["material"] == "oak")
    red_steel = await slugs(
        category_id=root.id,
        statuses=[ACTIVE],
        attributes=[
            catalog_pb2.AttributeFilter(key="color", value="red"),
            catalog_pb2.AttributeFilter(key="material", value="steel"),
        ],
    )
    assert red_steel and red_steel == expected(
        lambda p: (
            p.variants[0].attributes["color"] == "red" and p.attributes["material"] == "steel" and p.status == ACTIVE
        )
    )

    first = await catalog.stub.ListProducts(list_request(category_id=root.id))
    for request in (
        list_request(first.page.next_page_token, category_id=chairs.id),  # a token for other filters
        list_request("garbage!", category_id=root.id),
        list_request(category_id="not-a-uuid"),
        list_request(category_id="00000000-0000-0000-0000-000000000000"),
        list_request(channel=42),
        list_request(size=-1),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await catalog.stub.ListProducts(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_search_ranks_name_matches_first_and_filters(catalog: Any) -> None:
    # A word no other product has (letters only, so the parser keeps it one token).
    word = "zephyr" + "".join(chr(ord("a") + int(c, 16)) for c in catalog.unique("x").split("-")[1])
    shelf = await catalog.category(catalog.unique("search"))
    other = await catalog.category(catalog.unique("search-other"))

    async def make(suffix: str, **fields: Any) -> catalog_pb2.Product:
        category = fields.pop("category", shelf)
        created: catalog_pb2.Product = await catalog.create(
            catalog.product(catalog.unique(suffix), category.id, [catalog.unique("Q")], **fields)
        )
        return created

    described = await make("described", name="Plain Lamp", description=f"A lamp with a {word} shade.")
    named = await make("named", name=f"{word.title()} Lamp", description="A lamp.")
    branded = await make("branded", name="Plain Chair", brand=word.title())
    attributed = await make("attributed", name="Plain Rug", attributes={"pattern": word})
    web_only = await make("web", name=f"{word} Stool", channels=[WEB], category=other)
    draft = await make("draft", name=f"{word} Draft", status=DRAFT)

    async def search(query: str, **filters: Any) -> list[catalog_pb2.SearchHit]:
        response = await catalog.stub.SearchProducts(catalog_pb2.SearchProductsRequest(query=query, **filters))
        return list(response.hits)

    hits = await search(word)
    ids = [h.product.id for h in hits]
    assert set(ids) == {described.id, named.id, branded.id, attributed.id, web_only.id}  # drafts are not found
    ranks = {h.product.id: h.rank for h in hits}
    assert ranks[named.id] > ranks[branded.id] > ranks[attributed.id] > ranks[described.id] > 0
    assert [h.rank for h in hits] == sorted((h.rank for h in hits), reverse=True)

    assert {h.product.id for h in await search(word, channel=POS)} == {
        described.id,
        named.id,
        branded.id,
        attributed.id,
    }
    assert [h.product.id for h in await search(word, category_id=other.id)] == [web_only.id]
    assert [h.product.id for h in await search(word, statuses=[DRAFT])] == [draft.id]
    assert {h.product.id for h in await search(f"{word} -lamp")} == {branded.id, attributed.id, web_only.id}
    assert [h.product.id for h in await search(f'"{word} lamp"')] == [named.id]
    pattern = [catalog_pb2.AttributeFilter(key="pattern", value=word)]
    assert [h.product.id for h in await search(word, attributes=pattern)] == [attributed.id]
    assert await search("the") == []  # only a stop word: nothing to match

    async def page(token: str) -> tuple[list[Any], str]:
        response = await catalog.stub.SearchProducts(
            catalog_pb2.SearchProductsRequest(query=word, page=common_pb2.PageRequest(page_size=2, page_token=token))
        )
        return list(response.hits), response.page.next_page_token

    paged, pages = await walk(page)
    assert [h.product.id for h in paged] == ids and pages == 3

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.SearchProducts(catalog_pb2.SearchProductsRequest(query="  "))
    assert parse_rpc_error(caught.value).violations[0].field == "query"
