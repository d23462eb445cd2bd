"""Crash safety: a checkout process that dies anywhere in the saga is resumed, and the saga completes
or compensates exactly once, with stock and money balanced.

- `shop-checkout serve` as a real subprocess that kills itself with SIGKILL right after the
  payment was authorised (FAULT_CRASH_AT), then is started again under the same instance name;
- in process: a replica whose saga task "dies" at a named point (the fault hook raises past every
  handler, the lease stays taken), and another replica that takes over once the lease lapsed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
import sqlalchemy as sa

from shop.checkout.v1 import checkout_pb2, checkout_pb2_grpc
from shopkit.testing import free_port

if TYPE_CHECKING:
    from conftest import Shop

C = checkout_pb2
SHOP_CHECKOUT = str(Path(sys.executable).parent / "shop-checkout")


class SimulatedCrash(BaseException):
    """Raised by the fault hook: passes every `except Exception`, like a process dying there."""


class CrashOnce:
    def __init__(self) -> None:
        self.points: list[str] = []

    def __call__(self, point: str) -> None:
        if not self.points:
            self.points.append(point)
            raise SimulatedCrash(point)

    async def fired(self, within: float = 20.0) -> list[str]:
        for _ in range(int(within / 0.02)):
            if self.points:
                return self.points
            await asyncio.sleep(0.02)
        raise AssertionError("the saga never reached the crash point")


async def checkout_id_of(shop: Shop, key: str) -> str:
    async with shop.runtime.db.connect() as conn:
        found = await conn.execute(sa.text("SELECT id FROM checkouts WHERE idempotency_key = :k"), {"k": key})
        return str(found.scalar_one())


async def wait_exit(process: subprocess.Popen[bytes], within: float = 20.0) -> int:
    for _ in range(int(within / 0.05)):
        code = process.poll()
        if code is not None:
            return code
        await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError("the process did not exit")


async def serving(port: int, within: float = 30.0) -> grpc.aio.Channel:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    await asyncio.wait_for(channel.channel_ready(), within)
    return channel


async def test_kill_9_after_the_authorisation_then_restart_completes_exactly_once(shop: Shop, tmp_path: Path) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=2200, stock=6)
    cart_id = await shop.new_cart(buyer, {sku: 2})
    request = shop.request(cart_id, buyer, payment_method=await shop.card())
    port = free_port()
    instance = shop.unique("checkout-pod")
    # A long lease: only the restarted process (same instance name) may resume the saga.
    env = shop.environment(grpc_port=str(port), instance_name=instance, lease_seconds="60", log_level="INFO")
    log = (tmp_path / "checkout.log").open("wb")

    crashing = subprocess.Popen(
        [SHOP_CHECKOUT, "serve"], env={**env, "FAULT_CRASH_AT": "after:authorise_payment"}, stdout=log, stderr=log
    )
    try:
        channel = await serving(port)
        stub = checkout_pb2_grpc.CheckoutServiceStub(channel)
        error = await shop.fails(shop.place(request, buyer, stub=stub))
        assert error.code == grpc.StatusCode.UNAVAILABLE  # the process died under the call
        assert await wait_exit(crashing) == -9
        await channel.close(grace=None)
    finally:
        if crashing.poll() is None:
            crashing.kill()

    checkout_id = await checkout_id_of(shop, request.idempotency_key)
    died = await shop.checkout(checkout_id)
    assert died.status == C.CHECKOUT_STATUS_RUNNING and died.steps[-1].kind == C.CHECKOUT_STEP_KIND_AUTHORISE_PAYMENT
    assert died.steps[-1].state == C.STEP_STATE_RUNNING  # the authorisation's answer was never recorded
    assert await shop.authorizations(checkout_id) == [("authorized", 0)]
    assert await shop.orders_of(checkout_id) == 0

    restarted = subprocess.Popen([SHOP_CHECKOUT, "serve"], env=env, stdout=log, stderr=log)
    try:
        done = await shop.settled(checkout_id, within=30)
        channel = await serving(port)
        stub = checkout_pb2_grpc.CheckoutServiceStub(channel)
        again = await shop.place(request, buyer, stub=stub)  # the client's retry: the same outcome
        await channel.close(grace=None)
    finally:
        restarted.terminate()
        exit_code = await wait_exit(restarted)
    assert exit_code == 0
    assert done.status == C.CHECKOUT_STATUS_COMPLETED, done
    assert again.checkout_id == checkout_id and again.order_id == done.order_id
    assert await shop.authorizations(checkout_id) == [("captured", 4400)]
    assert await shop.orders_of(checkout_id) == 1
    assert await shop.stock(sku) == {shop.warehouse: (4, 0)}


@pytest.mark.parametrize(
    "point",
    [
        "after:reserve_stock",
        "after:authorise_payment",
        "before:create_order",
        "after:create_order",
        "after:commit_stock",
        "after:capture_payment",
        "before:clear_cart",
    ],
)
async def test_another_replica_completes_a_saga_whose_runner_died(shop: Shop, point: str) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1000, stock=5)
    code = await shop.coupon(percent_bp=5000)
    cart_id = await shop.new_cart(buyer, {sku: 2}, coupon=code)
    request = shop.request(cart_id, buyer, payment_method=await shop.card())
    crash = CrashOnce()
    # This replica never recovers anything itself; the session's checkout (recovery every 0.2 s) does.
    settings = {"lease_seconds": 1.0, "recovery_interval_seconds": 60.0, "place_order_wait_seconds": 0.5}
    async with shop.another_checkout(crash=crash, fault_crash_at=point, **settings) as (_, stub):
        placed = await shop.place(request, buyer, stub=stub)
        assert await crash.fired() == [point]
        done = await shop.settled(placed.checkout_id)

    assert done.status == C.CHECKOUT_STATUS_COMPLETED, done
    assert await shop.orders_of(placed.checkout_id) == 1
    assert await shop.authorizations(placed.checkout_id) == [("captured", 1000)]
    assert await shop.stock(sku) == {shop.warehouse: (3, 0)}
    assert await shop.coupon_uses(code) == 1


async def test_a_compensation_interrupted_by_a_crash_is_finished_by_another_replica(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1000, stock=5)
    code = await shop.coupon(percent_bp=1000)
    cart_id = await shop.new_cart(buyer, {sku: 2}, coupon=code)
    request = shop.request(cart_id, buyer, payment_method=await shop.card(shop.CARD_DECLINED))
    crash = CrashOnce()
    settings = {"lease_seconds": 1.0, "recovery_interval_seconds": 60.0, "place_order_wait_seconds": 0.5}
    async with shop.another_checkout(crash=crash, fault_crash_at="after:undo:redeem_coupon", **settings) as (_, stub):
        placed = await shop.place(request, buyer, stub=stub)
        assert await crash.fired() == ["after:undo:redeem_coupon"]
        done = await shop.settled(placed.checkout_id)

    assert done.status == C.CHECKOUT_STATUS_FAILED and done.failure.code == C.FAILURE_CODE_PAYMENT_DECLINED
    assert await shop.coupon_uses(code) == 0
    assert await shop.stock(sku) == {shop.warehouse: (5, 0)}
    assert await shop.orders_of(placed.checkout_id) == 0
    assert await shop.authorizations(placed.checkout_id) == [("declined", 0)]


async def test_a_stopping_replica_hands_its_sagas_over_at_once(shop: Shop) -> None:
    buyer = shop.customer()
    sku = await shop.sku(price=1000, stock=5)
    cart_id = await shop.new_cart(buyer, {sku: 1})
    request = shop.request(cart_id, buyer, payment_method=await shop.card())
    crash = CrashOnce()
    settings = {"lease_seconds": 600.0, "recovery_interval_seconds": 60.0, "place_order_wait_seconds": 0.5}
    async with shop.another_checkout(crash=crash, fault_crash_at="before:create_order", **settings) as (_, stub):
        placed = await shop.place(request, buyer, stub=stub)
        assert await crash.fired() == ["before:create_order"]
    # The replica stopped gracefully and released the lease: no waiting for the 10 minutes.
    done = await shop.settled(placed.checkout_id, within=10)
    assert done.status == C.CHECKOUT_STATUS_COMPLETED
    assert await shop.authorizations(placed.checkout_id) == [("captured", 1000)]
