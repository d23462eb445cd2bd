"""Search facets and sort orders on the launched stack: prices set at pricing and stock set at inventory
reach catalog's search projection through JetStream, and the gateway's product listing sorts by price,
filters by price range and stock, pages through every order and counts facets over the whole result."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Backstage

    from shop_devstack.harness import Stack

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]

# (name, brand, color, price in cents, units on hand)
ITEMS = [
    ("Harbor lamp", "Lumen", "red", 4500, 3),
    ("Beacon lamp", "Lumen", "blue", 1500, 0),
    ("Anchor lamp", "Glow", "red", 9900, 8),
    ("Compass lamp", "Glow", "green", 2500, 1),
]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def listed(http: httpx.Client, url: str, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    response = http.get(f"{url}/v1/products", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def shelf(stack: Stack, http: httpx.Client) -> dict[str, str]:
    """A category of four lamps, priced and stocked through the admin routes; name -> slug."""
    url = stack.gateway_url
    issued = http.post(f"{url}/v1/auth/token", json={"username": unique("search-admin"), "role": "admin"})
    assert issued.status_code == 200, issued.text
    admin = {"authorization": f"Bearer {issued.json()['access_token']}"}
    category = unique("lamps")
    assert http.post(f"{url}/v1/categories", json={"slug": category, "name": "Lamps"}, headers=admin).status_code == 201
    warehouses = http.get(f"{url}/v1/admin/locations", params={"type": "warehouse"}, headers=admin)
    assert warehouses.status_code == 200, warehouses.text
    warehouse = warehouses.json()["locations"][0]["location_id"]
    slugs = {"category": category}
    for name, brand, color, price, on_hand in ITEMS:
        sku = unique("LAMP").upper()
        body = {
            "name": name,
            "category": category,
            "status": "active",
            "brand": brand,
            "attributes": {"color": color},
            "variants": [{"sku": sku}],
        }
        created = http.post(f"{url}/v1/products", json=body, headers=admin)
        assert created.status_code == 201, created.text
        slugs[name] = created.json()["slug"]
        prices = {"prices": [{"sku": sku, "price": {"amount": price, "currency": "USD"}}]}
        assert http.put(f"{url}/v1/prices", json=prices, headers=admin).status_code == 200
        stock = {"entries": [{"sku": sku, "location_id": warehouse, "on_hand": on_hand}], "reason": "search test"}
        assert http.put(f"{url}/v1/stock", json=stock, headers=admin).status_code == 200
    return slugs


def test_price_order_range_stock_and_facets(
    stack: Stack, http: httpx.Client, shelf: dict[str, str], backstage: Backstage
) -> None:
    url, category = stack.gateway_url, shelf["category"]
    by_price = [shelf[name] for name, *_ in sorted(ITEMS, key=lambda item: item[3])]
    stocked = sorted(shelf[name] for name, *_, units in ITEMS if units)
    # Polled as a signed-in customer: anonymous answers are cached a moment, a customer's never.
    customer = http.post(f"{url}/v1/auth/token", json={"username": unique("search-shopper"), "role": "customer"})
    headers = {"authorization": f"Bearer {customer.json()['access_token']}"}

    def projected() -> tuple[list[str], list[str]]:
        cheap = listed(http, url, headers, category=category, sort="price_asc")["products"]
        available = listed(http, url, headers, category=category, in_stock="true")["products"]
        return [p["slug"] for p in cheap], sorted(p["slug"] for p in available)

    backstage.eventually(projected, lambda found: found == (by_price, stocked), within=60)

    assert [p["slug"] for p in listed(http, url, category=category, sort="price_desc")["products"]] == by_price[::-1]
    ranged = listed(http, url, category=category, min_price=2000, max_price=5000, sort="price_asc")
    assert [p["slug"] for p in ranged["products"]] == [shelf["Compass lamp"], shelf["Harbor lamp"]]

    body = listed(http, url, category=category, facets="category,price,availability,brand,color", page_size=1)
    assert len(body["products"]) == 1
    facets = body["facets"]
    assert facets["total"] == 4
    assert [(c["slug"], c["count"]) for c in facets["categories"]] == [(category, 4)]
    assert facets["attributes"][0] == {
        "key": "brand",
        "values": [{"value": "glow", "count": 2}, {"value": "lumen", "count": 2}],
    }
    assert {v["value"]: v["count"] for v in facets["attributes"][1]["values"]} == {"red": 2, "blue": 1, "green": 1}
    price = facets["price"]
    assert (price["currency"], price["min_amount"], price["max_amount"], price["priced"]) == ("USD", 1500, 9900, 4)
    assert sum(b["count"] for b in price["buckets"]) == 4
    assert (facets["in_stock"], facets["out_of_stock"]) == (3, 1)


@pytest.mark.parametrize("sort", ["name", "newest", "price_asc", "price_desc", "slug"])
def test_every_order_pages_through_without_duplicates(
    stack: Stack, http: httpx.Client, shelf: dict[str, str], sort: str
) -> None:
    url, token = stack.gateway_url, ""
    seen: list[str] = []
    while True:
        body = listed(http, url, category=shelf["category"], sort=sort, page_size=1, page_token=token)
        seen.extend(p["slug"] for p in body["products"])
        token = body["next_page_token"]
        if not token:
            break
    assert sorted(seen) == sorted(shelf[name] for name, *_ in ITEMS)
    if sort == "name":
        assert seen == [shelf[name] for name in sorted(shelf) if name != "category"]


def test_the_demo_catalog_is_searched_with_facets(stack: Stack, http: httpx.Client) -> None:
    body = listed(http, stack.gateway_url, query="trail", sort="relevance", facets="category,availability,brand")
    facets = body["facets"]
    assert body["products"] and facets["total"] >= len(body["products"])
    assert facets["categories"] and facets["in_stock"] + facets["out_of_stock"] == facets["total"]
    assert sum(v["count"] for v in facets["attributes"][0]["values"]) <= facets["total"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"sort": "cheapest"}, "sort"), ({"min_price": "-5"}, "min_price"), ({"facets": "Brand!"}, "facets")],
)
def test_bad_parameters_are_400_with_the_field(
    stack: Stack, http: httpx.Client, params: dict[str, str], field: str
) -> None:
    response = http.get(f"{stack.gateway_url}/v1/products", params=params)
    assert response.status_code == 400, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
