"""GetProduct answers from memory: this process's writes show at once, another replica's within the
TTL, and a read that raced a write never brings the old product back."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop_catalog.main import build
from shop_catalog.product_cache import ProductCache
from shop_catalog.settings import CatalogSettings
from shopkit.testing import running


@pytest.fixture
async def shelf(catalog: Any) -> catalog_pb2.Category:
    category: catalog_pb2.Category = await catalog.category(catalog.unique("shelf"))
    return category


async def rename(stub: Any, catalog: Any, product: catalog_pb2.Product, name: str) -> catalog_pb2.Product:
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=product.id, name=name),
        update_mask=FieldMask(paths=["name"]),
        expected_version=product.version,
    )
    updated: catalog_pb2.Product = await stub.UpdateProduct(request, metadata=catalog.ADMIN)
    return updated


async def test_this_replicas_writes_show_at_once(catalog: Any, shelf: catalog_pb2.Category) -> None:
    created = await catalog.create(catalog.product(catalog.unique("lamp"), shelf.id, [catalog.unique("SKU")]))
    for key in ({"id": created.id}, {"slug": created.slug}):
        assert (await catalog.stub.GetProduct(catalog_pb2.GetProductRequest(**key))).name == created.name
    renamed = await rename(catalog.stub, catalog, created, "Renamed Lamp")
    for key in ({"id": created.id}, {"slug": created.slug}):
        found = await catalog.stub.GetProduct(catalog_pb2.GetProductRequest(**key))
        assert (found.name, found.version) == ("Renamed Lamp", renamed.version)
    await catalog.stub.DiscontinueProduct(catalog_pb2.DiscontinueProductRequest(id=created.id), metadata=catalog.ADMIN)
    # A discontinued product is shown to staff only (see test_catalog_visibility).
    found = await catalog.stub.GetProduct(catalog_pb2.GetProductRequest(id=created.id), metadata=catalog.SERVICE)
    assert found.status == catalog_pb2.PRODUCT_STATUS_DISCONTINUED


async def test_another_replicas_writes_show_within_the_ttl(
    catalog: Any, catalog_database_url: str, nats_url: str, shelf: catalog_pb2.Category
) -> None:
    settings = CatalogSettings(
        database_url=catalog_database_url,
        nats_url=nats_url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        log_format="text",
        product_cache_seconds=0.5,
        pricing_addr="",  # no search backfill: no pricing or inventory here
        inventory_addr="",
    )
    async with (
        running(build, settings) as replica,
        grpc.aio.insecure_channel(f"127.0.0.1:{replica.service.port}") as channel,
    ):
        other = catalog_pb2_grpc.CatalogServiceStub(channel)  # type: ignore[no-untyped-call]
        created = await catalog.create(catalog.product(catalog.unique("desk"), shelf.id, [catalog.unique("SKU")]))
        request = catalog_pb2.GetProductRequest(id=created.id)
        assert (await other.GetProduct(request)).version == created.version
        renamed = await rename(catalog.stub, catalog, created, "Standing Desk")  # through the other replica
        assert (await other.GetProduct(request)).version == created.version  # still its answer from memory
        await asyncio.sleep(0.6)
        assert (await other.GetProduct(request)).version == renamed.version


def test_a_read_that_raced_a_write_is_not_kept_and_the_cache_is_bounded() -> None:
    now = [0.0]
    cache = ProductCache(ttl_seconds=1.0, max_entries=2, clock=lambda: now[0])
    old = catalog_pb2.Product(id="p", name="old")
    generation = cache.generation  # a read starts...
    cache.changed()  # ...a write commits meanwhile...
    cache.put((("id", "p"),), old, generation)  # ...and the read ends with what it saw before
    assert cache.get(("id", "p")) is None
    for name in ("a", "b", "c"):
        cache.put((("slug", name),), catalog_pb2.Product(slug=name), cache.generation)
    assert cache.get(("slug", "a")) is None and len(cache) == 2
    now[0] = 1.0
    assert cache.get(("slug", "c")) is None
