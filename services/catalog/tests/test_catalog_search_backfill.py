"""The search projection's backfill from pricing (ListBasePrices) and inventory (ListStockTotals), on
real PostgreSQL with real pricing and inventory services: how a read and the events order by the
audit id or stock version both carry, the run a catalog asks for once, one replica at a time, and a
run that resumes where a failed one stopped."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from shop.catalog.v1 import catalog_pb2
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shop_catalog import backfill, projection
from shop_inventory.main import build as build_inventory
from shop_inventory.settings import InventorySettings
from shop_pricing.main import build as build_pricing
from shop_pricing.settings import PricingSettings
from shopkit.auth import metadata_for
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, eventually, grpc_address, peer

ADMIN = metadata_for("admin")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Owners:
    pricing: pricing_pb2_grpc.PricingServiceAsyncStub
    inventory: inventory_pb2_grpc.InventoryServiceAsyncStub
    warehouse: str

    async def price(self, sku: str, amount: int, currency: str = "EUR") -> None:
        price = pricing_pb2.BasePrice(sku=sku, price=common_pb2.Money(amount=amount, currency=currency))
        await self.pricing.SetBasePrices(pricing_pb2.SetBasePricesRequest(prices=[price]), metadata=ADMIN)

    async def stock(self, sku: str, on_hand: int) -> None:
        entry = inventory_pb2.SetStockEntry(sku=sku, location_id=self.warehouse, on_hand=on_hand)
        await self.inventory.SetStock(inventory_pb2.SetStockRequest(entries=[entry]), metadata=ADMIN)


@pytest.fixture(scope="module")
async def owners(postgres: Postgres, nats_url: str) -> AsyncIterator[Owners]:
    async with AsyncExitStack() as stack:
        pricing: Runtime = await stack.enter_async_context(peer(build_pricing, PricingSettings, postgres, nats_url))
        inventory: Runtime = await stack.enter_async_context(
            peer(build_inventory, InventorySettings, postgres, nats_url)
        )
        channels = [grpc.aio.insecure_channel(grpc_address(r)) for r in (pricing, inventory)]
        for channel in channels:
            stack.push_async_callback(channel.close, None)
        inventory_stub = inventory_pb2_grpc.InventoryServiceStub(channels[1])
        warehouse = f"wh-{uuid.uuid4().hex[:8]}"
        location = inventory_pb2.Location(
            location_id=warehouse, type=inventory_pb2.LOCATION_TYPE_WAREHOUSE, name="Main", country="DE", active=True
        )
        await inventory_stub.CreateLocation(inventory_pb2.CreateLocationRequest(location=location), metadata=ADMIN)
        yield Owners(pricing_pb2_grpc.PricingServiceStub(channels[0]), inventory_stub, warehouse)


def runner(catalog: Any, owners: Owners, **overrides: Any) -> backfill.Backfill:
    """A backfill on the tests' catalog database (its own service runs none: no peer addresses)."""
    fields: dict[str, Any] = {"page_size": 2, "call_timeout": 5.0, **overrides}
    return backfill.Backfill(catalog.runtime.db, owners.pricing, owners.inventory, **fields)


async def sql(catalog: Any, statement: str, **params: Any) -> list[Any]:
    async with catalog.runtime.db.transaction() as conn:
        result = await conn.execute(sa.text(statement), params)
        return list(result) if result.returns_rows else []


async def price_row(catalog: Any, sku: str) -> tuple[int, int] | None:
    rows = await sql(catalog, "SELECT amount, audit_id FROM sku_prices WHERE sku = :s AND currency = 'EUR'", s=sku)
    return (rows[0].amount, rows[0].audit_id) if rows else None


async def stock_row(catalog: Any, sku: str) -> tuple[int, int] | None:
    rows = await sql(catalog, "SELECT total_available, stock_version FROM sku_stock WHERE sku = :s", s=sku)
    return (rows[0].total_available, rows[0].stock_version) if rows else None


async def forget(catalog: Any, *skus: str) -> None:
    """What a catalog that missed the events has: no SKU rows, products refreshed without them."""
    async with catalog.runtime.db.transaction() as conn:
        await conn.execute(sa.text("DELETE FROM sku_prices WHERE sku = ANY(:s)"), {"s": list(skus)})
        await conn.execute(sa.text("DELETE FROM sku_stock WHERE sku = ANY(:s)"), {"s": list(skus)})
        await projection.refresh_skus(conn, skus)


async def in_stock_eur(catalog: Any, category_id: str, amount: int = 0) -> list[str]:
    """The category's products that search finds in stock at this lowest EUR price (any price for 0)."""
    filters = catalog_pb2.ProductFilters(currency="EUR", min_price=amount, in_stock_only=True)
    if amount:
        filters.max_price = amount
    response = await catalog.stub.ListProducts(
        catalog_pb2.ListProductsRequest(category_id=category_id, filters=filters)
    )
    return [p.slug for p in response.products]


