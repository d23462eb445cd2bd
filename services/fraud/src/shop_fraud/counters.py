"""Velocity counters, order history and the deny list: statements built once (`DriverQuery`) that run on
the driver connection of Assess's unit of work, or with the same text on a SQLAlchemy connection (the
consumers' inbox transaction, the sweeper, tests).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_fraud.domain.purchase import KeyKind
from shop_fraud.domain.signals import History, Velocity, Window, WindowCounts
from shop_fraud.tables import KeyDigest, customer_orders, deny_list, observations
from shopkit.db import DriverConnection, DriverQuery
from shopkit.money import Money

Connection = AsyncConnection | DriverConnection


async def fetch(conn: Connection, query: DriverQuery, **params: Any) -> list[Any]:
    """The rows of `query` as mappings (column name -> value), on either kind of connection."""
    if isinstance(conn, DriverConnection):
        return await conn.fetch(query, **params)
    return [row._mapping for row in await conn.execute(query.statement, params)]


async def execute(conn: Connection, query: DriverQuery, **params: Any) -> int:
    """Run a statement for its effect on either kind of connection; the number of rows it touched."""
    if isinstance(conn, DriverConnection):
        return await conn.execute(query, **params)
    return int((await conn.execute(query.statement, params)).rowcount or 0)


def _digests(name: str) -> sa.Subquery:
    """The (kind, key) pairs passed as two arrays, `<name>_kinds` and `<name>_keys`, as rows."""
    return sa.select(
        sa.func.unnest(sa.bindparam(f"{name}_kinds", type_=ARRAY(sa.Text))).label("kind"),
        sa.func.unnest(sa.bindparam(f"{name}_keys", type_=ARRAY(BYTEA))).label("key"),
    ).subquery(name)


def _digest_params(name: str, keys: Sequence[KeyDigest]) -> dict[str, list[Any]]:
    return {f"{name}_kinds": [kind.value for kind, _ in keys], f"{name}_keys": [key for _, key in keys]}


# --- counters ------------------------------------------------------------------------------------------


def _velocity_query() -> DriverQuery:
    o = observations.c
    keys = _digests("velocity")
    is_device = o.kind == KeyKind.DEVICE.value
    instant = sa.DateTime(timezone=True)

    return DriverQuery(
        sa.select(
            o.kind,
            sa.func.count(sa.distinct(o.ref)).filter(o.at > sa.bindparam("since_hour", type_=instant)).label("hour"),
            sa.func.count(sa.distinct(o.ref)).filter(o.at > sa.bindparam("since_day", type_=instant)).label("day"),
            sa.func.count(sa.distinct(o.ref)).label("week"),
            sa.func.count(sa.distinct(o.card))
            .filter(is_device, o.card.is_distinct_from(sa.bindparam("card", type_=BYTEA)))
            .label("other_cards"),
            sa.func.count(sa.distinct(o.buyer))
            .filter(is_device, o.buyer != sa.bindparam("buyer", type_=BYTEA))
            .label("other_buyers"),
        )
        .select_from(observations.join(keys, sa.and_(o.kind == keys.c.kind, o.key == keys.c.key)))
        .where(
            o.at > sa.bindparam("since_week", type_=instant),
            o.at <= sa.bindparam("now", type_=instant),
            o.ref != sa.bindparam("exclude_ref", type_=sa.Text),
        )
        .group_by(o.kind)
    )


_VELOCITY = _velocity_query()


async def velocity(
    conn: Connection,
    keys: Sequence[KeyDigest],
    *,
    now: datetime,
    exclude_ref: str,
    buyer: bytes,
    card: bytes | None,
) -> Velocity:
    """Earlier purchases per key in each window up to `now`, and the other cards and buyers seen on the
    device, in one statement. `exclude_ref` (the purchase being assessed) is not counted."""
    rows = await fetch(
        conn,
        _VELOCITY,
        **_digest_params("velocity", keys),
        since_hour=now - Window.HOUR.length,
        since_day=now - Window.DAY.length,
        since_week=now - Window.WEEK.length,
        now=now,
        exclude_ref=exclude_ref,
        buyer=buyer,
        card=card,
    )
    counts: dict[KeyKind, WindowCounts] = {}
    other_cards = other_buyers = 0
    for row in rows:
        kind = KeyKind(row["kind"])
        counts[kind] = WindowCounts(hour=row["hour"], day=row["day"], week=row["week"])
        if kind is KeyKind.DEVICE:
            other_cards, other_buyers = row["other_cards"], row["other_buyers"]
    return Velocity(counts=counts, other_cards_on_device=other_cards, other_buyers_on_device=other_buyers)


# Column -> the array parameter that carries it (parameters named after columns would clash with
# SQLAlchemy's own VALUES parameters when the statement runs on a SQLAlchemy connection).
_OBSERVATION_ARRAYS: dict[str, tuple[str, sa.types.TypeEngine[Any]]] = {
    "kind": ("kinds", sa.Text()),
    "key": ("keys", BYTEA()),
    "source": ("sources", sa.Text()),
    "ref": ("refs", sa.Text()),
    "at": ("times", sa.DateTime(timezone=True)),
    "amount": ("amounts", sa.BigInteger()),
    "currency": ("currencies", sa.Text()),
    "buyer": ("buyers", BYTEA()),
    "card": ("cards", BYTEA()),
}
# One statement for any number of rows: each column travels as an array, unnested in step.
_INSERT_OBSERVATIONS = DriverQuery(
    observations.insert().from_select(
        list(_OBSERVATION_ARRAYS),
        sa.select(
            *(
                sa.func.unnest(sa.bindparam(param, type_=ARRAY(type_))).label(column)
                for column, (param, type_) in _OBSERVATION_ARRAYS.items()
            )
        ),
    )
)


async def add_observations(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows with kind (KeyKind), key, source, ref, at, amount, currency and optionally buyer and card."""
    if rows:
        arrays: dict[str, list[Any]] = {
            param: [row.get(column) for row in rows] for column, (param, _) in _OBSERVATION_ARRAYS.items()
        }
        arrays["kinds"] = [kind.value for kind in arrays["kinds"]]
        await execute(conn, _INSERT_OBSERVATIONS, **arrays)


