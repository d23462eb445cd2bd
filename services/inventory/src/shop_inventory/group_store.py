"""The statements of a group of Reserves (`reserve_group`), compiled once, on the driver.

A group inserts its new reservation rows in one statement (the unique id still makes a concurrent
Reserve of the same id, in any process, wait for the first and then find it taken), and applies every
successful request in one more: stock, allocations, events, and the removal of the rows of refused
requests. Events carry the trace headers of their own request, one JSON object per row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert

from shop_inventory.domain import Allocation, Fulfilment, ReservationStatus
from shop_inventory.events import Staged
from shop_inventory.store import outbox, reservation_allocations, reservations, stock
from shopkit.outbox_driver import event_rows
from shopkit.sqldriver import DriverConnection, DriverQuery

_TEXTS = ARRAY(sa.Text)
_INTS = ARRAY(sa.BigInteger)


def _unnest(name: str, type_: ARRAY[Any]) -> sa.ColumnElement[Any]:
    return sa.func.unnest(sa.bindparam(name, type_=type_))


# --- new reservation rows ------------------------------------------------------------------------

_NEW = sa.select(
    _unnest("ids", _TEXTS).label("id"),
    _unnest("pickup_store_ids", _TEXTS).label("pickup_store_id"),
    _unnest("ship_countries", _TEXTS).label("ship_country"),
    _unnest("allow_splits", ARRAY(sa.Boolean)).label("allow_split"),
    _unnest("fingerprints", _TEXTS).label("fingerprint"),
    _unnest("ttls", ARRAY(sa.Interval)).label("ttl"),
).subquery("new")

_INSERT_RESERVATIONS = DriverQuery(
    insert(reservations)
    .from_select(
        ["id", "status", "pickup_store_id", "ship_country", "allow_split", "fingerprint", "expires_at"],
        sa.select(
            _NEW.c.id,
            sa.literal(ReservationStatus.ACTIVE.value, sa.Text),
            _NEW.c.pickup_store_id,
            _NEW.c.ship_country,
            _NEW.c.allow_split,
            _NEW.c.fingerprint,
            sa.func.now() + _NEW.c.ttl,
        ).order_by(_NEW.c.id),  # rows of several ids are taken in id order, as every writer does
    )
    .on_conflict_do_nothing()
    .returning(reservations.c.id, reservations.c.expires_at, reservations.c.created_at, reservations.c.updated_at)
)


@dataclass(frozen=True, slots=True)
class NewReservation:
    reservation_id: str
    fulfilment: Fulfilment
    allow_split: bool
    fingerprint: str
    ttl: timedelta


@dataclass(frozen=True, slots=True)
class Inserted:
    expires_at: datetime
    created_at: datetime
    updated_at: datetime


async def insert_reservations(conn: DriverConnection, new: Sequence[NewReservation]) -> dict[str, Inserted]:
    """Insert active reservations (ids distinct); those whose id exists already are left out."""
    rows = await conn.fetch(
        _INSERT_RESERVATIONS,
        ids=[n.reservation_id for n in new],
        pickup_store_ids=[n.fulfilment.store_id or None for n in new],
        ship_countries=[n.fulfilment.ship_country for n in new],
        allow_splits=[n.allow_split for n in new],
        fingerprints=[n.fingerprint for n in new],
        ttls=[n.ttl for n in new],
    )
    return {row["id"]: Inserted(row["expires_at"], row["created_at"], row["updated_at"]) for row in rows}


# --- outbox rows with headers of their own -------------------------------------------------------


@dataclass
class Events:
    """Outbox rows of several requests, each row with its request's trace headers."""

    ids: list[uuid.UUID] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)

    def add(self, staged: Staged, headers: Mapping[str, str]) -> None:
        rows = event_rows(staged)
        encoded = json.dumps(dict(headers))
        self.ids.extend(rows.ids)
        self.subjects.extend(rows.subjects)
        self.payloads.extend(rows.payloads)
        self.headers.extend([encoded] * len(rows.ids))

    def params(self) -> dict[str, Any]:
        return {
            "event_ids": self.ids,
            "event_subjects": self.subjects,
            "event_payloads": self.payloads,
            "event_headers": self.headers,
        }