# --- the ordering rules ------------------------------------------------------------------------------


async def write(catalog: Any, action: Callable[[Any], Awaitable[object]]) -> None:
    async with catalog.runtime.db.transaction() as conn:
        await action(conn)


async def test_an_older_read_after_an_event_changes_nothing(catalog: Any) -> None:
    sku = catalog.unique("ORD-A")
    await write(catalog, lambda c: projection.set_prices(c, [(sku, "EUR", 500, 20)]))
    await write(catalog, lambda c: projection.set_prices(c, [(sku, "EUR", 400, 19)], read=True))
    assert await price_row(catalog, sku) == (500, 20)
    await write(catalog, lambda c: projection.set_stock(c, [(sku, 3, T0, 5)]))
    await write(catalog, lambda c: projection.set_stock(c, [(sku, 9, T0 + timedelta(hours=1), 4)], read=True))
    assert await stock_row(catalog, sku) == (3, 5)
    # A read of the same change is the owner's committed state (e.g. a location closed since): it wins,
    # and the event of that change, delivered again, does not undo it.
    await write(catalog, lambda c: projection.set_stock(c, [(sku, 2, T0, 5)], read=True))
    await write(catalog, lambda c: projection.set_stock(c, [(sku, 3, T0, 5)]))
    assert await stock_row(catalog, sku) == (2, 5)


async def test_an_older_event_after_a_read_changes_nothing(catalog: Any) -> None:
    sku = catalog.unique("ORD-B")
    await write(catalog, lambda c: projection.set_prices(c, [(sku, "EUR", 700, 30)], read=True))
    await write(catalog, lambda c: projection.set_prices(c, [(sku, "EUR", 600, 29), (sku, "EUR", 650, 30)]))
    assert await price_row(catalog, sku) == (700, 30)
    await write(catalog, lambda c: projection.set_prices(c, [(sku, "EUR", 800, 31)]))
    assert await price_row(catalog, sku) == (800, 31)
    await write(catalog, lambda c: projection.set_stock(c, [(sku, 4, T0, 7)], read=True))
    # An event's time says nothing against a version: the later-stamped older one still loses.
    await write(catalog, lambda c: projection.set_stock(c, [(sku, 10, T0 + timedelta(days=1), 6)]))
    assert await stock_row(catalog, sku) == (4, 7)
    await write(catalog, lambda c: projection.set_stock(c, [(sku, 1, T0, 8)]))
    assert await stock_row(catalog, sku) == (1, 8)


async def test_unversioned_events_order_by_time_and_lose_to_versions(catalog: Any) -> None:
    sku = catalog.unique("ORD-C")
    await write(catalog, lambda c: projection.set_stock(c, [(sku, 5, T0 + timedelta(minutes=2), 0)]))
    await write(catalog, lambda c: projection.set_stock(c, [(sku, 6, T0 + timedelta(minutes=1), 0)]))
    assert await stock_row(catalog, sku) == (5, 0)
    await write(catalog, lambda c: projection.set_stock(c, [(sku, 7, T0, 1)]))
    await write(catalog, lambda c: projection.set_stock(c, [(sku, 8, T0 + timedelta(days=9), 0)]))
    assert await stock_row(catalog, sku) == (7, 1)


async def test_concurrent_reads_and_events_keep_the_newest(catalog: Any) -> None:
    sku = catalog.unique("ORD-D")
    versions = list(range(1, 41))
    random.shuffle(versions)

    async def one(version: int) -> None:
        read = version % 2 == 0
        await write(catalog, lambda c: projection.set_prices(c, [(sku, "EUR", 100 * version, version)], read=read))
        await write(catalog, lambda c: projection.set_stock(c, [(sku, version, T0, version)], read=read))

    await asyncio.gather(*(one(v) for v in versions))
    assert await price_row(catalog, sku) == (4000, 40)
    assert await stock_row(catalog, sku) == (40, 40)


# --- runs ------------------------------------------------------------------------------------------


async def product_with(catalog: Any, owners: Owners, amount: int, on_hand: int) -> tuple[str, str, str]:
    """A product whose one SKU pricing and inventory know, and whose projection rows catalog lost."""
    category = await catalog.category(catalog.unique("backfill"))
    slug, sku = catalog.unique("lamp"), catalog.unique("BF").upper()
    await catalog.create(catalog.product(slug, category.id, [sku]))
    await owners.price(sku, amount)
    await owners.stock(sku, on_hand)

    async def delivered() -> bool:  # the events reached this catalog: now it loses them
        return await price_row(catalog, sku) is not None and await stock_row(catalog, sku) is not None

    await eventually(delivered, within=catalog.WITHIN)
    await forget(catalog, sku)
    assert await in_stock_eur(catalog, category.id) == []
    return category.id, slug, sku


