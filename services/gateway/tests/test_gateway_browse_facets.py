"""Browsing with sort orders, price and stock filters and facets through the gateway, over HTTP and
gRPC, against the real catalog, pricing and inventory: prices and stock set through the admin routes
reach catalog's search projection as events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
import pytest

from shop.storefront.v1 import storefront_pb2
from shopkit.errors import parse_rpc_error
from shopkit.testing import eventually

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory, Seeded


async def listed(client: Client, **params: Any) -> list[str]:
    response = await client.http.get("/v1/products", params=params)
    assert response.status_code == 200, response.text
    return [p["slug"] for p in response.json()["products"]]


@pytest.fixture(scope="module")
async def shelf(gateway: Client) -> tuple[Seeded, Seeded]:
    """Two products of one category: in stock at 19.99 (and 24.99), sold out at 5.00."""
    first = await gateway.seed_product(prices=(1999, 2499), stock=(7, 0))
    admin = await gateway.auth("admin")
    sku = gateway.unique("CHEAP").upper()
    body = {
        "name": "Cheap thing",
        "category": first.category_slug,
        "status": "active",
        "brand": "Bolt",
        "attributes": {"color": "red"},
        "variants": [{"sku": sku}],
    }
    created = await gateway.http.post("/v1/products", json=body, headers=admin)
    assert created.status_code == 201, created.text
    price = {"prices": [{"sku": sku, "price": {"amount": 500, "currency": "USD"}}]}
    assert (await gateway.http.put("/v1/prices", json=price, headers=admin)).status_code == 200
    stock = {"entries": [{"sku": sku, "location_id": gateway.backends.locations[0], "on_hand": 0}]}
    assert (await gateway.http.put("/v1/stock", json=stock, headers=admin)).status_code == 200
    product = created.json()
    second = type(first)(first.category_slug, first.category_id, product["id"], product["slug"], "Cheap thing", [sku])

    async def projected() -> bool:  # the events went pricing/inventory -> JetStream -> catalog
        cheap = await listed(gateway, category=first.category_slug, sort="price_asc")
        stocked = await listed(gateway, category=first.category_slug, in_stock="true")
        return cheap == [second.slug, first.slug] and stocked == [first.slug]

    await eventually(projected, within=30)
    return first, second


async def test_sort_price_range_and_stock_filters(gateway: Client, shelf: tuple[Seeded, Seeded]) -> None:
    first, second = shelf
    category = first.category_slug
    assert await listed(gateway, category=category, sort="price_desc") == [first.slug, second.slug]
    assert await listed(gateway, category=category, min_price=1000) == [first.slug]
    assert await listed(gateway, category=category, max_price=1999, min_price=1999) == [first.slug]
    assert await listed(gateway, category=category, max_price=499) == []
    assert await listed(gateway, category=category, sort="newest") == [second.slug, first.slug]
    assert await listed(gateway, category=category, sort="name") == sorted(
        [first.slug, second.slug], key=lambda s: {first.slug: first.name, second.slug: "Cheap thing"}[s]
    )
    word = first.name.split()[1]
    assert await listed(gateway, query=word, sort="relevance", in_stock="true") == [first.slug]


async def test_facets_over_the_whole_result(gateway: Client, shelf: tuple[Seeded, Seeded]) -> None:
    first, _ = shelf
    response = await gateway.http.get(
        "/v1/products",
        params={"category": first.category_slug, "facets": "category,price,availability,brand,color", "page_size": 1},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["products"]) == 1 and body["next_page_token"]
    facets = body["facets"]
    assert facets["total"] == 2
    assert [(c["slug"], c["count"]) for c in facets["categories"]] == [(first.category_slug, 2)]
    assert facets["attributes"] == [
        {"key": "brand", "values": [{"value": "acme", "count": 1}, {"value": "bolt", "count": 1}]},
        {"key": "color", "values": [{"value": "red", "count": 1}]},
    ]
    price = facets["price"]
    assert (price["currency"], price["min_amount"], price["max_amount"], price["priced"]) == ("USD", 500, 1999, 2)
    assert sum(b["count"] for b in price["buckets"]) == 2
    assert (facets["in_stock"], facets["out_of_stock"]) == (1, 1)
    plain = await gateway.http.get("/v1/products", params={"category": first.category_slug})
    assert plain.json()["facets"] is None


async def test_storefront_grpc_sorts_filters_and_counts(gateway: Client, shelf: tuple[Seeded, Seeded]) -> None:
    first, second = shelf
    request = storefront_pb2.ListProductsRequest(
        category=first.category_slug, sort="price_asc", in_stock=False, facets=["availability", "brand"]
    )
    response = await gateway.grpc.ListProducts(request)
    assert [p.slug for p in response.products] == [second.slug, first.slug]
    assert (response.facets.total, response.facets.in_stock, response.facets.out_of_stock) == (2, 1, 1)
    assert [a.key for a in response.facets.attributes] == ["brand"]
    ranged = await gateway.grpc.ListProducts(
        storefront_pb2.ListProductsRequest(category=first.category_slug, min_price=1000)
    )
    assert [p.slug for p in ranged.products] == [first.slug] and not ranged.HasField("facets")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.grpc.ListProducts(storefront_pb2.ListProductsRequest(sort="cheapest"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in parse_rpc_error(raised.value).violations] == ["sort"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "cheapest"}, "sort"),
        ({"sort": "relevance"}, "sort"),
        ({"min_price": "-1"}, "min_price"),
        ({"min_price": "10", "max_price": "5"}, "max_price"),
        ({"min_price": "ten"}, "min_price"),
        ({"in_stock": "maybe"}, "in_stock"),
        ({"facets": "brand,Colour!"}, "facets"),
        ({"facets": ",".join(f"k{i}" for i in range(11))}, "facets"),
    ],
)
async def test_bad_browse_parameters_are_400_with_the_field(
    gateway: Client, params: dict[str, str], field: str
) -> None:
    body = gateway.problem(await gateway.http.get("/v1/products", params=params), 400, "INVALID_ARGUMENT")
    assert field in {e["field"] for e in body["errors"]}, body


async def test_the_public_cache_keys_on_every_browse_parameter(
    make_gateway: GatewayFactory, shelf: tuple[Seeded, Seeded]
) -> None:
    first, second = shelf
    async with make_gateway(public_cache_seconds=60) as client:
        category = first.category_slug
        assert await listed(client, category=category, sort="price_asc") == [second.slug, first.slug]
        assert await listed(client, category=category, sort="price_desc") == [first.slug, second.slug]
        assert await listed(client, category=category, in_stock="true") == [first.slug]
        assert await listed(client, category=category, sort="price_asc", min_price=1000) == [first.slug]
        one = await client.http.get(f"/v1/products?category={category}&sort=price_asc&in_stock=true")
        other = await client.http.get(f"/v1/products?in_stock=true&sort=price_asc&category={category}")
        assert one.headers["etag"] == other.headers["etag"]  # one answer, whatever the parameters' order
        assert [p["slug"] for p in other.json()["products"]] == [first.slug]
