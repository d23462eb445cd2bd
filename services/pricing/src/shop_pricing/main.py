"""Composition root of the pricing service: `shop-pricing serve | migrate | settings`."""

from __future__ import annotations

from pathlib import Path

from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shop_pricing import access, events, store
from shop_pricing.api import PricingServicer
from shop_pricing.settings import PricingSettings
from shopkit.cli import service_cli
from shopkit.runtime import Runtime, open_runtime


async def build(settings: PricingSettings) -> Runtime:
    runtime = await open_runtime("pricing", settings, outbox=store.outbox)
    servicer = PricingServicer(runtime, settings)
    runtime.service.add_servicer(
        pricing_pb2_grpc.add_PricingServiceServicer_to_server,
        servicer,
        pricing_pb2.DESCRIPTOR.services_by_name["PricingService"].full_name,
        access.CALLERS,
    )
    runtime.consume(
        store.inbox,
        name=events.DYNAMIC_PRICING_CONSUMER,
        source_service="inventory",
        subjects=[events.STOCK_LEVEL_CHANGED],
        handler=events.handle_stock_level_changed,
        batch_handler=events.handle_stock_levels,
    )
    if servicer.feeds.worker is not None:
        runtime.service.add_worker("price-feed-worker", servicer.feeds.worker.run)
    return runtime


async def serve(settings: PricingSettings) -> None:
    runtime = await build(settings)
    await runtime.service.run()


main = service_cli("pricing", PricingSettings, serve, Path(__file__).parent / "migrations")
