"""Composition root of the catalog service: `shop-catalog serve | migrate | settings`."""

from __future__ import annotations

from pathlib import Path

from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop_catalog import access, store
from shop_catalog.api import CatalogServicer
from shop_catalog.settings import CatalogSettings
from shopkit.cli import service_cli
from shopkit.runtime import Runtime, open_runtime


async def build(settings: CatalogSettings) -> Runtime:
    runtime = await open_runtime("catalog", settings, outbox=store.outbox)
    runtime.service.add_servicer(
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server,
        CatalogServicer(runtime, settings),
        catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name,
        access.CALLERS,
    )
    # The catalog consumes no events and has no periodic jobs.
    return runtime


async def serve(settings: CatalogSettings) -> None:
    runtime = await build(settings)
    await runtime.service.run()


main = service_cli("catalog", CatalogSettings, serve, Path(__file__).parent / "migrations")
