"""Composition root of the catalog service: `shop-catalog serve | migrate | settings`."""

from __future__ import annotations

from pathlib import Path

from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop_catalog import access, backfill, events, store
from shop_catalog.api import CatalogServicer
from shop_catalog.import_worker import ImportWorker
from shop_catalog.settings import CatalogSettings
from shopkit.cli import service_cli
from shopkit.runtime import Runtime, open_runtime


async def build(settings: CatalogSettings) -> Runtime:
    runtime = await open_runtime("catalog", settings, outbox=store.outbox)
    servicer = CatalogServicer(runtime, settings)
    runtime.service.add_servicer(
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server,
        servicer,
        catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name,
        access.CALLERS,
    )
    # The search projection follows pricing's base prices and inventory's stock levels.
    runtime.consume(
        store.inbox,
        name=events.PRICES_CONSUMER,
        source_service="pricing",
        subjects=[events.PRICE_CHANGED],
        handler=events.handle_price_changed,
        batch_handler=events.handle_price_changes,
    )
    runtime.consume(
        store.inbox,
        name=events.STOCK_CONSUMER,
        source_service="inventory",
        subjects=[events.STOCK_LEVEL_CHANGED],
        handler=events.handle_stock_level_changed,
        batch_handler=events.handle_stock_levels,
    )
    if settings.import_worker:
        # Durable product imports (StartProductImport): any replica's worker runs any import.
        worker = ImportWorker(runtime.db, settings, on_commit=servicer._committed)
        runtime.service.add_worker("product-imports", worker.run)
    # The search projection's backfill from pricing and inventory: once on a catalog that never ran
    # one (any replica, one at a time), and whenever RebuildSearchProjection asks.
    wiring = backfill.from_settings(runtime.db, settings)
    if wiring is not None:
        servicer.backfill = wiring.backfill
        runtime.service.add_worker(
            "search-backfill", lambda: wiring.backfill.run_forever(settings.search_backfill_poll_seconds)
        )
        runtime.service.on_stop(wiring.close)
    return runtime


async def serve(settings: CatalogSettings) -> None:
    runtime = await build(settings)
    await runtime.service.run()


main = service_cli("catalog", CatalogSettings, serve, Path(__file__).parent / "migrations")
