"""Composition root of the checkout service: `shop-checkout serve | migrate | settings`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shop.checkout.v1 import checkout_pb2, checkout_pb2_grpc
from shop_checkout import access, events, store
from shop_checkout.api import CheckoutServicer
from shop_checkout.engine import SagaEngine, kill_process, policy_from
from shop_checkout.payments import Payments
from shop_checkout.peers import Peers
from shop_checkout.personal_data import CheckoutPersonalData
from shop_checkout.settings import CheckoutSettings
from shop_checkout.steps.executor import StepExecutor
from shopkit.cli import service_cli
from shopkit.runtime import Runtime, open_runtime


async def build_service(
    settings: CheckoutSettings, *, crash: Callable[[str], None] = kill_process
) -> tuple[Runtime, SagaEngine]:
    """The runtime and its saga engine (tests reach the engine; `crash` is the fault-injection hook)."""
    runtime = await open_runtime("checkout", settings, outbox=store.outbox)
    peers = Peers(settings)
    payments = Payments.from_settings(settings)
    executor = StepExecutor(peers, payments, policy_from(settings), allow_split=settings.allow_split_shipments)
    engine = SagaEngine(runtime.db, runtime.relay, executor, settings, crash=crash)
    servicer = CheckoutServicer(engine, peers, settings)
    servicer.personal_data = CheckoutPersonalData(runtime.db, runtime.relay)
    runtime.service.add_servicer(
        checkout_pb2_grpc.add_CheckoutServiceServicer_to_server,
        servicer,
        checkout_pb2.DESCRIPTOR.services_by_name["CheckoutService"].full_name,
        access.CALLERS,
    )
    handlers = events.EventHandlers(engine.policy, engine.wake_recovery, peers.review, peers.order_of)
    runtime.consume(
        store.inbox,
        name=events.ORDER_CONSUMER,
        source_service="order",
        subjects=[events.ORDER_CONFIRMED, events.ORDER_CANCELLED],
        handler=handlers.handle_order_event,
    )
    runtime.consume(
        store.inbox,
        name=events.FRAUD_CONSUMER,
        source_service="fraud",
        subjects=[events.REVIEW_DECIDED],
        handler=handlers.handle_review_decided,
        prefetch=handlers.fetch_review,
    )
    runtime.service.add_worker("saga-recovery", engine.recover_forever)
    runtime.service.on_stop(peers.close)
    runtime.service.on_stop(payments.close)
    # Runs first (hooks run in reverse): stop the sagas and hand back their leases while the
    # database is still open.
    runtime.service.on_stop(engine.stop)
    return runtime, engine


async def build(settings: CheckoutSettings) -> Runtime:
    runtime, _ = await build_service(settings)
    return runtime


async def serve(settings: CheckoutSettings) -> None:
    runtime = await build(settings)
    await runtime.service.run()


main = service_cli("checkout", CheckoutSettings, serve, Path(__file__).parent / "migrations")
