"""The statements of the purchase path (availability, reads and locks, the stock moves of Commit,
Release and expiry; a group of Reserves writes with `group_store`), compiled once and run on the
asyncpg driver (`shopkit.sqldriver`): a few round trips per call instead of a dozen SQLAlchemy
executions.

They keep the lock order of `store` (reservation rows -> `skus` rows -> `stock` rows). A SKU's row is
locked in a statement of its own, so every statement after it reads the stock as it is under the lock:
the availability that allocation sees and the totals of the low-stock check are exact. The stock change
itself stays a single conditional statement behind the CHECK constraints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from shop_inventory.domain import (
    Allocation,
    Candidate,
    Fulfilment,
    Location,
    LocationType,
    LockedSkus,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockVersions,
)
from shop_inventory.store import (
    SAVE_VERSIONS,
    locations,
    reservation_allocations,
    reservations,
    skus,
    stock,
    version_params,
)
from shop_inventory.store import outbox as outbox_table
from shopkit.outbox_driver import OutboxWriter
from shopkit.sqldriver import DriverConnection, DriverQuery, Row

outbox = OutboxWriter(outbox_table)

_TEXTS = ARRAY(sa.Text)
_INTS = ARRAY(sa.BigInteger)


def _array(name: str, type_: ARRAY[Any]) -> sa.ColumnElement[Any]:
    return sa.func.unnest(sa.bindparam(name, type_=type_))


def _any(column: sa.ColumnElement[Any], name: str, type_: ARRAY[Any] = _TEXTS) -> sa.ColumnElement[bool]:
    return column == sa.any_(sa.bindparam(name, type_=type_))


# --- locations and availability ---------------------------------------------------------------------

_LOCATION = DriverQuery(sa.select(locations).where(locations.c.id == sa.bindparam("location_id")))

_CANDIDATES = DriverQuery(
    sa.select(
        stock.c.sku,
        stock.c.location_id,
        locations.c.type,
        locations.c.country,
        locations.c.priority,
        locations.c.click_and_collect,
        locations.c.name,
        stock.c.on_hand,
        stock.c.reserved,
    )
    .join(locations, locations.c.id == stock.c.location_id)
    .where(_any(stock.c.sku, "skus"), locations.c.active, stock.c.on_hand > stock.c.reserved)
)

_THRESHOLDS = DriverQuery(sa.select(skus.c.sku, skus.c.low_stock_threshold).where(_any(skus.c.sku, "skus")))

_LOCK_SKUS = DriverQuery(
    sa.select(skus.c.sku, skus.c.low_stock_threshold, skus.c.stock_version)
    .where(_any(skus.c.sku, "skus"))
    .order_by(skus.c.sku)
    .with_for_update()
)


def location(row: Row) -> Location:
    return Location(
        location_id=row["id"],
        type=LocationType(row["type"]),
        name=row["name"],
        country=row["country"],
        address=dict(row["address"] or {}),
        priority=row["priority"],
        click_and_collect=row["click_and_collect"],
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def get_location(conn: DriverConnection, location_id: str) -> Location | None:
    row = await conn.fetchrow(_LOCATION, location_id=location_id)
    return location(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class Stocked:
    """A candidate location with the stock row behind it (to know the row after a change)."""

    candidate: Candidate
    level: StockLevel


async def candidates(conn: DriverConnection, sku_list: Sequence[str]) -> list[Stocked]:
    """Available stock of the SKUs at every active location: the input of allocation and availability."""
    rows = await conn.fetch(_CANDIDATES, skus=sorted(set(sku_list)))
    return [
        Stocked(
            Candidate(
                row["sku"],
                row["location_id"],
                LocationType(row["type"]),
                row["country"],
                row["priority"],
                row["click_and_collect"],
                row["on_hand"] - row["reserved"],
                row["name"],
            ),
            StockLevel(row["sku"], row["location_id"], row["on_hand"], row["reserved"]),
        )
        for row in rows
    ]


async def thresholds_of(conn: DriverConnection, sku_list: Sequence[str]) -> dict[str, int | None]:
    rows = await conn.fetch(_THRESHOLDS, skus=sorted(set(sku_list)))
    return {row["sku"]: row["low_stock_threshold"] for row in rows}


async def lock_skus(conn: DriverConnection, sku_list: Sequence[str]) -> LockedSkus:
    """Lock the SKUs' rows in sku order (see `store`); returns their own thresholds and stock versions."""
    rows = await conn.fetch(_LOCK_SKUS, skus=sorted(set(sku_list)))
    return LockedSkus(
        {row["sku"]: row["low_stock_threshold"] for row in rows},
        StockVersions({row["sku"]: row["stock_version"] for row in rows}),
    )


