"""The statements on owed effects (table order_effects), prepared once and run on the driver.

Lock order: an effect row (claimed by the worker) may be held while the order row is locked, never
the other way round: writers holding an order only look at effects with SKIP LOCKED. An effect is
read with what its call needs of its order (authorisation, reservation), which is never locked here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from shop_order.domain.model import EffectKind
from shop_order.store import order_effects, orders, refunds
from shopkit.db import Database, DriverConnection, DriverQuery


@dataclass(frozen=True, slots=True)
class OwedEffect:
    id: int
    order_id: str
    kind: str
    idempotency_key: str
    amount: int
    refund_id: str
    status: str
    attempts: int
    last_error: str
    trace_headers: dict[str, str]
    payload: dict[str, Any]  # what the call needs beyond its order (restock entries, lines to reserve)
    created_at: datetime  # when the order's decision owed it
    authorisation_id: str  # of its order
    reservation_id: str  # of its order


_now = sa.func.now
_COLUMNS = (
    order_effects.c.id,
    sa.cast(order_effects.c.order_id, sa.Text).label("order_id"),
    order_effects.c.kind,
    order_effects.c.idempotency_key,
    order_effects.c.amount,
    order_effects.c.refund_id,
    order_effects.c.status,
    order_effects.c.attempts,
    order_effects.c.last_error,
    order_effects.c.trace_headers,
    order_effects.c.payload,
    order_effects.c.created_at,
    orders.c.authorisation_id,
    orders.c.reservation_id,
)
_EFFECTS = order_effects.join(orders, orders.c.id == order_effects.c.order_id)


def _no_earlier_pending() -> sa.ColumnElement[bool]:
    """No effect recorded before this one on the same target of the same order is still pending."""
    earlier = order_effects.alias("earlier")
    return ~sa.exists().where(
        earlier.c.order_id == order_effects.c.order_id,
        earlier.c.target == order_effects.c.target,
        earlier.c.status == "pending",
        earlier.c.id < order_effects.c.id,
    )


def _select() -> sa.Select[Any]:
    return sa.select(*_COLUMNS).select_from(_EFFECTS)


_DUE = sa.and_(order_effects.c.status == "pending", order_effects.c.next_attempt_at <= _now())
_ANY_DUE = DriverQuery(sa.select(sa.exists().where(_DUE).label("due")))
_CLAIM_DUE = DriverQuery(
    _select()
    .where(_DUE, _no_earlier_pending())
    .order_by(order_effects.c.next_attempt_at)
    .limit(1)
    .with_for_update(of=order_effects, skip_locked=True)
)
_LOCK = DriverQuery(
    _select()
    .where(order_effects.c.idempotency_key == sa.bindparam("key", type_=sa.Text), _no_earlier_pending())
    .with_for_update(of=order_effects)
)
_LOCK_BY_ID = DriverQuery(
    _select()
    .where(order_effects.c.id == sa.bindparam("effect_id", type_=sa.BigInteger), _no_earlier_pending())
    .with_for_update(of=order_effects)
)
_FIND = DriverQuery(_select().where(order_effects.c.idempotency_key == sa.bindparam("key", type_=sa.Text)))
_PENDING_OF_ORDER = sa.and_(
    order_effects.c.order_id == sa.bindparam("order_id", type_=UUID(as_uuid=False)),
    order_effects.c.kind == sa.bindparam("kind", type_=sa.Text),
    order_effects.c.status == "pending",
)
_PENDING = DriverQuery(_select().where(_PENDING_OF_ORDER))
_PENDING_LOCKABLE = DriverQuery(_select().where(_PENDING_OF_ORDER).with_for_update(of=order_effects, skip_locked=True))
_FINISH = DriverQuery(
    order_effects.update()
    .where(order_effects.c.id == sa.bindparam("effect_id", type_=sa.BigInteger))
    .values(
        status=sa.bindparam("new_status", type_=sa.Text),
        reference=sa.bindparam("new_reference", type_=sa.Text),
        last_error=sa.bindparam("error", type_=sa.Text),
        attempts=order_effects.c.attempts + 1,
        updated_at=_now(),
    )
)
_RETRY_LATER = DriverQuery(
    order_effects.update()
    .where(order_effects.c.id == sa.bindparam("effect_id", type_=sa.BigInteger))
    .values(
        attempts=order_effects.c.attempts + 1,
        next_attempt_at=_now() + sa.bindparam("delay", type_=sa.Interval),
        last_error=sa.bindparam("error", type_=sa.Text),
        updated_at=_now(),
    )
)
_SUPERSEDE = DriverQuery(
    order_effects.update()
    .where(order_effects.c.id == sa.any_(sa.bindparam("effect_ids", type_=ARRAY(sa.BigInteger))))
    .values(status="superseded", updated_at=_now())
)
_SET_PROVIDER_REFUND_ID = DriverQuery(
    refunds.update()
    .where(
        refunds.c.order_id == sa.bindparam("order_id", type_=UUID(as_uuid=False)),
        refunds.c.refund_id == sa.bindparam("refund_id", type_=sa.Text),
    )
    .values(provider_refund_id=sa.bindparam("provider_refund_id", type_=sa.Text))
)


def _effect(row: Any) -> OwedEffect | None:
    return None if row is None else OwedEffect(**dict(row.items()))


async def any_due(db: Database) -> bool:
    """Whether some pending effect is due: one prepared read (autocommit), so that an idle worker
    polls without opening a unit of work."""
    [row] = await db.fetch(_ANY_DUE)
    return bool(row["due"])


async def claim_due(conn: DriverConnection) -> OwedEffect | None:
    """Lock one due pending effect whose earlier effects on the same target (of its order) are done;
    effects other workers hold are skipped. Held until the caller's transaction ends."""
    return _effect(await conn.fetchrow(_CLAIM_DUE))


