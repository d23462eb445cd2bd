"""Events leave through the outbox and reach JetStream's SHOP_INVENTORY stream."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from shop.inventory.v1 import events_pb2, inventory_pb2
from shop_inventory import events
from shopkit.auth import metadata_for

if TYPE_CHECKING:
    from conftest import Inventory

SERVICE = metadata_for("service")


async def test_stock_and_reservation_events_reach_nats(inventory: Inventory, nats_url: str) -> None:
    sku = inventory.sku()
    warehouse = await inventory.location("wh")
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            "shop.inventory.>", stream="SHOP_INVENTORY", config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        )
        await inventory.stock(sku, {warehouse: 6})
        await inventory.reserve(f"res-{sku}", {sku: 2})  # 4 left: at the default threshold of 5 -> low stock
        await inventory.stub.Release(
            inventory_pb2.ReleaseRequest(reservation_id=f"res-{sku}", reason="abandoned"), metadata=SERVICE
        )

        received: list[tuple[str, bytes, dict[str, str]]] = []
        expected = {events.STOCK_LEVEL_CHANGED: 3, events.LOW_STOCK: 1, events.RESERVATION_RELEASED: 1}

        def complete() -> bool:
            subjects = [subject for subject, _, _ in received]
            return all(subjects.count(subject) >= count for subject, count in expected.items())

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                while not complete():
                    msg = await sub.next_msg(timeout=10)
                    received.append((msg.subject, msg.data, dict(msg.headers or {})))
                    await msg.ack()
        await sub.unsubscribe()
    finally:
        await nc.close()

    changes = [
        events_pb2.StockLevelChanged.FromString(data)
        for subject, data, _ in received
        if subject == events.STOCK_LEVEL_CHANGED
    ]
    ours = [c for c in changes if c.sku == sku]
    assert [(c.cause, c.on_hand, c.reserved, c.available, c.total_available) for c in ours] == [
        ("set", 6, 0, 6, 6),
        ("reserve", 6, 2, 4, 4),
        ("release", 6, 0, 6, 6),
    ]
    assert all(c.location_id == warehouse and c.meta.event_id and c.meta.aggregate_id == sku for c in ours)
    headers = [h for subject, _, h in received if subject == events.STOCK_LEVEL_CHANGED]
    assert all("Nats-Msg-Id" in h for h in headers)
    low = [events_pb2.LowStock.FromString(data) for subject, data, _ in received if subject == events.LOW_STOCK]
    assert [(e.sku, e.total_available, e.threshold) for e in low] == [(sku, 4, 5)]
    released = [
        events_pb2.ReservationReleased.FromString(data)
        for subject, data, _ in received
        if subject == events.RESERVATION_RELEASED
    ]
    assert [(e.reservation_id, e.reason, [(a.sku, a.quantity) for a in e.allocations]) for e in released] == [
        (f"res-{sku}", "abandoned", [(sku, 2)]),
    ]
