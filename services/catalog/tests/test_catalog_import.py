"""Bulk import over a real gRPC client stream, and the demo data it is fed with."""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from shop.catalog.v1 import catalog_pb2
from shop_catalog import demo, store
from shopkit.errors import parse_rpc_error


def test_demo_products_are_realistic_and_deterministic() -> None:
    products = demo.generate_products(500, seed=3)
    assert products == demo.generate_products(500, seed=3)
    assert products != demo.generate_products(500, seed=4)
    assert len({p["slug"] for p in products}) == 500
    skus = [v["sku"] for p in products for v in p["variants"]]
    assert len(skus) == len(set(skus)) and all(len(p["variants"]) >= 2 for p in products)
    leaves = {c.slug for c in demo.DEMO_CATEGORIES} - {c.parent for c in demo.DEMO_CATEGORIES if c.parent}
    assert {p["category_slug"] for p in products} == leaves and len(demo.DEMO_CATEGORIES) >= 20
    assert all({"material"} <= p["attributes"].keys() and p["brand"] for p in products)
    assert not {p["slug"] for p in products} & {p["slug"] for p in demo.generate_products(10, start=500)}


async def import_lines(catalog: Any, lines: list[str], batch: int = 400) -> catalog_pb2.ImportSummary:
    summary: catalog_pb2.ImportSummary = await catalog.stub.ImportProducts(
        demo.import_requests(lines, batch), metadata=catalog.SERVICE, timeout=120
    )
    return summary


async def count_events(catalog: Any, subject: str) -> int:
    async with catalog.runtime.db.connect() as conn:
        query = sa.select(sa.func.count()).select_from(store.outbox).where(store.outbox.c.subject == subject)
        return int((await conn.execute(query)).scalar_one())


async def test_import_lands_good_lines_and_reports_bad_ones(catalog: Any) -> None:
    await demo.create_categories(catalog.stub)
    products = demo.generate_products(3000, seed=11, start=1_000_000)
    lines = demo.to_jsonl(products)
    taken = products[10]["variants"][0]["sku"]
    bad = {
        # line number (1-based, after insertion) -> the bad line
        5: "{not json",
        50: json.dumps({**products[0], "slug": "other-slug-1", "variants": [{"sku": taken}]}),  # SKU of line 12
        120: json.dumps(
            {
                **products[1],
                "slug": "unknown-category-1",
                "category_slug": "no-such-category",
                "variants": [{"sku": "UNKNOWN-CAT-1"}],
            }
        ),
        700: json.dumps({**products[2], "slug": "no-name-1", "name": " ", "variants": [{"sku": "NO-NAME-1"}]}),
        1500: json.dumps({**products[3], "slug": "bogus-field-1", "colour": "red"}),
        2222: "",  # blank: skipped but counted
        2900: json.dumps({**products[4], "slug": "dup-skus-1", "variants": [{"sku": "DUP-1"}, {"sku": "DUP-1"}]}),
        3003: json.dumps(products[20]),  # the same slug again
    }
    for number in sorted(bad):
        lines.insert(number - 1, bad[number])
    events_before = await count_events(catalog, "shop.catalog.product_created")

    started = time.monotonic()
    summary = await import_lines(catalog, lines)
    elapsed = time.monotonic() - started

    assert (summary.received, summary.created, summary.updated, summary.unchanged) == (3007, 3000, 0, 0)
    assert summary.failed == 7 and elapsed < 60
    errors = {e.line: e for e in summary.errors}
    assert sorted(errors) == sorted(n for n in bad if n != 2222)
    assert errors[5].message.startswith("not a Product in JSON")
    assert errors[50].field_violations[0].field == "variants[0].sku" and "line 12" in (
        errors[50].field_violations[0].description
    )
    assert errors[120].field_violations[0].field == "category_slug"
    assert errors[700].slug == "no-name-1" and errors[700].field_violations[0].field == "name"
    assert "colour" in errors[1500].message
    assert [v.field for v in errors[2900].field_violations] == ["variants[1].sku"]
    assert errors[3003].field_violations[0].field == "slug"
    assert await count_events(catalog, "shop.catalog.product_created") - events_before == 3000

    sample = products[1234]
    got = await catalog.stub.GetProduct(catalog_pb2.GetProductRequest(slug=sample["slug"]), metadata=catalog.SERVICE)
    assert got.name == sample["name"] and got.category_slug == sample["category_slug"] and got.version == 1
    assert [v.sku for v in got.variants] == [v["sku"] for v in sample["variants"]]
    hits = await catalog.stub.SearchProducts(
        catalog_pb2.SearchProductsRequest(query=sample["name"], statuses=[got.status])
    )
    assert sample["slug"] in {h.product.slug for h in hits.hits}

    # Re-importing changes nothing; an edited line updates its product and no other.
    clean = demo.to_jsonl(products)
    again = await import_lines(catalog, clean)
    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, 3000, 0)
    edited = {**products[7], "name": "Renamed Product", "variants": products[7]["variants"][:1]}
    clean[7] = json.dumps(edited)
    updated_before = await count_events(catalog, "shop.catalog.product_updated")
    once_more = await import_lines(catalog, clean)
    assert (once_more.created, once_more.updated, once_more.unchanged) == (0, 1, 2999)
    assert await count_events(catalog, "shop.catalog.product_updated") - updated_before == 1
    renamed = await catalog.stub.GetProduct(
        catalog_pb2.GetProductRequest(slug=edited["slug"]), metadata=catalog.SERVICE
    )
    assert renamed.name == "Renamed Product" and renamed.version == 2 and len(renamed.variants) == 1
    dropped = products[7]["variants"][1]["sku"]
    found = await catalog.stub.BatchGetVariants(catalog_pb2.BatchGetVariantsRequest(skus=[dropped]))
    assert list(found.missing_skus) == [dropped]


