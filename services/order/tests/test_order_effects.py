"""What the order owes other systems, performed for real: stock back to the inventory service,
voids, captures and refunds at the payment sandbox; durably (a crash loses nothing), once (the
idempotency key), and retried through an outage."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import grpc

from shop.inventory.v1 import inventory_pb2
from shop.order.v1 import order_pb2
from shop_order.effects import EffectWorker
from shop_order.payments import PaymentProvider
from shop_order.stock import StockReturner
from shopkit.auth import metadata_for
from shopkit.testing import eventually, free_port

if TYPE_CHECKING:
    from conftest import Sandbox, Shop, StartOrder

SERVICE = metadata_for("service")
S = order_pb2


def sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:10]}"


async def reservation_is(shop: Shop, reservation_id: str, status: int) -> bool:
    return (await shop.inventory.reservation(reservation_id)).status == status


def worker_for(shop: Shop) -> EffectWorker:
    """An effect worker on `shop`'s database, like the one a restarted replica runs."""
    settings = shop.settings
    return EffectWorker(
        shop.runtime.db,
        shop.runtime.relay,
        PaymentProvider(settings.payment_provider_url, 3.0),
        StockReturner(settings.inventory_addr, 3.0),
        max_attempts=5,
        max_backoff=0.2,
        poll_interval=0.1,
    )


async def close(worker: EffectWorker) -> None:
    await worker.payments.close()
    await worker.stock.close()


# --- cancellation gives stock and money back ------------------------------------------------------------


async def test_cancel_releases_the_reservation_and_voids_the_authorisation(shop: Shop) -> None:
    item = sku()
    warehouse = await shop.inventory.stocked({item: 10})
    checkout_id = str(uuid.uuid4())
    await shop.inventory.reserve(checkout_id, {item: 3})
    assert await shop.inventory.levels(item) == {warehouse: (10, 3)}
    order = await shop.place(checkout_id=checkout_id, lines={item: (3, 1000)}, customer_id="alice")

    cancelled = await shop.cancel(order.order_id, S.CANCELLATION_REASON_CUSTOMER_REQUEST, shop.customer("alice"))

    assert (cancelled.status, cancelled.payment_status) == (S.ORDER_STATUS_CANCELLED, S.PAYMENT_STATUS_VOIDED)
    await eventually(lambda: reservation_is(shop, checkout_id, inventory_pb2.RESERVATION_STATUS_RELEASED))
    assert await shop.inventory.levels(item) == {warehouse: (10, 0)}
    authorisation = await shop.sandbox.authorization(order.payment.authorisation_id)
    assert authorisation["status"] == "voided"
    assert await shop.effects(order.order_id) == {"void": ("succeeded", 1), "release_stock": ("succeeded", 1)}


async def test_cancelling_a_captured_order_after_its_stock_was_committed_restocks_and_refunds(shop: Shop) -> None:
    item = sku()
    warehouse = await shop.inventory.stocked({item: 10})
    checkout_id = str(uuid.uuid4())
    await shop.inventory.reserve(checkout_id, {item: 4})
    order = await shop.place(checkout_id=checkout_id, lines={item: (4, 250)}, shipping=0)
    await shop.inventory.stub.Commit(inventory_pb2.CommitRequest(reservation_id=checkout_id), metadata=SERVICE)
    await shop.capture(order.order_id)
    assert await shop.inventory.levels(item) == {warehouse: (6, 0)}

    cancelled = await shop.cancel(order.order_id)

    assert (cancelled.status, cancelled.payment_status, cancelled.payment.refunded_amount.amount) == (
        S.ORDER_STATUS_CANCELLED,
        S.PAYMENT_STATUS_REFUNDED,
        1000,
    )
    assert [(r.refund_id, r.amount.amount) for r in cancelled.refunds] == [("cancellation", 1000)]

    async def settled() -> bool:
        return all(status == "succeeded" for status, _ in (await shop.effects(order.order_id)).values())

    await eventually(settled)
    # Nothing of the committed reservation shipped: the goods go back where they were taken from.
    assert await shop.inventory.levels(item) == {warehouse: (10, 0)}
    authorisation = await shop.sandbox.authorization(order.payment.authorisation_id)
    assert (authorisation["amount_captured"], authorisation["amount_refunded"]) == (1000, 1000)
    refunded = await shop.get(order.order_id)
    assert refunded.refunds[0].provider_refund_id == authorisation["refunds"][0]["id"]
    assert await shop.cancel(order.order_id) == refunded  # a repeat changes and owes nothing
    assert len(await shop.effects(order.order_id)) == 3  # capture, refund, release_stock


