"""Events the inventory service publishes, staged in the outbox inside the caller's transaction.

The service consumes no events: the checkout saga drives reservations through gRPC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.inventory.v1 import events_pb2
from shop_inventory import store
from shop_inventory.domain import (
    Cause,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockVersions,
    crossed_low_stock,
)
from shopkit.outbox import add_events

STOCK_LEVEL_CHANGED = "shop.inventory.stock_level_changed"
LOW_STOCK = "shop.inventory.low_stock"
RESERVATION_COMMITTED = "shop.inventory.reservation_committed"
RESERVATION_RELEASED = "shop.inventory.reservation_released"
RESERVATION_EXPIRED = "shop.inventory.reservation_expired"


Staged = list[tuple[str, Message, str]]


async def stock_changed(
    conn: AsyncConnection,
    levels: Sequence[StockLevel],
    *,
    cause: Cause,
    before: Mapping[str, int],
    after: Mapping[str, int],
    threshold: Callable[[str], int],
    versions: StockVersions,
) -> None:
    """Stage `stock_events` in the caller's (SQLAlchemy) transaction."""
    staged = stock_events(levels, cause=cause, before=before, after=after, threshold=threshold, versions=versions)
    await add_events(conn, store.outbox, staged)


def stock_events(
    levels: Sequence[StockLevel],
    *,
    cause: Cause,
    before: Mapping[str, int],
    after: Mapping[str, int],
    threshold: Callable[[str], int],
    versions: StockVersions,
) -> Staged:
    """StockLevelChanged for every changed (sku, location), each with the SKU's next stock version
    (the caller stores `versions.taken()` with its change); LowStock for every SKU whose total
    availability crossed its threshold downwards. `before`/`after` are exact: the SKUs are locked."""
    staged: Staged = [
        (
            STOCK_LEVEL_CHANGED,
            events_pb2.StockLevelChanged(
                sku=level.sku,
                location_id=level.location_id,
                on_hand=level.on_hand,
                reserved=level.reserved,
                available=level.available,
                total_available=after.get(level.sku, 0),
                cause=cause.value,
                stock_version=versions.take(level.sku),
            ),
            level.sku,
        )
        for level in levels
    ]
    staged.extend(
        (LOW_STOCK, events_pb2.LowStock(sku=sku, total_available=after.get(sku, 0), threshold=threshold(sku)), sku)
        for sku in sorted({level.sku for level in levels})
        if crossed_low_stock(before.get(sku, 0), after.get(sku, 0), threshold(sku))
    )
    return staged


def reservations_finished(batch: Sequence[Reservation], status: ReservationStatus, reason: str = "") -> Staged:
    """ReservationCommitted, ReservationReleased or ReservationExpired for reservations that left `active`."""
    return [_finished(reservation, status, reason) for reservation in batch]


def _finished(reservation: Reservation, status: ReservationStatus, reason: str) -> tuple[str, Message, str]:
    rid = reservation.reservation_id
    allocations = [
        events_pb2.AllocatedStock(sku=a.sku, location_id=a.location_id, quantity=a.quantity)
        for a in reservation.allocations
    ]
    if status is ReservationStatus.COMMITTED:
        return RESERVATION_COMMITTED, events_pb2.ReservationCommitted(reservation_id=rid, allocations=allocations), rid
    if status is ReservationStatus.RELEASED:
        return (
            RESERVATION_RELEASED,
            events_pb2.ReservationReleased(reservation_id=rid, allocations=allocations, reason=reason),
            rid,
        )
    expired_at = Timestamp()
    expired_at.FromDatetime(reservation.expires_at)
    return (
        RESERVATION_EXPIRED,
        events_pb2.ReservationExpired(reservation_id=rid, allocations=allocations, expired_at=expired_at),
        rid,
    )