_SAVE_VERSIONS = DriverQuery(SAVE_VERSIONS)


async def save_versions(conn: DriverConnection, versions: StockVersions) -> None:
    """Store the stock versions a change took (see `store.save_versions`)."""
    params = version_params(versions)
    if params:
        await conn.execute(_SAVE_VERSIONS, **params)


# --- reservations ------------------------------------------------------------------------------------

# Reservation columns with their allocations, one row per allocation (a LEFT JOIN: the lock is on the
# reservation row only). Allocations are written with their reservation and never change, so the joined
# rows are exact even when the lock had to wait (the locked row itself is re-read at its latest version).
_WITH_ALLOCATIONS = (
    sa.select(
        reservations.c.id,
        reservations.c.status,
        reservations.c.pickup_store_id,
        reservations.c.ship_country,
        reservations.c.allow_split,
        reservations.c.fingerprint,
        reservations.c.expires_at,
        reservations.c.created_at,
        reservations.c.updated_at,
        sa.and_(reservations.c.status == "active", reservations.c.expires_at <= sa.func.now()).label("overdue"),
        reservation_allocations.c.sku,
        reservation_allocations.c.location_id,
        reservation_allocations.c.quantity,
    )
    .select_from(
        reservations.outerjoin(reservation_allocations, reservation_allocations.c.reservation_id == reservations.c.id)
    )
    .where(_any(reservations.c.id, "ids"))
    .order_by(reservations.c.id, reservation_allocations.c.sku, reservation_allocations.c.location_id)
)
_RESERVATIONS = DriverQuery(_WITH_ALLOCATIONS)
_RESERVATIONS_FOR_UPDATE = DriverQuery(_WITH_ALLOCATIONS.with_for_update(of=reservations))

_DUE = DriverQuery(
    sa.select(reservations.c.id)
    .where(reservations.c.status == "active", reservations.c.expires_at <= sa.func.now())
    .order_by(reservations.c.expires_at)
    .limit(sa.bindparam("limit", type_=sa.Integer))
    .with_for_update(skip_locked=True)
)


