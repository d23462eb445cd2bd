"""Composition root of the fraud service: `shop-fraud serve | migrate | settings`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from shop.fraud.v1 import fraud_pb2, fraud_pb2_grpc
from shop_fraud import access, events, shipped, store
from shop_fraud.api import FraudServicer
from shop_fraud.domain.purchase import Hasher
from shop_fraud.operations import Clock, Fraud, utc_now
from shop_fraud.personal_data import FraudPersonalData
from shop_fraud.settings import FraudSettings
from shop_fraud.sweeper import RetentionSweeper
from shopkit.cli import service_cli
from shopkit.runtime import Runtime, open_runtime


async def build(settings: FraudSettings, *, clock: Clock = utc_now) -> Runtime:
    """`clock` is what the service takes as "now" (tests move it to exercise the time windows)."""
    runtime = await open_runtime("fraud", settings, outbox=store.outbox)
    hasher = Hasher(settings.counter_key_secret.encode())
    fraud = Fraud(
        runtime.db,
        settings.policy(),
        shipped.load_model(),
        hasher,
        clock=clock,
        history_orders=settings.history_orders,
        deny_on_reject=settings.deny_list_on_reject,
        relay=runtime.relay,
    )
    servicer = FraudServicer(fraud)
    servicer.personal_data = FraudPersonalData(runtime.db, runtime.relay)
    runtime.service.add_servicer(
        fraud_pb2_grpc.add_FraudServiceServicer_to_server,
        servicer,
        fraud_pb2.DESCRIPTOR.services_by_name["FraudService"].full_name,
        access.CALLERS,
    )
    consumers = events.Consumers(hasher, clock)
    runtime.consume(
        store.inbox,
        name=events.ORDER_CONSUMER,
        source_service="order",
        subjects=[events.ORDER_PLACED, events.ORDER_CANCELLED],
        handler=consumers.handle_order_event,
    )
    runtime.consume(
        store.inbox,
        name=events.CHECKOUT_CONSUMER,
        source_service="checkout",
        subjects=[events.CHECKOUT_FAILED],
        handler=consumers.handle_checkout_failed,
    )
    if settings.sweeper_enabled:
        sweeper = RetentionSweeper(
            runtime.db,
            clock,
            observation_retention=timedelta(days=settings.observation_retention_days),
            history_retention=timedelta(days=settings.history_days),
            batch_size=settings.sweeper_batch_size,
            interval=settings.sweeper_interval_seconds,
        )
        runtime.service.add_worker("retention-sweeper", sweeper.run)
    return runtime


async def serve(settings: FraudSettings) -> None:
    runtime = await build(settings)
    await runtime.service.run()


main = service_cli("fraud", FraudSettings, serve, Path(__file__).parent / "migrations")
