"""Fault injection for system tests: FAULT_CRASH_AT with FAULT_CRASH_ARMED_FILE crashes once per arming.

A process the launcher restarts keeps its environment, so a plain FAULT_CRASH_AT would crash again on
every recovery of the same saga; the armed file makes it one crash, and leaves a stack with the fault
configured dormant until a test arms it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shop.checkout.v1 import checkout_pb2

if TYPE_CHECKING:
    from conftest import Shop

POINT = "after:authorise_payment"


async def test_an_armed_crash_point_fires_once_and_only_while_armed(shop: Shop, tmp_path: Path) -> None:
    armed = tmp_path / "checkout-crash.armed"
    crashes: list[str] = []  # the hook only records: the saga goes on as if the process had survived
    sku = await shop.sku(price=1000, stock=10)

    async def place() -> checkout_pb2.PlaceOrderResponse:
        buyer = shop.customer()
        request = shop.request(await shop.new_cart(buyer, {sku: 1}), buyer, payment_method=await shop.card())
        placed = await shop.place(request, buyer, stub=stub)
        assert placed.status == checkout_pb2.CHECKOUT_STATUS_COMPLETED, placed
        return placed

    async with shop.another_checkout(crash=crashes.append, fault_crash_at=POINT, fault_crash_armed_file=str(armed)) as (
        _,
        stub,
    ):
        await place()
        assert crashes == []  # configured but not armed: no crash

        armed.touch()
        await place()
        assert crashes == [POINT] and not armed.exists()  # disarmed before the crash

        await place()
        assert crashes == [POINT]  # one arming, one crash
