"""Composition root of the inventory service."""

from __future__ import annotations

from pathlib import Path

from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop_inventory import access, store
from shop_inventory.api import InventoryServicer
from shop_inventory.settings import InventorySettings
from shop_inventory.sweeper import ReservationSweeper
from shopkit.cli import service_cli
from shopkit.runtime import Runtime, open_runtime


async def build(settings: InventorySettings) -> Runtime:
    runtime = await open_runtime("inventory", settings, outbox=store.outbox)
    servicer = InventoryServicer(runtime, settings)
    runtime.service.add_servicer(
        inventory_pb2_grpc.add_InventoryServiceServicer_to_server,
        servicer,
        inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name,
        access.CALLERS,
    )
    if settings.sweeper_enabled:
        sweeper = ReservationSweeper(
            servicer.inventory, batch_size=settings.sweeper_batch_size, interval=settings.sweeper_interval_seconds
        )
        runtime.service.add_worker("reservation-sweeper", sweeper.run)
    if servicer.feeds.worker is not None:
        runtime.service.add_worker("stock-feed-worker", servicer.feeds.worker.run)
    return runtime


async def serve(settings: InventorySettings) -> None:
    runtime = await build(settings)
    await runtime.service.run()


main = service_cli("inventory", InventorySettings, serve, Path(__file__).parent / "migrations")