def _history_query() -> DriverQuery:
    c = customer_orders.c
    recent = (
        sa.select(c.amount)
        .where(
            c.customer_key == sa.bindparam("customer_key"),
            c.currency == sa.bindparam("currency"),
            sa.not_(c.cancelled),
            c.placed_at <= sa.bindparam("now"),
        )
        .order_by(c.placed_at.desc())
        .limit(sa.bindparam("latest", type_=sa.Integer))
        .subquery()
    )
    return DriverQuery(
        sa.select(
            sa.func.count().label("orders"),
            sa.func.percentile_disc(0.5).within_group(recent.c.amount).label("median"),
        )
    )


_HISTORY = _history_query()


async def history(conn: Connection, customer_key: bytes, currency: str, *, now: datetime, latest: int) -> History:
    """The customer's latest orders in `currency` before `now` (cancelled ones left out): count and median."""
    [row] = await fetch(conn, _HISTORY, customer_key=customer_key, currency=currency, now=now, latest=latest)
    return History(orders=row["orders"], median_amount=int(row["median"] or 0))


_RECORD_ORDER = DriverQuery(
    insert(customer_orders)
    .values(
        order_id=sa.bindparam("placed_order"),
        customer_key=sa.bindparam("customer"),
        currency=sa.bindparam("order_currency"),
        amount=sa.bindparam("order_amount"),
        placed_at=sa.bindparam("placed"),
    )
    .on_conflict_do_nothing()
)
_CANCEL_ORDER = DriverQuery(
    customer_orders.update()
    .where(customer_orders.c.order_id == sa.bindparam("cancelled_order"), sa.not_(customer_orders.c.cancelled))
    .values(cancelled=True)
)
_DENY_KEYS = _digests("denied")
_DENIED_KINDS = DriverQuery(
    sa.select(deny_list.c.kind).select_from(
        deny_list.join(_DENY_KEYS, sa.and_(deny_list.c.kind == _DENY_KEYS.c.kind, deny_list.c.key == _DENY_KEYS.c.key))
    )
)


async def record_order(
    conn: Connection, order_id: str, customer_key: bytes, amount: Money, placed_at: datetime
) -> None:
    await execute(
        conn,
        _RECORD_ORDER,
        placed_order=order_id,
        customer=customer_key,
        order_currency=amount.currency,
        order_amount=amount.amount,
        placed=placed_at,
    )


async def cancel_order(conn: Connection, order_id: str) -> bool:
    return await execute(conn, _CANCEL_ORDER, cancelled_order=order_id) > 0


async def denied_kinds(conn: Connection, keys: Sequence[KeyDigest]) -> frozenset[KeyKind]:
    rows = await fetch(conn, _DENIED_KINDS, **_digest_params("denied", keys))
    return frozenset(KeyKind(row["kind"]) for row in rows)


async def deny(conn: AsyncConnection, keys: Sequence[KeyDigest], review_id: uuid.UUID) -> None:
    if keys:
        await conn.execute(
            insert(deny_list)
            .values([{"kind": kind.value, "key": key, "review_id": review_id} for kind, key in keys])
            .on_conflict_do_nothing()
        )


async def sweep(conn: AsyncConnection, table: sa.Table, column: str, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` rows whose `column` is before `cutoff`; returns how many went."""
    key = next(iter(table.primary_key.columns))
    doomed = (
        sa.select(key).where(table.c[column] < cutoff).limit(limit).with_for_update(skip_locked=True).scalar_subquery()
    )
    result = await conn.execute(table.delete().where(key.in_(doomed)))
    return int(result.rowcount or 0)
