"""Composition root of the order service."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

from shop.order.v1 import order_pb2, order_pb2_grpc
from shop_order import access, store
from shop_order.catalog_terms import CatalogTerms
from shop_order.effects import EffectWorker
from shop_order.invoice_operations import Invoices
from shop_order.operations import Orders
from shop_order.payments import PaymentProvider
from shop_order.personal_data import OrderPersonalData
from shop_order.return_api import Servicer
from shop_order.return_operations import Returns
from shop_order.settings import OrderSettings
from shop_order.stock import StockReturner
from shopkit.cli import service_cli
from shopkit.runtime import Runtime, open_runtime

log = logging.getLogger("shop_order.main")


async def build(settings: OrderSettings) -> Runtime:
    runtime = await open_runtime("order", settings, outbox=store.outbox)
    orders = Orders(runtime.db, runtime.relay, capture_on_fulfilment=settings.capture_on_fulfilment)
    payments = PaymentProvider.from_settings(settings)
    stock = StockReturner(settings.inventory_addr, settings.default_call_timeout_seconds, runtime.service.tls)
    worker = EffectWorker(
        runtime.db,
        runtime.relay,
        payments,
        stock,
        max_attempts=settings.effects_max_attempts,
        retry_window=timedelta(seconds=settings.effects_retry_window_seconds),
        max_backoff=settings.effects_max_backoff_seconds,
        poll_interval=settings.effects_poll_interval_seconds,
    )
    orders.effects = worker
    catalog = CatalogTerms(settings.catalog_addr, settings.default_call_timeout_seconds, runtime.service.tls)
    servicer = Servicer(orders, Returns(orders, catalog))
    servicer.personal_data = OrderPersonalData(runtime.db, runtime.relay)
    servicer.invoices = Invoices(runtime.db, runtime.relay)
    runtime.service.add_servicer(
        order_pb2_grpc.add_OrderServiceServicer_to_server,
        servicer,
        order_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name,
        access.CALLERS,
    )
    if settings.effects_enabled:
        for i in range(settings.effects_concurrency):
            runtime.service.add_worker(f"effects-{i}", worker.run)
    if settings.completion_enabled:
        window = timedelta(days=settings.return_window_days)
        runtime.service.add_worker(
            "completion-sweeper",
            lambda: sweep_completions(
                orders, window, settings.completion_batch_size, settings.completion_interval_seconds
            ),
        )
    runtime.service.on_stop(payments.close)
    runtime.service.on_stop(stock.close)
    runtime.service.on_stop(catalog.close)
    return runtime


async def sweep_completions(orders: Orders, window: timedelta, batch: int, interval: float) -> None:
    """Complete orders whose return window passed; every replica runs one (SKIP LOCKED batches)."""
    while True:
        try:
            done = await orders.complete_due(window, batch)
        except Exception:
            log.exception("completion sweep failed; retrying")
            done = 0
        if done < batch:
            await asyncio.sleep(interval)


async def serve(settings: OrderSettings) -> None:
    runtime = await build(settings)
    await runtime.service.run()


main = service_cli("order", OrderSettings, serve, Path(__file__).parent / "migrations")