async def test_import_keeps_skus_of_other_products_and_discontinued_products(catalog: Any) -> None:
    shelf = await catalog.category(catalog.unique("import"))
    owner = await catalog.create(catalog.product(catalog.unique("owner"), shelf.id, [catalog.unique("OWN")]))
    gone = await catalog.create(catalog.product(catalog.unique("gone"), shelf.id, [catalog.unique("GONE")]))
    await catalog.stub.DiscontinueProduct(catalog_pb2.DiscontinueProductRequest(id=gone.id), metadata=catalog.ADMIN)

    def line(slug: str, sku: str, **extra: Any) -> str:
        return json.dumps(
            {"slug": slug, "name": "Imported", "category_id": shelf.id, "variants": [{"sku": sku}], **extra}
        )

    fresh = catalog.unique("fresh")
    lines = [
        line(fresh, catalog.unique("FRESH"), status="PRODUCT_STATUS_ACTIVE", channels=["CHANNEL_WEB"]),
        line(catalog.unique("thief"), owner.variants[0].sku),
        line(gone.slug, gone.variants[0].sku, status="PRODUCT_STATUS_ACTIVE"),
    ]
    summary = await import_lines(catalog, lines)
    assert (summary.created, summary.failed) == (1, 2)
    assert [e.line for e in summary.errors] == [2, 3]
    assert "already used by product" in summary.errors[0].field_violations[0].description
    assert summary.errors[1].field_violations[0].field == "status"
    imported = await catalog.stub.GetProduct(catalog_pb2.GetProductRequest(slug=fresh))
    assert imported.status == catalog_pb2.PRODUCT_STATUS_ACTIVE and list(imported.channels) == [catalog_pb2.CHANNEL_WEB]


async def test_import_requires_admin_or_service(catalog: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.ImportProducts(demo.import_requests(["{}"]), metadata=catalog.CUSTOMER)
    assert parse_rpc_error(caught.value).code == grpc.StatusCode.PERMISSION_DENIED
