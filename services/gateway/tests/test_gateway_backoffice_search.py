"""POST /v1/admin/search-projection/rebuild (and the gRPC back office's RebuildSearchProjection)
against the real catalog, pricing and inventory: products whose prices and stock the catalog lost (its
projection rows deleted, as a catalog that missed the events) are found by price and in stock again after
the rebuild; staff only."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import sqlalchemy as sa

from shop.catalog.v1 import catalog_pb2
from shop.storefront.v1 import backoffice_pb2_grpc
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


async def test_the_grpc_back_office_rebuilds_too(gateway: Client) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.runtime.grpc_port}") as channel:
        office = backoffice_pb2_grpc.BackOfficeServiceStub(channel)  # type: ignore[no-untyped-call]
        admin = (("authorization", f"Bearer {await gateway.token(role='admin')}"),)
        asked = await office.RebuildSearchProjection(catalog_pb2.RebuildSearchProjectionRequest(), metadata=admin)
        assert asked.requested >= 1

        async def done() -> bool:
            state = await office.GetSearchProjectionRebuild(
                catalog_pb2.GetSearchProjectionRebuildRequest(), metadata=admin
            )
            return bool(state.completed >= asked.requested and state.HasField("completed_at"))

        await eventually(done, within=30)
        customer = (("authorization", f"Bearer {await gateway.token(role='customer')}"),)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await office.RebuildSearchProjection(catalog_pb2.RebuildSearchProjectionRequest(), metadata=customer)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