async def test_a_requested_run_restores_prices_and_stock_and_is_recorded(catalog: Any, owners: Owners) -> None:
    category_id, slug, sku = await product_with(catalog, owners, 2500, 4)
    other_category, other_slug, other_sku = await product_with(catalog, owners, 900, 1)
    run = runner(catalog, owners)
    before = await run.state()
    first = await run.request()
    # Idempotent; the next number, or the one a replica started and did not finish (it is redone).
    assert (await run.request()).requested == first.requested == max(before.requested, before.started + 1)
    assert await run.run_pending()

    after = await run.state()
    assert (after.completed, after.running, after.pending) == (first.requested, False, False)
    assert after.completed_at is not None and after.prices_done and after.stock_done
    log = await owners.pricing.ListPriceChanges(pricing_pb2.ListPriceChangesRequest(sku=sku), metadata=ADMIN)
    assert await price_row(catalog, sku) == (2500, log.changes[0].id)
    assert await stock_row(catalog, sku) == (4, 1)
    assert await in_stock_eur(catalog, category_id, 2500) == [slug]
    assert await in_stock_eur(catalog, other_category, 900) == [other_slug]

    # Recorded: another replica (or a restart) finds nothing to do.
    await forget(catalog, other_sku)
    assert await runner(catalog, owners).run_pending()
    assert await stock_row(catalog, other_sku) is None
    assert (await run.state()).completed == after.completed


async def test_one_replica_runs_at_a_time(catalog: Any, owners: Owners) -> None:
    _, _, sku = await product_with(catalog, owners, 1200, 2)
    first, second = runner(catalog, owners), runner(catalog, owners)
    asked = await first.request()
    async with catalog.runtime.db.connect() as holder:  # as a replica that runs one now
        await holder.execute(sa.select(sa.func.pg_advisory_lock(backfill.LOCK_KEY)))
        assert not await second.run_pending()
        assert (await second.state()).pending and await stock_row(catalog, sku) is None
        await holder.execute(sa.select(sa.func.pg_advisory_unlock(backfill.LOCK_KEY)))
    results = await asyncio.gather(first.run_pending(), second.run_pending())
    assert True in results
    state = await first.state()
    assert (state.started, state.completed) == (asked.requested, asked.requested)  # one run, once
    assert await stock_row(catalog, sku) == (2, 1)


class FailingAfter:
    """Pricing's stub that fails after `calls` pages, as a peer that goes away mid-run does."""

    def __init__(self, stub: Any, calls: int):
        self.stub = stub
        self.calls = calls
        self.tokens: list[str] = []

    async def ListBasePrices(self, request: pricing_pb2.ListBasePricesRequest, **kwargs: Any) -> Any:
        self.tokens.append(request.page.page_token)
        if len(self.tokens) > self.calls:
            raise ConnectionError("pricing went away")
        return await self.stub.ListBasePrices(request, **kwargs)


async def test_a_failed_run_resumes_at_its_next_page(catalog: Any, owners: Owners) -> None:
    skus = [(await product_with(catalog, owners, 100 + i, 1))[2] for i in range(3)]  # several pages of 2
    flaky = FailingAfter(owners.pricing, calls=1)
    crashed = backfill.Backfill(catalog.runtime.db, flaky, owners.inventory, page_size=2)  # type: ignore[arg-type]
    asked = await crashed.request()
    with pytest.raises(ConnectionError):
        await crashed.run_pending()
    left = await crashed.state()
    assert left.running and left.started == asked.requested and not left.prices_done and left.prices_token

    resumed = FailingAfter(owners.pricing, calls=1000)
    await backfill.Backfill(catalog.runtime.db, resumed, owners.inventory, page_size=2).run_pending()  # type: ignore[arg-type]
    assert resumed.tokens[0] == left.prices_token  # not from the start
    state = await crashed.state()
    assert (state.completed, state.running) == (asked.requested, False)
    for i, sku in enumerate(skus):
        assert (await price_row(catalog, sku) or (0, 0))[0] == 100 + i
        assert await stock_row(catalog, sku) == (1, 1)


async def test_the_rpc_asks_for_a_run_and_says_so(catalog: Any) -> None:
    # The tests' catalog has no peer addresses: it says it cannot, and changes nothing.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await catalog.stub.RebuildSearchProjection(catalog_pb2.RebuildSearchProjectionRequest(), metadata=ADMIN)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalog.stub.RebuildSearchProjection(
            catalog_pb2.RebuildSearchProjectionRequest(), metadata=metadata_for("customer", "c-1")
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
