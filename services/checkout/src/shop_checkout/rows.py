"""The statements of the purchase path, compiled once and run on the driver (`shopkit.sqldriver`).

A checkout's state travels as JSON text both ways (pydantic encodes and parses it; PostgreSQL casts
it to and from JSONB), and every write of the saga is one conditional UPDATE: it applies only while
the runner still holds the lease and the row is at the version the runner last wrote or read. An
event handler's write in between bumps the version (`store.save`), so the runner re-reads and
re-applies its step to the row as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert

from shop_checkout.domain.model import ACTIVE, Checkout
from shop_checkout.store import ONE_LIVE_CHECKOUT_PER_CART, checkouts, codec, columns, outbox
from shopkit.db import Database, DriverQuery
from shopkit.outbox_driver import OutboxWriter, Staged

_STATE = sa.cast(checkouts.c.state, sa.Text).label("state")
_OUTBOX = OutboxWriter(outbox)
_ID = sa.bindparam("id", type_=sa.Text)


class CartTaken(Exception):
    """Another live checkout holds the cart (ONE_LIVE_CHECKOUT_PER_CART)."""


@dataclass(frozen=True)
class Loaded:
    checkout: Checkout
    owner: str | None
    version: int


def _values() -> dict[str, Any]:
    """SET values of a state write: the derived columns, the state, the lease."""
    return {
        "status": sa.bindparam("v_status"),
        "step": sa.bindparam("v_step"),
        "order_id": sa.bindparam("v_order_id", type_=sa.Text),
        "total_amount": sa.bindparam("v_total_amount", type_=sa.BigInteger),
        "currency": sa.bindparam("v_currency", type_=sa.Text),
        "state": sa.cast(sa.bindparam("v_state", type_=sa.Text), JSONB),
        "hold_expires_at": sa.bindparam("v_hold_expires_at", type_=sa.DateTime(timezone=True)),
        "updated_at": sa.bindparam("v_updated_at", type_=sa.DateTime(timezone=True)),
        "finished_at": sa.bindparam("v_finished_at", type_=sa.DateTime(timezone=True)),
        "lease_owner": sa.bindparam("v_lease_owner", type_=sa.Text),
        # NULL (no lease) when v_lease_for is NULL.
        "lease_expires_at": sa.func.now() + sa.bindparam("v_lease_for", type_=sa.Interval),
    }


_INSERT = DriverQuery(
    insert(checkouts)
    .values(
        id=sa.cast(_ID, sa.Uuid),
        customer_key=sa.bindparam("customer_key"),
        idempotency_key=sa.bindparam("idempotency_key"),
        fingerprint=sa.bindparam("fingerprint"),
        cart_id=sa.bindparam("cart_id"),
        customer_id=sa.bindparam("customer_id"),
        account_id=sa.bindparam("account_id"),
        created_at=sa.bindparam("created_at", type_=sa.DateTime(timezone=True)),
        attempt=sa.bindparam("attempt", type_=sa.Integer),
        **_values(),
    )
    .on_conflict_do_nothing(index_elements=[checkouts.c.customer_key, checkouts.c.idempotency_key, checkouts.c.attempt])
    .returning(checkouts.c.version)
)
_WRITE = DriverQuery(
    checkouts.update()
    .where(
        checkouts.c.id == sa.cast(_ID, sa.Uuid),
        checkouts.c.lease_owner == sa.bindparam("owner", type_=sa.Text),
        checkouts.c.version == sa.bindparam("version", type_=sa.BigInteger),
    )
    .values(version=checkouts.c.version + 1, **_values())
    .returning(checkouts.c.version)
)
_LOAD = DriverQuery(
    sa.select(_STATE, checkouts.c.lease_owner, checkouts.c.version).where(checkouts.c.id == sa.cast(_ID, sa.Uuid))
)
_BY_KEY = DriverQuery(
    sa.select(_STATE)
    .where(
        checkouts.c.customer_key == sa.bindparam("customer_key"),
        checkouts.c.idempotency_key == sa.bindparam("idempotency_key"),
    )
    .order_by(checkouts.c.attempt.desc())
    .limit(1)
)


def _params(c: Checkout, owner: str | None, lease_seconds: float) -> dict[str, Any]:
    values = columns(c)
    values["state"] = codec.dump_json(c).decode()
    leased = owner is not None and c.status in ACTIVE
    values["lease_owner"] = owner if leased else None
    values["lease_for"] = timedelta(seconds=lease_seconds) if leased else None
    return {f"v_{name}": value for name, value in values.items()}


def _parse(state: str) -> Checkout:
    return codec.validate_json(state)


async def insert_checkout(db: Database, c: Checkout, *, owner: str, lease_seconds: float) -> int | None:
    """Insert a new checkout leased to `owner`: its version, or None when its idempotency key (and
    attempt) is taken. CartTaken when another live checkout has the cart."""
    try:
        rows = await db.fetch(
            _INSERT,
            id=c.checkout_id,
            customer_key=c.customer_key,
            idempotency_key=c.request.idempotency_key,
            fingerprint=c.fingerprint,
            cart_id=c.request.cart_id,
            customer_id=c.request.customer.customer_id,
            account_id=c.request.customer.account_id,
            created_at=c.created_at,
            attempt=c.attempt,
            **_params(c, owner, lease_seconds),
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == ONE_LIVE_CHECKOUT_PER_CART:
            raise CartTaken(c.request.cart_id) from exc
        raise
    return int(rows[0]["version"]) if rows else None


async def write(
    db: Database, c: Checkout, *, owner: str, version: int, lease_seconds: float, events: Staged = ()
) -> int | None:
    """Write a new state while `owner` holds the lease and the row is at `version`: the new version,
    or None when either changed (a lease taken over, or an event recorded meanwhile). `events` are
    staged in the outbox in the same transaction."""
    params = _params(c, owner, lease_seconds)
    if not events:
        rows = await db.fetch(_WRITE, id=c.checkout_id, owner=owner, version=version, **params)
        return int(rows[0]["version"]) if rows else None
    async with db.driver_transaction() as conn:
        row = await conn.fetchrow(_WRITE, id=c.checkout_id, owner=owner, version=version, **params)
        if row is None:
            return None
        await _OUTBOX.add(conn, events)
    return int(row["version"])


async def load(db: Database, checkout_id: str) -> Loaded | None:
    rows = await db.fetch(_LOAD, id=checkout_id)
    if not rows:
        return None
    row = rows[0]
    return Loaded(_parse(row["state"]), row["lease_owner"], int(row["version"]))


async def find_by_key(db: Database, customer_key: str, idempotency_key: str) -> Checkout | None:
    """The latest attempt of the checkout placed with this key."""
    rows = await db.fetch(_BY_KEY, customer_key=customer_key, idempotency_key=idempotency_key)
    return _parse(rows[0]["state"]) if rows else None
