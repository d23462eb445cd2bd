"""Click and collect over real HTTP with every process running: the order's stock comes from the chosen
store, and from nowhere else (not from a warehouse, not from another store)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Backstage, NewShopper

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]

GOOD_CARD = "4242424242424242"
QUANTITY = 2
BILLING = {
    "name": "Grace Hopper",
    "line1": "550 Broadway",
    "city": "New York",
    "region": "NY",
    "postal_code": "10012",
    "country": "US",
}


def test_pickup_reserves_at_that_store_only(new_shopper: NewShopper, backstage: Backstage) -> None:
    shopper = new_shopper("collector")
    stores = shopper.get("/v1/stores", country="US")
    assert stores.status_code == 200, stores.text
    store_ids = [store["store_id"] for store in stores.json()["stores"]]
    assert store_ids, stores.text
    # A variant a US store has enough of (the warehouses and the other stores hold it too).
    found = shopper.get("/v1/products", query="trail", page_size=20)
    assert found.status_code == 200, found.text
    product_id, sku, store_id, before = next(
        (product["id"], variant["sku"], store, at)
        for product in found.json()["products"]
        for variant in product["variants"]
        if (at := backstage.stock(variant["sku"]))
        for store in store_ids
        if at.get(store, 0) >= QUANTITY
    )
    page_before = availability(shopper.get(f"/v1/products/{product_id}").json(), sku)
    shopper.add_to_cart(sku, QUANTITY)

    placed = shopper.checkout(
        shopper.card(GOOD_CARD),
        shipping_address=None,
        billing_address=BILLING,
        fulfillment={"method": "pickup", "store_id": store_id},
    )

    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["status"] == "completed", answer
    order = shopper.get(f"/v1/orders/{answer['order_id']}").json()
    assert order["fulfillment"] == {"method": "pickup", "store_id": store_id, "shipping_address": None}, order
    assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [(sku, QUANTITY)]
    # Exactly that store's availability dropped, by exactly the order's quantity; every other location kept its own.
    expected = {**before, store_id: before[store_id] - QUANTITY}
    expected = {location: units for location, units in expected.items() if units > 0}  # locations with stock only
    after = backstage.eventually(lambda: backstage.stock(sku), lambda found: found == expected, within=5)
    assert after == expected
    page_after = availability(shopper.get(f"/v1/products/{product_id}").json(), sku)
    assert page_after["available"] == page_before["available"] - QUANTITY, (page_before, page_after)


def availability(product: dict[str, Any], sku: str) -> dict[str, Any]:
    [variant] = [v for v in product["variants"] if v["sku"] == sku]
    assert variant["availability"] is not None, product
    found: dict[str, Any] = variant["availability"]
    return found
