"""Tables and repository functions (SQLAlchemy Core on the caller's connection).

One row per checkout. The aggregate is stored whole in `state` (JSONB, written by the saga after
every step); the columns beside it are what queries, constraints and leases need (the saga's own
hot statements are in rows.py):

- UNIQUE (customer_key, idempotency_key, attempt): one checkout per idempotency key and customer, run
  again under the same key (attempt 2, 3, ...) only after a retryable failure.
- a partial unique index on cart_id for checkouts that did not fail: at most one order per cart,
  whatever keys concurrent submits use.
- lease_owner / lease_expires_at: the replica running the saga. Recovery claims RUNNING and
  COMPENSATING checkouts whose lease lapsed with FOR UPDATE SKIP LOCKED; every write of the saga
  is conditional on still holding the lease (and on `version`, bumped by every write).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_checkout.domain.model import ACTIVE, HELD, TERMINAL, Checkout, OrderStatus, Status
from shopkit.outbox import inbox_table, outbox_table
from shopkit.personal_data import erasures_table

metadata = sa.MetaData(
    naming_convention={
        "pk": "%(table_name)s_pkey",
        "fk": "%(table_name)s_%(column_0_name)s_fkey",
        "ck": "%(table_name)s_%(constraint_name)s_check",
        "uq": "%(table_name)s_%(column_0_name)s_key",
        "ix": "%(table_name)s_%(column_0_name)s_idx",
    }
)

_now = sa.func.now


def _in(statuses: Sequence[Status] | frozenset[Status]) -> str:
    return "(" + ", ".join(f"'{s.value}'" for s in sorted(statuses)) + ")"


STATUS_VALUES = _in(list(Status))
ONE_LIVE_CHECKOUT_PER_CART = "checkouts_one_live_per_cart_idx"
IDEMPOTENCY_CONSTRAINT = "checkouts_idempotency_key"

checkouts = sa.Table(
    "checkouts",
    metadata,
    sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
    sa.Column("customer_key", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("cart_id", sa.Text, nullable=False),
    sa.Column("customer_id", sa.Text, nullable=False, server_default=""),
    sa.Column("account_id", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("step", sa.Text, nullable=False, server_default=""),
    sa.Column("order_id", sa.Text, unique=True),
    # Set once QUOTE_PRICES succeeded: what the buyer's approval period spending counts.
    sa.Column("total_amount", sa.BigInteger),
    sa.Column("currency", sa.Text),
    sa.Column("state", JSONB, nullable=False),  # storage MAIN: compressed in the row (migration 0003)
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
    sa.Column("hold_expires_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    # Bumped by every write of the state (see rows.py).
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    # 2, 3, ...: the same idempotency key run again after a retryable failure (migration 0004).
    sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("customer_key", "idempotency_key", "attempt", name=IDEMPOTENCY_CONSTRAINT),
    sa.CheckConstraint(f"status IN {STATUS_VALUES}", name="status"),
    sa.CheckConstraint("(lease_owner IS NULL) = (lease_expires_at IS NULL)", name="lease"),
    sa.CheckConstraint(f"status IN {_in(ACTIVE)} OR lease_owner IS NULL", name="lease_only_when_active"),
    sa.CheckConstraint(f"status NOT IN {_in(HELD)} OR hold_expires_at IS NOT NULL", name="hold_expiry"),
    sa.CheckConstraint(f"(status IN {_in(TERMINAL)}) = (finished_at IS NOT NULL)", name="finished"),
    sa.Index(ONE_LIVE_CHECKOUT_PER_CART, "cart_id", unique=True, postgresql_where=sa.text("status <> 'failed'")),
    # Recovery: sagas a runner should be working on.
    sa.Index("checkouts_recoverable_idx", "updated_at", postgresql_where=sa.text(f"status IN {_in(ACTIVE)}")),
    # The hold sweeper: held checkouts by expiry.
    sa.Index("checkouts_hold_expires_at_idx", "hold_expires_at", postgresql_where=sa.text(f"status IN {_in(HELD)}")),
    # ListCheckouts (newest first) overall, per customer, per status; approval-period spending.
    sa.Index("checkouts_created_at_idx", "created_at", "id"),
    sa.Index("checkouts_customer_id_idx", "customer_id", "created_at", "id"),
    sa.Index("checkouts_status_idx", "status", "created_at", "id"),
)

outbox = outbox_table(metadata)
customer_erasures = erasures_table(metadata)
inbox = inbox_table(metadata)

codec: TypeAdapter[Checkout] = TypeAdapter(Checkout)


def columns(c: Checkout) -> dict[str, Any]:
    """The columns derived from the state (the state itself is encoded by the writer)."""
    total = c.total
    return {
        "status": c.status.value,
        "step": c.current_step.kind.value if c.current_step else "",
        "order_id": c.order.order_id if c.order else None,
        "total_amount": total.amount if total else None,
        "currency": total.currency if total else None,
        "hold_expires_at": c.hold_expires_at,
        "updated_at": c.updated_at,
        "finished_at": c.finished_at,
    }


def _checkout(state: Any) -> Checkout:
    return codec.validate_python(state)


def _lease(owner: str | None, seconds: float) -> dict[str, Any]:
    if owner is None:
        return {"lease_owner": None, "lease_expires_at": None}
    return {"lease_owner": owner, "lease_expires_at": _now() + timedelta(seconds=seconds)}


async def lock(conn: AsyncConnection, checkout_id: str) -> tuple[Checkout, str | None, int] | None:
    """The checkout, its lease owner and version, row-locked for a transition."""
    row = (
        await conn.execute(
            sa.select(checkouts.c.state, checkouts.c.lease_owner, checkouts.c.version)
            .where(checkouts.c.id == checkout_id)
            .with_for_update()
        )
    ).first()
    return (_checkout(row.state), row.lease_owner, row.version) if row is not None else None


async def save(
    conn: AsyncConnection, c: Checkout, *, owner: str | None, lease_seconds: float, keep_lease: bool = False
) -> int:
    """Write a new version (bumps `version`: a runner holding the checkout in memory re-reads it).
    `owner` renews the lease (None releases it), unless `keep_lease` leaves it as it is; a checkout
    that is not RUNNING or COMPENSATING never keeps one."""
    values = columns(c)
    values["state"] = codec.dump_python(c, mode="json")
    if c.status not in ACTIVE:
        values.update(_lease(None, 0))
    elif not keep_lease:
        values.update(_lease(owner, lease_seconds))
    values["version"] = checkouts.c.version + 1
    result = await conn.execute(
        checkouts.update().where(checkouts.c.id == c.checkout_id).values(**values).returning(checkouts.c.version)
    )
    return int(result.scalar_one())


async def confirmation_changes_nothing(conn: AsyncConnection, checkout_id: str) -> bool:
    """Whether shop.order.confirmed finds nothing to record (holds.on_order_confirmed keeps the checkout
    as it is): it ended or compensates, or its order is known confirmed. Each of these facts, once
    true, stays true, so this unlocked read of three fields spares the usual case the locked read."""
    row = (
        await conn.execute(
            sa.select(
                checkouts.c.status,
                checkouts.c.state["order_confirmed"].as_boolean(),
                checkouts.c.state["order"]["status"].as_string(),
            ).where(checkouts.c.id == checkout_id)
        )
    ).first()
    if row is None:
        return False
    status, confirmed, order_status = row
    settled = status in {s.value for s in TERMINAL} or status == Status.COMPENSATING.value
    return settled or bool(confirmed) or order_status == OrderStatus.CONFIRMED.value


async def live_checkout_of_cart(conn: AsyncConnection, cart_id: str) -> Checkout | None:
    state = (
        await conn.execute(
            sa.select(checkouts.c.state).where(
                checkouts.c.cart_id == cart_id, checkouts.c.status != Status.FAILED.value
            )
        )
    ).scalar()
    return _checkout(state) if state is not None else None


async def claim_recoverable(
    conn: AsyncConnection, *, owner: str, previous_owners: str, lease_seconds: float, limit: int
) -> list[str]:
    """Lease RUNNING/COMPENSATING checkouts nobody works on: never leased, lease lapsed, or leased
    by a previous incarnation of this replica (`previous_owners` is a LIKE pattern)."""
    lapsed = sa.or_(
        checkouts.c.lease_owner.is_(None),
        checkouts.c.lease_expires_at < _now(),
        sa.and_(checkouts.c.lease_owner.like(previous_owners, escape="\\"), checkouts.c.lease_owner != owner),
    )
    ids = (
        (
            await conn.execute(
                sa.select(checkouts.c.id)
                .where(checkouts.c.status.in_([s.value for s in ACTIVE]), lapsed)
                .order_by(checkouts.c.updated_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    if ids:
        await conn.execute(checkouts.update().where(checkouts.c.id.in_(ids)).values(**_lease(owner, lease_seconds)))
    return [str(i) for i in ids]


async def claim(conn: AsyncConnection, checkout_id: str, *, owner: str, lease_seconds: float) -> bool:
    """Lease one checkout if it is active and nobody (else) holds a live lease on it."""
    row = (
        await conn.execute(
            checkouts.update()
            .where(
                checkouts.c.id == checkout_id,
                checkouts.c.status.in_([s.value for s in ACTIVE]),
                sa.or_(
                    checkouts.c.lease_owner.is_(None),
                    checkouts.c.lease_owner == owner,
                    checkouts.c.lease_expires_at < _now(),
                ),
            )
            .values(**_lease(owner, lease_seconds))
            .returning(checkouts.c.id)
        )
    ).first()
    return row is not None


async def release_lease(conn: AsyncConnection, checkout_id: str, owner: str) -> None:
    await conn.execute(
        checkouts.update()
        .where(checkouts.c.id == checkout_id, checkouts.c.lease_owner == owner)
        .values(**_lease(None, 0))
    )


async def release_leases(conn: AsyncConnection, owner: str) -> int:
    """Give up every lease of `owner` (shutdown), so that other replicas take over at once."""
    result = await conn.execute(checkouts.update().where(checkouts.c.lease_owner == owner).values(**_lease(None, 0)))
    return int(result.rowcount or 0)


async def has_expired_holds(conn: AsyncConnection, now: datetime) -> bool:
    held = sa.select(checkouts.c.id).where(checkouts.c.status.in_([s.value for s in HELD]))
    return bool(await conn.scalar(sa.select(held.where(checkouts.c.hold_expires_at <= now).exists())))


async def lock_expired_holds(conn: AsyncConnection, now: datetime, limit: int) -> list[Checkout]:
    states = (
        (
            await conn.execute(
                sa.select(checkouts.c.state)
                .where(checkouts.c.status.in_([s.value for s in HELD]), checkouts.c.hold_expires_at <= now)
                .order_by(checkouts.c.hold_expires_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    return [_checkout(state) for state in states]


def _actions_due(before: datetime) -> sa.ColumnElement[bool]:
    """Checkouts waiting for the customer's action, not checked at the provider since `before`."""
    return sa.and_(checkouts.c.status == Status.ACTION_REQUIRED.value, checkouts.c.updated_at < before)


