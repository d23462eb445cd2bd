"""Return terms through the gateway, against the real catalog: an admin creates a product with its
return window and whether it may come back at all; shoppers read both on the product list, the
product page and the storefront gRPC API; a window outside 0-365 days is a field violation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shop.storefront.v1 import storefront_pb2

if TYPE_CHECKING:
    from conftest import Client, Seeded


async def create(gateway: Client, **terms: Any) -> tuple[str, Any]:
    """A category of its own and a product in it with `terms` (the answer to POST /v1/products)."""
    admin = await gateway.auth("admin")
    slug = gateway.unique("terms")
    category = await gateway.http.post("/v1/categories", json={"slug": slug, "name": slug.title()}, headers=admin)
    assert category.status_code == 201, category.text
    body = {"name": f"Earbuds {slug}", "category": slug, "variants": [{"sku": gateway.unique("EAR").upper()}], **terms}
    return slug, await gateway.http.post("/v1/products", json=body, headers=admin)


async def test_a_product_without_terms_has_the_catalogs_defaults(gateway: Client) -> None:
    seeded: Seeded = await gateway.seed_product(prices=(1500,), stock=(3,))
    page = await gateway.http.get(f"/v1/products/{seeded.product_id}")
    assert page.status_code == 200, page.text
    assert (page.json()["return_window_days"], page.json()["returnable"]) == (30, True)
    listed = await gateway.http.get("/v1/products", params={"category": seeded.category_slug})
    assert [(p["return_window_days"], p["returnable"]) for p in listed.json()["products"]] == [(30, True)]


async def test_terms_set_at_creation_show_over_http_and_grpc(gateway: Client) -> None:
    slug, created = await create(gateway, return_window_days=14, returnable=False)
    assert created.status_code == 201, created.text
    product = created.json()
    assert (product["return_window_days"], product["returnable"]) == (14, False)
    page = await gateway.http.get(f"/v1/products/{product['slug']}")
    assert page.status_code == 200, page.text
    assert (page.json()["return_window_days"], page.json()["returnable"]) == (14, False)
    listed = await gateway.http.get("/v1/products", params={"category": slug})
    assert [(p["id"], p["return_window_days"], p["returnable"]) for p in listed.json()["products"]] == [
        (product["id"], 14, False)
    ]
    found = (await gateway.grpc.GetProduct(storefront_pb2.GetProductRequest(id=product["id"]))).product
    assert (found.return_window_days, found.returnable) == (14, False)
    hits = (await gateway.grpc.ListProducts(storefront_pb2.ListProductsRequest(category=slug))).products
    assert [(p.id, p.return_window_days, p.returnable) for p in hits] == [(product["id"], 14, False)]


async def test_the_window_bounds_are_kept(gateway: Client) -> None:
    for days in (0, 365):
        _, created = await create(gateway, return_window_days=days)
        assert created.status_code == 201, created.text
        assert (created.json()["return_window_days"], created.json()["returnable"]) == (days, True)


async def test_a_window_outside_a_year_is_a_field_violation_and_creates_nothing(gateway: Client) -> None:
    for days in (-1, 366, 100_000):
        slug, refused = await create(gateway, return_window_days=days, returnable=True)
        body = gateway.problem(refused, 400, "INVALID_ARGUMENT")
        assert [e["field"] for e in body["errors"]] == ["return_window_days"], body
        listed = await gateway.http.get("/v1/products", params={"category": slug}, headers=await gateway.auth("admin"))
        assert listed.status_code == 200 and listed.json()["products"] == [], listed.text


async def test_terms_of_the_wrong_type_are_refused(gateway: Client) -> None:
    for terms in ({"return_window_days": "a month"}, {"returnable": "maybe"}):
        _, refused = await create(gateway, **terms)
        body = gateway.problem(refused, 400, "INVALID_ARGUMENT")
        assert [e["field"] for e in body["errors"]] == list(terms), body


async def test_the_openapi_document_describes_the_terms(gateway: Client) -> None:
    schemas = (await gateway.http.get("/openapi.json")).json()["components"]["schemas"]
    assert {"return_window_days", "returnable"} <= schemas["Product"]["properties"].keys()
    assert {"return_window_days", "returnable"} <= schemas["ProductBody"]["properties"].keys()