def _reservations(rows: Sequence[Row]) -> list[Reservation]:
    firsts: dict[str, Row] = {}
    allocations: dict[str, list[Allocation]] = {}
    for row in rows:
        parts = allocations.get(row["id"])
        if parts is None:
            firsts[row["id"]] = row
            parts = allocations[row["id"]] = []
        if row["sku"] is not None:
            parts.append(Allocation(row["sku"], row["location_id"], row["quantity"]))
    return [
        Reservation(
            reservation_id=reservation_id,
            status=ReservationStatus(row["status"]),
            fulfilment=Fulfilment(store_id=row["pickup_store_id"] or "", ship_country=row["ship_country"]),
            allow_split=row["allow_split"],
            allocations=tuple(allocations[reservation_id]),
            expires_at=row["expires_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            fingerprint=row["fingerprint"],
            overdue=bool(row["overdue"]),
        )
        for reservation_id, row in firsts.items()
    ]


async def get_reservations(
    conn: DriverConnection, reservation_ids: Sequence[str], *, for_update: bool = False
) -> list[Reservation]:
    """Reservations by id (in id order); `for_update` locks their rows in that order."""
    query = _RESERVATIONS_FOR_UPDATE if for_update else _RESERVATIONS
    return _reservations(await conn.fetch(query, ids=sorted(set(reservation_ids))))


async def get_reservation(
    conn: DriverConnection, reservation_id: str, *, for_update: bool = False
) -> Reservation | None:
    found = await get_reservations(conn, [reservation_id], for_update=for_update)
    return found[0] if found else None


_DELETE_EXPIRED = DriverQuery(
    sa.delete(reservations).where(
        reservations.c.id == sa.bindparam("reservation_id"), reservations.c.status == "expired"
    )
)


async def delete_expired(conn: DriverConnection, reservation_id: str) -> None:
    """An expired reservation and its allocations (ON DELETE CASCADE), to be reserved anew."""
    await conn.execute(_DELETE_EXPIRED, reservation_id=reservation_id)


async def lock_due_reservations(conn: DriverConnection, limit: int) -> list[Reservation]:
    """Claim overdue active reservations; rows another replica holds are skipped, not waited for."""
    ids = [row["id"] for row in await conn.fetch(_DUE, limit=limit)]
    return await get_reservations(conn, ids) if ids else []


# --- stock changes of reservations ------------------------------------------------------------------


def _move_statement() -> sa.Select[Any]:
    """Move stock of finished reservations and set their status (one statement). Each row: a changed
    stock row, whether its location is active, and its SKU's available total before the change (the
    statement's snapshot, taken after the SKU locks, precedes its own changes)."""
    delta = sa.select(
        _array("skus", _TEXTS).label("sku"),
        _array("location_ids", _TEXTS).label("location_id"),
        _array("d_on_hand", _INTS).label("d_on_hand"),
        _array("d_reserved", _INTS).label("d_reserved"),
    ).cte("delta")
    before = (
        sa.select(stock.c.sku, sa.cast(sa.func.sum(stock.c.on_hand - stock.c.reserved), sa.BigInteger).label("total"))
        .join(locations, locations.c.id == stock.c.location_id)
        .where(_any(stock.c.sku, "skus"), locations.c.active)
        .group_by(stock.c.sku)
        .cte("before")
    )
    moved = (
        stock.update()
        .values(
            on_hand=stock.c.on_hand + delta.c.d_on_hand,
            reserved=stock.c.reserved + delta.c.d_reserved,
            updated_at=sa.func.now(),
        )
        .where(stock.c.sku == delta.c.sku, stock.c.location_id == delta.c.location_id)
        .returning(stock.c.sku, stock.c.location_id, stock.c.on_hand, stock.c.reserved)
        .cte("moved")
    )
    target = sa.select(
        _array("reservation_ids", _TEXTS).label("id"),
        _array("statuses", _TEXTS).label("status"),
        _array("reasons", _TEXTS).label("reason"),
    ).cte("target")
    finished = (
        reservations.update()
        .where(reservations.c.id == target.c.id)
        .values(status=target.c.status, release_reason=target.c.reason, updated_at=sa.func.now())
        .returning(reservations.c.id)
        .cte("finished")
    )
    return (
        sa.select(
            moved.c.sku,
            moved.c.location_id,
            moved.c.on_hand,
            moved.c.reserved,
            locations.c.active,
            sa.func.coalesce(before.c.total, 0).label("before_total"),
            sa.func.now().label("now"),
        )
        .join(locations, locations.c.id == moved.c.location_id)
        .outerjoin(before, before.c.sku == moved.c.sku)
        .add_cte(finished)
    )


_MOVE = DriverQuery(_move_statement())


@dataclass(frozen=True)
class Moved:
    levels: list[StockLevel]
    active: set[tuple[str, str]]  # the (sku, location) rows at active locations
    before: dict[str, int]  # available over active locations per SKU, before and after the move
    after: dict[str, int]
    at: datetime | None  # the transaction's now(): the reservations' new updated_at


async def finish_reservations(
    conn: DriverConnection,
    targets: Sequence[tuple[str, ReservationStatus, str]],
    deltas: Mapping[tuple[str, str], tuple[int, int]],
) -> Moved:
    """Apply (on_hand delta, reserved delta) per (sku, location) and set each reservation's status and
    reason (`targets`: id, status, reason); the CHECK constraints reject any result below zero or with
    more reserved than on hand."""
    ordered = sorted(deltas.items())
    rows = await conn.fetch(
        _MOVE,
        skus=[sku for (sku, _), _ in ordered],
        location_ids=[location_id for (_, location_id), _ in ordered],
        d_on_hand=[d_on_hand for _, (d_on_hand, _) in ordered],
        d_reserved=[d_reserved for _, (_, d_reserved) in ordered],
        reservation_ids=[reservation_id for reservation_id, _, _ in targets],
        statuses=[status.value for _, status, _ in targets],
        reasons=[reason for _, _, reason in targets],
    )
    before: dict[str, int] = {}
    after: dict[str, int] = {}
    levels = []
    active = set()
    for row in rows:
        sku = row["sku"]
        levels.append(StockLevel(sku, row["location_id"], row["on_hand"], row["reserved"]))
        if row["active"]:
            active.add((sku, row["location_id"]))
        before.setdefault(sku, row["before_total"])
        after.setdefault(sku, row["before_total"])
        if row["active"]:
            d_on_hand, d_reserved = deltas[(sku, row["location_id"])]
            after[sku] += d_on_hand - d_reserved
    at = rows[0]["now"] if rows else None
    return Moved(sorted(levels, key=lambda lv: (lv.sku, lv.location_id)), active, before, after, at)