async def lock(conn: DriverConnection, *, effect_id: int = 0, key: str = "") -> OwedEffect | None:
    """Lock one effect (by id or idempotency key) whose turn it is, waiting for a worker that is
    performing it."""
    if key:
        return _effect(await conn.fetchrow(_LOCK, key=key))
    return _effect(await conn.fetchrow(_LOCK_BY_ID, effect_id=effect_id))


async def find(conn: DriverConnection, key: str) -> OwedEffect | None:
    return _effect(await conn.fetchrow(_FIND, key=key))


async def pending(conn: DriverConnection, order_id: str, kind: EffectKind) -> tuple[list[OwedEffect], list[OwedEffect]]:
    """Pending effects of an order: all of them, and those this transaction could lock (the others
    are being performed right now)."""
    everything = [
        OwedEffect(**dict(row.items())) for row in await conn.fetch(_PENDING, order_id=order_id, kind=kind.value)
    ]
    if not everything:
        return [], []
    lockable = await conn.fetch(_PENDING_LOCKABLE, order_id=order_id, kind=kind.value)
    return everything, [OwedEffect(**dict(row.items())) for row in lockable]


async def finish(conn: DriverConnection, effect_id: int, status: str, *, reference: str = "", error: str = "") -> None:
    await conn.execute(_FINISH, effect_id=effect_id, new_status=status, new_reference=reference, error=error)


async def retry_later(conn: DriverConnection, effect_id: int, delay: timedelta, error: str) -> None:
    await conn.execute(_RETRY_LATER, effect_id=effect_id, delay=delay, error=error)


async def supersede(conn: DriverConnection, effect_ids: Sequence[int]) -> None:
    if effect_ids:
        await conn.execute(_SUPERSEDE, effect_ids=list(effect_ids))


async def set_provider_refund_id(
    conn: DriverConnection, order_id: str, refund_id: str, provider_refund_id: str
) -> None:
    await conn.execute(
        _SET_PROVIDER_REFUND_ID, order_id=order_id, refund_id=refund_id, provider_refund_id=provider_refund_id
    )
