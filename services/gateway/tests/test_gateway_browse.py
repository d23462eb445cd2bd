"""Browsing through the gateway, over HTTP and gRPC, against the real catalog, pricing and inventory:
products with the caller's prices and availability, search, categories, stores, admin-only writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest

from shop.storefront.v1 import storefront_pb2
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:
    from conftest import Client, Seeded


@pytest.fixture(scope="module")
async def seeded(gateway: Client) -> Seeded:
    return await gateway.seed_product(prices=(1999, 2499), stock=(7, 0))


async def test_product_list_has_variants_with_prices_as_integer_money(gateway: Client, seeded: Seeded) -> None:
    response = await gateway.http.get("/v1/products", params={"category": seeded.category_slug})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["id"] for p in body["products"]] == [seeded.product_id]
    assert body["next_page_token"] == ""
    product = body["products"][0]
    assert product["name"] == seeded.name and product["status"] == "active" and product["brand"] == "Acme"
    variants = {v["sku"]: v for v in product["variants"]}
    assert variants.keys() == set(seeded.skus)
    assert variants[seeded.skus[0]]["price"] == {"amount": 1999, "currency": "USD"}
    assert variants[seeded.skus[1]]["price"] == {"amount": 2499, "currency": "USD"}
    assert variants[seeded.skus[0]]["availability"] is None  # only on the product page


async def test_product_page_by_id_and_slug_has_prices_and_availability(gateway: Client, seeded: Seeded) -> None:
    for key in (seeded.product_id, seeded.slug):
        response = await gateway.http.get(f"/v1/products/{key}")
        assert response.status_code == 200, response.text
        variants = {v["sku"]: v for v in response.json()["variants"]}
        in_stock, sold_out = variants[seeded.skus[0]], variants[seeded.skus[1]]
        assert in_stock["price"] == {"amount": 1999, "currency": "USD"}
        assert in_stock["original_price"] == {"amount": 1999, "currency": "USD"}
        assert in_stock["availability"]["available"] == 7 and in_stock["availability"]["in_stock"] is True
        assert sold_out["availability"]["available"] == 0 and sold_out["availability"]["in_stock"] is False


async def test_search_finds_the_product_by_name(gateway: Client, seeded: Seeded) -> None:
    word = seeded.name.split()[1]  # the unique part
    response = await gateway.http.get("/v1/products", params={"query": word})
    assert response.status_code == 200, response.text
    assert [p["id"] for p in response.json()["products"]] == [seeded.product_id]


async def test_pages_follow_the_next_page_token(gateway: Client, seeded: Seeded) -> None:
    other = await gateway.http.post(
        "/v1/products",
        json={"name": "Second one", "category": seeded.category_slug, "variants": [{"sku": gateway.unique("S2")}]},
        headers=await gateway.auth("admin"),
    )
    assert other.status_code == 201, other.text
    first = (await gateway.http.get("/v1/products", params={"category": seeded.category_id, "page_size": 1})).json()
    assert len(first["products"]) == 1 and first["next_page_token"]
    second = (
        await gateway.http.get(
            "/v1/products",
            params={"category": seeded.category_id, "page_size": 1, "page_token": first["next_page_token"]},
        )
    ).json()
    assert len(second["products"]) == 1 and second["next_page_token"] == ""
    assert {first["products"][0]["id"], second["products"][0]["id"]} == {seeded.product_id, other.json()["id"]}


async def test_draft_products_are_hidden_from_shoppers_but_not_from_admins(gateway: Client) -> None:
    draft = await gateway.seed_product(status="draft", prices=(500,), stock=(1,))
    anonymous = await gateway.http.get(f"/v1/products/{draft.product_id}")
    gateway.problem(anonymous, 404, "NOT_FOUND")
    customer = await gateway.http.get("/v1/products", params={"category": draft.category_slug})
    assert customer.json()["products"] == []
    admin = await gateway.auth("admin")
    found = await gateway.http.get(f"/v1/products/{draft.product_id}", headers=admin)
    assert found.status_code == 200 and found.json()["status"] == "draft"
    listed = await gateway.http.get("/v1/products", params={"category": draft.category_slug}, headers=admin)
    assert [p["id"] for p in listed.json()["products"]] == [draft.product_id]


async def test_unknown_category_and_bad_page_size_are_field_errors(gateway: Client) -> None:
    response = await gateway.http.get("/v1/products", params={"category": "no-such-category", "page_size": 1000})
    body = gateway.problem(response, 400, "INVALID_ARGUMENT")
    assert {e["field"] for e in body["errors"]} == {"category", "page_size"}


async def test_categories_and_stores(gateway: Client, seeded: Seeded) -> None:
    categories = (await gateway.http.get("/v1/categories")).json()["categories"]
    assert seeded.category_slug in {c["slug"] for c in categories}
    stores = (await gateway.http.get("/v1/stores")).json()["stores"]
    store = next(s for s in stores if s["store_id"] == gateway.backends.locations[1])
    assert store["country"] == "US" and store["address"]["city"] == "Springfield"
    assert gateway.backends.locations[0] not in {s["store_id"] for s in stores}  # a warehouse is no store
    response = await gateway.http.get("/v1/stores", params={"country": "usa"})
    gateway.problem(response, 400, "INVALID_ARGUMENT")


async def test_grpc_storefront_serves_the_same_products(gateway: Client, seeded: Seeded) -> None:
    listed = await gateway.grpc.ListProducts(storefront_pb2.ListProductsRequest(category=seeded.category_slug))
    assert seeded.product_id in [p.id for p in listed.products]
    product = (await gateway.grpc.GetProduct(storefront_pb2.GetProductRequest(id=seeded.slug))).product
    variants = {v.sku: v for v in product.variants}
    assert variants[seeded.skus[0]].price.amount == 1999 and variants[seeded.skus[0]].price.currency == "USD"
    assert variants[seeded.skus[0]].availability.available == 7
    assert product.created_at.seconds > 0
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await gateway.grpc.GetProduct(storefront_pb2.GetProductRequest(id="00000000-0000-0000-0000-000000000000"))
    assert parse_rpc_error(failed.value).code is grpc.StatusCode.NOT_FOUND


async def test_catalog_pricing_and_inventory_writes_need_admin(gateway: Client, seeded: Seeded) -> None:
    product = {"name": "Nope", "category": seeded.category_slug, "variants": [{"sku": gateway.unique("NOPE")}]}
    prices = {"prices": [{"sku": seeded.skus[0], "price": {"amount": 1, "currency": "USD"}}]}
    stock = {"entries": [{"sku": seeded.skus[0], "location_id": gateway.backends.locations[0], "on_hand": 999}]}
    writes = [
        ("POST", "/v1/products", product),
        ("POST", "/v1/categories", {"slug": gateway.unique("c"), "name": "C"}),
        ("POST", f"/v1/products/{seeded.product_id}/discontinue", None),
        ("PUT", "/v1/prices", prices),
        ("PUT", "/v1/stock", stock),
        ("GET", f"/v1/stock?sku={seeded.skus[0]}", None),
    ]
    for role in ("customer", "b2b_buyer", "fraud_analyst"):
        headers = await gateway.auth(role, account_id="acme" if role == "b2b_buyer" else "")
        for method, path, body in writes:
            response = await gateway.http.request(method, path, json=body, headers=headers)
            gateway.problem(response, 403, "ROLE_REQUIRED")
    for method, path, body in writes:
        gateway.problem(await gateway.http.request(method, path, json=body), 401, "TOKEN_REQUIRED")
    # Nothing changed.
    page = (await gateway.http.get(f"/v1/products/{seeded.product_id}")).json()
    assert page["status"] == "active"
    assert {v["sku"]: v["price"]["amount"] for v in page["variants"]}[seeded.skus[0]] == 1999


async def test_admins_read_stock_levels_per_location(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(100, 200), stock=(7, 0))
    warehouse, store = gateway.backends.locations
    admin = await gateway.auth("admin")
    entries = {"entries": [{"sku": seeded.skus[0], "location_id": store, "on_hand": 2}]}
    assert (await gateway.http.put("/v1/stock", json=entries, headers=admin)).status_code == 200
    response = await gateway.http.get("/v1/stock", params={"sku": seeded.skus}, headers=admin)
    assert response.status_code == 200, response.text
    levels = {
        (s["sku"], s["location_id"]): (s["on_hand"], s["reserved"], s["available"]) for s in response.json()["stock"]
    }
    assert levels == {
        (seeded.skus[0], warehouse): (7, 0, 7),
        (seeded.skus[0], store): (2, 0, 2),
        (seeded.skus[1], warehouse): (0, 0, 0),
    }
    missing = await gateway.http.get("/v1/stock", headers=admin)
    assert gateway.problem(missing, 400, "INVALID_ARGUMENT")["errors"][0]["field"] == "sku"