async def test_cancelling_a_held_order_returns_stock_checkout_reserved_for_the_hold(shop: Shop) -> None:
    item = sku()
    warehouse = await shop.inventory.stocked({item: 2})
    reservation_id = f"res-{uuid.uuid4().hex}"
    await shop.inventory.reserve(reservation_id, {item: 2})
    order = await shop.place(lines={item: (2, 100)}, fraud_review_id="rev-9", reservation_id=reservation_id)
    assert order.reservation_id == reservation_id

    await shop.cancel(order.order_id, S.CANCELLATION_REASON_FRAUD_REJECTED, SERVICE)

    await eventually(lambda: reservation_is(shop, reservation_id, inventory_pb2.RESERVATION_STATUS_RELEASED))
    assert await shop.inventory.levels(item) == {warehouse: (2, 0)}


# --- durable and applied once ------------------------------------------------------------------------------


async def test_an_effect_recorded_before_a_crash_is_performed_after_it_exactly_once(
    shop: Shop, start_order: StartOrder, isolated_database: str
) -> None:
    # A replica without effect workers: it records what it owes and "dies" before performing it.
    async with start_order(isolated_database, effects_enabled=False, capture_on_fulfilment=True) as replica:
        order = await replica.place(lines={"SKU-Z": (1, 700)}, shipping=0)
        shipped = await replica.fulfil(order)
        assert shipped.payment_status == S.PAYMENT_STATUS_AUTHORISED
        assert await replica.effects(order.order_id) == {"capture": ("pending", 0)}
        # The dead worker had reached the provider before the crash (its commit was lost).
        key = f"order:{order.order_id}:capture"
        response = await replica.sandbox.http.post(
            f"/v1/authorizations/{order.payment.authorisation_id}/capture",
            json={"amount": 700},
            headers={"Idempotency-Key": key},
        )
        assert response.status_code == 200

        worker = worker_for(replica)  # the restarted replica's worker
        try:
            assert await worker.perform_due()
            assert not await worker.perform_due()  # nothing left to do
        finally:
            await close(worker)

        final = await replica.get(order.order_id, full=True)
        assert (final.payment_status, final.payment.captured_amount.amount) == (S.PAYMENT_STATUS_CAPTURED, 700)
        assert [h.change for h in final.history].count(S.ORDER_CHANGE_PAYMENT_CAPTURED) == 1
        authorisation = await replica.sandbox.authorization(order.payment.authorisation_id)
        assert (authorisation["amount_captured"], len(authorisation["captures"])) == (700, 1)


async def test_a_cancellation_drops_a_capture_that_was_never_attempted(
    shop: Shop, start_order: StartOrder, isolated_database: str
) -> None:
    async with start_order(isolated_database, effects_enabled=False) as replica:
        order = await replica.place(lines={"SKU-Q": (1, 300)}, shipping=0)
        # CapturePayment recorded its capture and the process died before performing it.
        await replica.sql(
            "INSERT INTO order_effects (order_id, kind, target, idempotency_key, amount) "
            "VALUES (:o, 'capture', 'payment', :k, 300)",
            o=order.order_id,
            k=f"order:{order.order_id}:capture",
        )
        cancelled = await replica.cancel(order.order_id)
        assert cancelled.payment_status == S.PAYMENT_STATUS_VOIDED
        worker = worker_for(replica)
        try:
            while await worker.perform_due():
                pass
        finally:
            await close(worker)
        effects = await replica.effects(order.order_id)
        assert effects["capture"] == ("superseded", 0) and effects["void"] == ("succeeded", 1)
        authorisation = await replica.sandbox.authorization(order.payment.authorisation_id)
        assert (authorisation["status"], authorisation["amount_captured"]) == ("voided", 0)