async def has_actions_due(conn: AsyncConnection, before: datetime) -> bool:
    return bool(await conn.scalar(sa.select(sa.select(checkouts.c.id).where(_actions_due(before)).exists())))


async def lock_actions_due(conn: AsyncConnection, before: datetime, limit: int) -> list[Checkout]:
    """Waiting checkouts whose action is due a check at the provider, locked (others' are skipped)."""
    query = (
        sa.select(checkouts.c.state)
        .where(_actions_due(before))
        .order_by(checkouts.c.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [_checkout(state) for state in (await conn.execute(query)).scalars()]


async def spent_in_period(
    conn: AsyncConnection, *, customer_id: str, currency: str, since: datetime, exclude: str
) -> int:
    """What a buyer spent since `since` in `currency` (checkouts past their quote that did not fail).

    Serialised per buyer with a transaction-scoped advisory lock, so two concurrent checkouts of one
    buyer cannot both stay under the limit on their own while exceeding it together.
    """
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext("checkout-spend:" + customer_id))))
    total = (
        await conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(checkouts.c.total_amount), 0)).where(
                checkouts.c.customer_id == customer_id,
                checkouts.c.created_at >= since,
                checkouts.c.currency == currency,
                checkouts.c.status != Status.FAILED.value,
                checkouts.c.id != exclude,
            )
        )
    ).scalar()
    return int(total or 0)


async def list_checkouts(
    conn: AsyncConnection,
    *,
    statuses: Sequence[Status],
    customer_id: str,
    idempotency_key: str = "",
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Checkout]:
    """Newest first; `after` is the (created_at, id) of the last checkout of the previous page."""
    query = sa.select(checkouts.c.state).order_by(checkouts.c.created_at.desc(), checkouts.c.id.desc()).limit(limit)
    if statuses:
        query = query.where(checkouts.c.status.in_([s.value for s in statuses]))
    if customer_id:
        query = query.where(checkouts.c.customer_id == customer_id)
    if idempotency_key:
        query = query.where(checkouts.c.idempotency_key == idempotency_key)
        if customer_id:  # a customer's keys are scoped by the customer id: the unique index finds it
            query = query.where(checkouts.c.customer_key == customer_id)
    if after is not None:
        query = query.where(
            sa.tuple_(checkouts.c.created_at, checkouts.c.id)
            < sa.tuple_(sa.literal(after[0]), sa.literal(after[1], sa.Uuid(as_uuid=False)))
        )
    return [_checkout(state) for state in (await conn.execute(query)).scalars()]
