"""B7: catalog SearchProducts p50 with a large catalog against the same with a small one.

Two catalog processes on the rig, each with a database of its own, filled straight in SQL (loading a
million products through the API would take an hour): the same generated products, so a word matches
the same share of either catalog ("trail" is one product name in twenty). Then VACUUM ANALYZE, as
autovacuum would leave a catalog that has been live for a while, and SearchProducts over gRPC from the
load client process, one call at a time.
"""

from __future__ import annotations

import asyncio
import os
import time

import asyncpg  # type: ignore[import-untyped]
import grpc

from shop_devstack.bench.report import Figure, Report, Target, say
from shop_devstack.bench.rig import Rig
from shop_devstack.bench.runner import ADMIN, run_client

SEARCH = "/shop.catalog.v1.CatalogService/SearchProducts"
QUERY = "trail"
CHUNK = 50_000
# Indexes of the two tables that back no constraint (the GIN indexes above all are slow to fill row by row).
SECONDARY_INDEXES = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.schemaname = 'public' AND i.tablename IN ('products', 'variants')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
"""

# The name is "<style> <material> <kind>"; 20 styles, so a style word is in 5 % of the names.
LOAD = """
WITH words AS (
    SELECT ARRAY['trail','urban','classic','light','alpine','coastal','summit','street','studio','field',
                 'harbor','canyon','forest','meadow','desert','glacier','prairie','river','island','metro'] AS style,
           ARRAY['wool','cotton','leather','mesh','nylon','canvas','linen','denim','fleece','suede','bamboo','hemp']
               AS material,
           ARRAY['shoe','jacket','backpack','hat','glove','sock','shirt','trouser','scarf','boot','belt','vest',
                 'hoodie','tent','bottle','lamp','mug','blanket','pillow','towel','umbrella','wallet','watch',
                 'sandal','sweater','skirt','dress','coat','beanie','poncho','apron','bag','case','mat','stool',
                 'chair','table','shelf','basket','rope'] AS kind,
           ARRAY['Northwind','Contoso','Fabrikam','Tailspin','Litware','Adventure','Proseware','Lucerne',
                 'Wingtip','Margie','Alpine Ski','Coho','Fourth Coffee','Humongous','Woodgrove'] AS brand,
           ARRAY['red','blue','green','black','white','grey','navy','olive','sand','rust'] AS color
), rows AS (
    SELECT n, md5('b7-' || n)::uuid AS id,
           style[1 + n % 20] AS s, material[1 + (n / 20) % 12] AS m, kind[1 + (n / 240) % 40] AS k,
           brand[1 + (n / 7) % 15] AS b, color[1 + (n / 3) % 10] AS c
    FROM words, generate_series($1::bigint, $2::bigint) AS n
), inserted AS (
    INSERT INTO products (id, slug, name, description, brand, category_id, attributes, facets, channels, status,
                          content_hash)
    SELECT id, 'b7-' || n, initcap(s || ' ' || m || ' ' || k),
           'A ' || s || ' ' || k || ' in ' || c || ' ' || m || ' by ' || b || ', comfortable and easy to care for.',
           b, $3::uuid, jsonb_build_object('material', m, 'color', c),
           jsonb_build_object('brand', jsonb_build_array(lower(b)), 'material', jsonb_build_array(m),
                              'color', jsonb_build_array(c)),
           ARRAY['web','mobile'], 'active', md5(n::text)
    FROM rows
    RETURNING id, slug
)
INSERT INTO variants (sku, product_id, position, title, attributes, weight_grams)
SELECT upper(slug) || '-1', id, 0, 'One size', '{}'::jsonb, 500 FROM inserted
"""


def search_request() -> bytes:
    from shop.catalog.v1 import catalog_pb2

    request = catalog_pb2.SearchProductsRequest(query=QUERY)
    request.page.page_size = 20
    return request.SerializeToString()


async def _category(target: str) -> str:
    from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateCategory(
            catalog_pb2.CreateCategoryRequest(category=catalog_pb2.Category(slug="bench-gear", name="Gear")),
            metadata=ADMIN,
            timeout=30,
        )
    return str(created.id)


async def start_catalog(rig: Rig, products: int) -> tuple[str, str, str]:
    """A catalog process with an empty database for `products`: (target, database, category id)."""
    database = f"catalog_{products}"
    target, _ = await rig.start_catalog(database)
    return target, database, await _category(target)


async def load(rig: Rig, database: str, category: str, products: int) -> None:
    """Generate `products` products (with a variant each) into the catalog's tables.

    The catalog's own secondary indexes are dropped for the load and made again afterwards from their
    saved definitions (the same indexes, built once rather than row by row)."""
    started = time.monotonic()
    conn = await asyncpg.connect(rig.admin_url_for(database))
    try:
        indexes = await conn.fetch(SECONDARY_INDEXES)
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        chunks = iter(range(1, products + 1, CHUNK))

        async def loader() -> None:  # as many as there are cores: the search vectors cost CPU
            writer = await asyncpg.connect(rig.admin_url_for(database))
            try:
                for first in chunks:
                    await writer.execute(LOAD, first, min(products, first + CHUNK - 1), category)
            finally:
                await writer.close()

        await asyncio.gather(*(loader() for _ in range(os.cpu_count() or 2)))
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("VACUUM ANALYZE products")
        await conn.execute("VACUUM ANALYZE variants")
    finally:
        await conn.close()
    say(f"B7: {products:,} products in {database} in {time.monotonic() - started:.0f} s")


async def search_case(
    report: Report, small: tuple[int, str], large: tuple[int, str], *, duration: float, rounds: int
) -> None:
    """p50 of SearchProducts at concurrency 1 on each catalog, alternately; the best round of each."""
    request = search_request()
    p50: dict[int, float] = {}
    for _ in range(rounds):
        for products, target in (small, large):
            result = await run_client(target, SEARCH, request, 1, duration, min(1.0, duration / 2))
            if result["errors"] or not result["calls"]:
                raise RuntimeError(f"SearchProducts failed on {products:,} products: {result}")
            p50[products] = min(p50.get(products, float("inf")), float(result["p50_ms"]))
    report.add(
        Figure(
            "B7",
            f'search "{QUERY}" p50, {large[0]:,} products',
            p50[large[0]],
            "ms",
            Target("ratio", "<=", 2),
            baseline=p50[small[0]],
            baseline_name=f"{small[0]:,} products",
            note=f"one product in 20 matches; best of {rounds}",
        )
    )