async def test_a_provider_outage_is_retried_until_the_capture_succeeds(
    shop: Shop,
    start_order: StartOrder,
    start_sandbox: Callable[[int], AbstractAsyncContextManager[Sandbox]],
    isolated_database: str,
) -> None:
    port = free_port()  # nothing listens here yet: the provider is down
    async with start_order(
        isolated_database, payment_provider_url=f"http://127.0.0.1:{port}", effects_max_backoff_seconds=0.2
    ) as replica:
        order = await replica.place(lines={"SKU-O": (1, 900)}, shipping=0)
        unavailable = await replica.fails(replica.capture(order.order_id))
        assert (unavailable.code, unavailable.reason) == (grpc.StatusCode.UNAVAILABLE, "PAYMENT_PROVIDER_UNAVAILABLE")
        status, attempts = (await replica.effects(order.order_id))["capture"]
        assert status == "pending" and attempts >= 1
        # A cancellation now cannot know whether the capture went through: it is refused for now.
        busy = await replica.fails(replica.cancel(order.order_id))
        assert (busy.code, busy.reason) == (grpc.StatusCode.ABORTED, "PAYMENT_OPERATION_IN_PROGRESS")
        assert (await replica.get(order.order_id)).status == S.ORDER_STATUS_CONFIRMED

        async with start_sandbox(port):  # the provider is back
            await eventually(lambda: _captured(replica, order.order_id))
            cancelled = await replica.cancel(order.order_id)
            assert cancelled.payment_status == S.PAYMENT_STATUS_REFUNDED
            await eventually(lambda: _refunded(replica.sandbox, order.payment.authorisation_id, 900))
        authorisation = await replica.sandbox.authorization(order.payment.authorisation_id)
        assert (authorisation["amount_captured"], len(authorisation["captures"])) == (900, 1)


async def _captured(shop: Shop, order_id: str) -> bool:
    return (await shop.get(order_id)).payment_status == S.PAYMENT_STATUS_CAPTURED


async def _refunded(sandbox: Sandbox, authorisation_id: str, amount: int) -> bool:
    body: dict[str, Any] = await sandbox.authorization(authorisation_id)
    return bool(body["amount_refunded"] == amount)


async def test_a_provider_outage_longer_than_the_attempts_never_fails_a_confirmed_orders_capture(
    shop: Shop,
    start_order: StartOrder,
    start_sandbox: Callable[[int], AbstractAsyncContextManager[Sandbox]],
    isolated_database: str,
) -> None:
    port = free_port()  # the provider is down
    settings = {"effects_max_attempts": 2, "effects_max_backoff_seconds": 0.2}
    async with start_order(isolated_database, payment_provider_url=f"http://127.0.0.1:{port}", **settings) as replica:
        order = await replica.place(lines={"SKU-W": (1, 700)}, shipping=0)
        for _ in range(4):  # checkout repeating CapturePayment through the outage: each call is an attempt
            refused = await replica.fails(replica.capture(order.order_id))
            assert (refused.code, refused.reason) == (grpc.StatusCode.UNAVAILABLE, "PAYMENT_PROVIDER_UNAVAILABLE")
        status, attempts = (await replica.effects(order.order_id))["capture"]
        assert status == "pending" and attempts >= 4  # past max_attempts, within the retry window
        async with start_sandbox(port):
            await eventually(lambda: _captured(replica, order.order_id))
        assert (await replica.get(order.order_id)).status == S.ORDER_STATUS_CONFIRMED