_EVENT_ROWS = sa.select(
    _unnest("event_ids", ARRAY(UUID(as_uuid=True))).label("id"),
    _unnest("event_subjects", _TEXTS).label("subject"),
    _unnest("event_payloads", ARRAY(sa.LargeBinary)).label("payload"),
    sa.cast(_unnest("event_headers", _TEXTS), JSONB).label("headers"),
)
_OUTBOX_COLUMNS = ["id", "subject", "payload", "headers"]
_STAGE = outbox.insert().from_select(_OUTBOX_COLUMNS, _EVENT_ROWS)
_STAGE_EVENTS = DriverQuery(_STAGE)


async def stage_events(conn: DriverConnection, rows: Events) -> None:
    if rows.ids:
        await conn.execute(_STAGE_EVENTS, **rows.params())


# --- applying a group of Reserves ----------------------------------------------------------------


def _apply_statement() -> sa.Select[Any]:
    """Add the group's total per stock row to `reserved` where that much is available, record each
    reservation's allocations, remove the rows of refused requests and stage the events; the count of
    stock rows changed tells whether every row held."""
    wanted = sa.select(
        _unnest("skus", _TEXTS).label("sku"),
        _unnest("location_ids", _TEXTS).label("location_id"),
        _unnest("quantities", _INTS).label("quantity"),
    ).cte("wanted")
    changed = (
        stock.update()
        .values(reserved=stock.c.reserved + wanted.c.quantity, updated_at=sa.func.now())
        .where(
            stock.c.sku == wanted.c.sku,
            stock.c.location_id == wanted.c.location_id,
            stock.c.on_hand - stock.c.reserved >= wanted.c.quantity,
        )
        .returning(stock.c.sku)
        .cte("changed")
    )
    allocated = (
        reservation_allocations.insert()
        .from_select(
            ["reservation_id", "sku", "location_id", "quantity"],
            sa.select(
                _unnest("a_reservation_ids", _TEXTS),
                _unnest("a_skus", _TEXTS),
                _unnest("a_location_ids", _TEXTS),
                _unnest("a_quantities", _INTS),
            ),
        )
        .cte("allocated")
    )
    refused = (
        reservations.delete()
        .where(reservations.c.id == sa.any_(sa.bindparam("refused_ids", type_=_TEXTS)))
        .cte("refused")
    )
    staged = outbox.insert().from_select(_OUTBOX_COLUMNS, _EVENT_ROWS).cte("staged")
    return sa.select(sa.func.count().label("changed")).select_from(changed).add_cte(allocated, refused, staged)


_APPLY = DriverQuery(_apply_statement())


async def apply_reserves(
    conn: DriverConnection,
    allocations: Mapping[str, Sequence[Allocation]],
    refused: Sequence[str],
    events: Events,
) -> bool:
    """Reserve every reservation's allocations (one statement); False when some stock row had less
    than planned (the caller rolls the transaction back)."""
    totals: dict[tuple[str, str], int] = {}
    rows: list[tuple[str, Allocation]] = []
    for reservation_id, parts in allocations.items():
        for a in parts:
            totals[(a.sku, a.location_id)] = totals.get((a.sku, a.location_id), 0) + a.quantity
            rows.append((reservation_id, a))
    ordered = sorted(totals.items())
    row = await conn.fetchrow(
        _APPLY,
        skus=[sku for (sku, _), _ in ordered],
        location_ids=[location_id for (_, location_id), _ in ordered],
        quantities=[quantity for _, quantity in ordered],
        a_reservation_ids=[reservation_id for reservation_id, _ in rows],
        a_skus=[a.sku for _, a in rows],
        a_location_ids=[a.location_id for _, a in rows],
        a_quantities=[a.quantity for _, a in rows],
        refused_ids=list(refused),
        **events.params(),
    )
    assert row is not None
    return bool(row["changed"] == len(ordered))
