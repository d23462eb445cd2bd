"""Composition root of the cart service: `shop-cart serve | migrate | settings`."""

from __future__ import annotations

from pathlib import Path

from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2
from shop.inventory.v1 import inventory_pb2
from shop.pricing.v1 import pricing_pb2
from shop_cart import access, store
from shop_cart.api import CartServicer
from shop_cart.operations import Carts, Clock, system_clock
from shop_cart.peers import Peers
from shop_cart.personal_data import CartPersonalData
from shop_cart.settings import CartSettings
from shop_cart.sweeper import Sweeper
from shopkit.cli import service_cli
from shopkit.clients import make_channel
from shopkit.runtime import Runtime, open_runtime


async def build(settings: CartSettings, clock: Clock = system_clock) -> Runtime:
    """`clock` is the service's notion of now (tests pass one they can move)."""
    runtime = await open_runtime("cart", settings, outbox=store.outbox)
    timeout, identity = settings.default_call_timeout_seconds, runtime.service.tls
    channels = [
        make_channel(
            settings.catalog_addr, [catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]], timeout, tls=identity
        ),
        make_channel(
            settings.pricing_addr, [pricing_pb2.DESCRIPTOR.services_by_name["PricingService"]], timeout, tls=identity
        ),
        make_channel(
            settings.inventory_addr,
            [inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"]],
            timeout,
            tls=identity,
        ),
    ]

    async def close_channels() -> None:
        for channel in channels:
            await channel.close(grace=None)

    runtime.service.on_stop(close_channels)
    carts = Carts(runtime.db, runtime.relay, Peers(*channels), settings, clock)
    servicer = CartServicer(carts, settings)
    servicer.personal_data = CartPersonalData(runtime.db, runtime.relay)
    runtime.service.add_servicer(
        cart_pb2_grpc.add_CartServiceServicer_to_server,
        servicer,
        cart_pb2.DESCRIPTOR.services_by_name["CartService"].full_name,
        access.CALLERS,
    )
    if settings.sweeper_enabled:
        for name, step in (
            ("abandoned-cart-sweeper", carts.abandon_idle),
            ("request-retention-sweeper", carts.forget_old_requests),
        ):
            sweeper = Sweeper(
                name, step, batch_size=settings.sweeper_batch_size, interval=settings.sweeper_interval_seconds
            )
            runtime.service.add_worker(name, sweeper.run)
    return runtime


async def serve(settings: CartSettings) -> None:
    runtime = await build(settings)
    await runtime.service.run()


main = service_cli("cart", CartSettings, serve, Path(__file__).parent / "migrations")
