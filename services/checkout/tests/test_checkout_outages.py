"""Outages of a peer before the payment is authorised: waited out within the retry budget, and past it
a failure that says so (UNAVAILABLE, nothing charged), which a repeat of the same request under the
same idempotency key runs again to an order.

The peer is fraud: a checkout replica is started with a fraud address where nothing listens yet, and
a real fraud service is started on that address while the saga retries.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from shop.checkout.v1 import checkout_pb2
from shop_fraud.main import build as build_fraud
from shop_fraud.settings import FraudSettings
from shop_fraud.testing import predictable
from shopkit.testing import free_port, peer

if TYPE_CHECKING:
    from conftest import Shop

C = checkout_pb2
pytestmark = pytest.mark.timeout(120)


def _fraud_settings(shop: Shop) -> dict[str, Any]:
    return predictable(blocked_domain=shop.BLOCKED_DOMAIN, review_country=shop.REVIEW_COUNTRY)


async def test_a_peer_down_for_longer_than_the_attempts_but_within_the_budget_is_waited_out(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1000, stock=5)
    request = shop.request(await shop.new_cart(buyer, {sku: 1}), buyer, payment_method=await shop.card())
    port = free_port()
    replica: dict[str, Any] = {
        "fraud_addr": f"127.0.0.1:{port}",
        "step_retry_budget_seconds": 60.0,
        "place_order_wait_seconds": 0.5,
    }
    async with shop.another_checkout(**replica) as (_, stub):
        placed = await shop.place(request, buyer, stub=stub)
        assert placed.status == C.CHECKOUT_STATUS_RUNNING  # the client is told to poll (HTTP 202)
        await asyncio.sleep(2.0)  # several times the 3 attempts of a step (pauses of 0.05-0.5 s)
        waiting = await shop.checkout(placed.checkout_id)
        assess = next(s for s in waiting.steps if s.kind == C.CHECKOUT_STEP_KIND_ASSESS_FRAUD)
        assert waiting.status == C.CHECKOUT_STATUS_RUNNING and assess.attempts > 3, waiting
        fraud = _fraud_settings(shop)
        async with peer(build_fraud, FraudSettings, shop.postgres, shop.nats_url, grpc_port=port, **fraud):
            done = await shop.settled(placed.checkout_id, within=30)

    assert done.status == C.CHECKOUT_STATUS_COMPLETED, done
    assert await shop.orders_of(placed.checkout_id) == 1
    assert await shop.authorizations(placed.checkout_id) == [("captured", 1000)]


async def test_past_the_budget_it_fails_as_unavailable_and_the_same_key_runs_it_again(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1000, stock=5)
    code = await shop.coupon(percent_bp=1000)
    request = shop.request(await shop.new_cart(buyer, {sku: 2}, coupon=code), buyer, payment_method=await shop.card())
    replica: dict[str, Any] = {"fraud_addr": f"127.0.0.1:{free_port()}", "step_retry_budget_seconds": 1.0}
    async with shop.another_checkout(**replica) as (_, stub):
        failed = await shop.place(request, buyer, stub=stub)

    assert failed.status == C.CHECKOUT_STATUS_FAILED, failed
    assert failed.failure.code == C.FAILURE_CODE_UNAVAILABLE
    assert failed.failure.step == C.CHECKOUT_STEP_KIND_ASSESS_FRAUD
    assert "nothing was charged" in failed.failure.message
    assert await shop.stock(sku) == {shop.warehouse: (5, 0)}
    assert await shop.coupon_uses(code) == 0

    # The same request again, fraud reachable (the session's replica): a new attempt of the key.
    again = await shop.place(request, buyer)
    assert again.status == C.CHECKOUT_STATUS_COMPLETED, again
    assert again.checkout_id != failed.checkout_id and again.order_id
    repeat = await shop.place(request, buyer)  # and from then on the key answers with that attempt
    assert (repeat.checkout_id, repeat.order_id) == (again.checkout_id, again.order_id)

    assert await shop.orders_of(again.checkout_id) == 1
    assert await shop.authorizations(again.checkout_id) == [("captured", 1800)]
    assert await shop.authorizations(failed.checkout_id) == []
    assert await shop.stock(sku) == {shop.warehouse: (3, 0)}
    assert await shop.coupon_uses(code) == 1
    async with shop.runtime.db.connect() as conn:
        attempts = await conn.execute(
            sa.text("SELECT attempt, status FROM checkouts WHERE idempotency_key = :key ORDER BY attempt"),
            {"key": request.idempotency_key},
        )
        assert [tuple(row) for row in attempts] == [(1, "failed"), (2, "completed")]


async def test_a_failure_that_is_an_answer_is_not_run_again(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1000, stock=5)
    request = shop.request(
        await shop.new_cart(buyer, {sku: 1}), buyer, payment_method=await shop.card(shop.CARD_DECLINED)
    )
    declined = await shop.place(request, buyer)
    assert declined.failure.code == C.FAILURE_CODE_PAYMENT_DECLINED
    repeat = await shop.place(request, buyer)
    assert repeat.checkout_id == declined.checkout_id and repeat.failure.code == C.FAILURE_CODE_PAYMENT_DECLINED
    assert await shop.checkout_rows(idempotency_key=request.idempotency_key) == 1
