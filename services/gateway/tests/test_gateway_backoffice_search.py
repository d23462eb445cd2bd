"""POST /v1/admin/search-projection/rebuild against the real catalog, pricing and inventory: products
whose prices and stock the catalog lost (its projection rows deleted, as a catalog that missed the
events) are found by price and in stock again after the rebuild; staff only."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from shopkit.testing import eventually

if TYPE_CHECKING:
    from conftest import Client


async def listed(client: Client, **params: Any) -> list[str]:
    response = await client.http.get("/v1/products", params=params)
    assert response.status_code == 200, response.text
    return [p["slug"] for p in response.json()["products"]]


async def test_a_rebuild_brings_back_lost_prices_and_stock(gateway: Client) -> None:
    seeded = await gateway.seed_product(prices=(1999,), stock=(5,))
    found = {"category": seeded.category_slug, "min_price": 1999, "max_price": 1999, "in_stock": "true"}

    async def projected() -> bool:
        return await listed(gateway, **found) == [seeded.slug]

    await eventually(projected, within=30)
    catalog = gateway.backends.runtimes["catalog"]
    async with catalog.db.transaction() as conn:  # the catalog forgets them, as one that missed the events
        for table in ("sku_prices", "sku_stock"):
            await conn.execute(sa.text(f"DELETE FROM {table} WHERE sku = ANY(:s)"), {"s": seeded.skus})
        await conn.execute(sa.text("DELETE FROM product_prices WHERE product_id = :p"), {"p": seeded.product_id})
        await conn.execute(
            sa.text("UPDATE product_stock SET in_stock = false WHERE product_id = :p"), {"p": seeded.product_id}
        )
    admin = await gateway.auth("admin")

    response = await gateway.http.post("/v1/admin/search-projection/rebuild", headers=admin)
    assert response.status_code == 202, response.text
    asked = response.json()["requested"]
    again = await gateway.http.post("/v1/admin/search-projection/rebuild", headers=admin)
    assert again.status_code == 202 and again.json()["requested"] in (asked, asked + 1)  # at most one queued

    deadline = time.monotonic() + 30
    while (state := (await gateway.http.get("/v1/admin/search-projection", headers=admin)).json())["completed"] < asked:
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.1)
    assert state["completed_at"]
    await eventually(projected, within=30)  # past the gateway's short cache of public listings


async def test_customers_may_not_rebuild(gateway: Client) -> None:
    customer = await gateway.auth("customer")
    for response in (
        await gateway.http.post("/v1/admin/search-projection/rebuild", headers=customer),
        await gateway.http.get("/v1/admin/search-projection", headers=customer),
    ):
        assert response.status_code == 403, response.text
    anonymous = await gateway.http.post("/v1/admin/search-projection/rebuild")
    assert anonymous.status_code == 401, anonymous.text
