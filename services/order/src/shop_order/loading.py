"""An order read in one prepared statement on the driver: its row with its lines, fulfilments, refunds
(and history, or only the last history sequence) aggregated as JSON beside it.

`store.list_orders` reads pages of orders with SQLAlchemy; a single order (GetOrder, every change of
an order, the effect worker) costs one round trip here instead of one statement per table.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by

from shop_order.domain.model import FulfilmentRecord, HistoryEntry, Line, Order, OrderStatus, RefundRecord
from shop_order.store import (
    fulfilments,
    history_entry,
    order_from_row,
    order_history,
    order_lines,
    orders,
    quantities,
    refunds,
)
from shopkit.db import DriverConnection, DriverQuery
from shopkit.money import Money


@dataclass(frozen=True, slots=True)
class Locked:
    """An order locked for a change, and the sequence its next history entry follows."""

    order: Order
    last_sequence: int


def _as_json(table: sa.Table, order_by: tuple[sa.ColumnElement[Any], ...]) -> sa.ScalarSelect[Any]:
    """The table's rows of the order as a JSON array (columns by name), in `order_by` order."""
    pairs: list[Any] = []
    for column in table.c:
        if column.name != "order_id":
            pairs += [sa.literal_column(f"'{column.name}'"), column]
    rows = sa.func.jsonb_agg(aggregate_order_by(sa.func.jsonb_build_object(*pairs), *order_by))
    return (
        sa.select(sa.func.coalesce(rows, sa.literal_column("'[]'::jsonb"), type_=JSONB))
        .where(table.c.order_id == orders.c.id)
        .scalar_subquery()
    )


@functools.cache
def _query(key: str, *, for_update: bool, with_history: bool) -> DriverQuery:
    """By `key` (id, number or checkout_id); locked (with the last history sequence) or not."""
    columns: list[Any] = [c for c in orders.c if c.name != "id"]
    columns += [
        sa.cast(orders.c.id, sa.Text).label("id"),
        _as_json(order_lines, (order_lines.c.position,)).label("lines_json"),
        _as_json(fulfilments, (fulfilments.c.fulfilled_at, fulfilments.c.fulfilment_id)).label("fulfilments_json"),
        _as_json(refunds, (refunds.c.refunded_at, refunds.c.refund_id)).label("refunds_json"),
    ]
    if with_history:
        columns.append(_as_json(order_history, (order_history.c.sequence,)).label("history_json"))
    if for_update:
        last = sa.select(sa.func.coalesce(sa.func.max(order_history.c.sequence), 0))
        columns.append(last.where(order_history.c.order_id == orders.c.id).scalar_subquery().label("last_sequence"))
        # The version the statement's snapshot saw: another one when the lock waited for a change.
        seen = orders.alias("seen")
        columns.append(
            sa.select(seen.c.version).where(seen.c.id == orders.c.id).scalar_subquery().label("seen_version")
        )
    query = sa.select(*columns).where(orders.c[key] == sa.bindparam("key", type_=orders.c[key].type))
    if for_update:
        query = query.with_for_update(of=orders)
    return DriverQuery(query)


_DUE_FOR_COMPLETION = DriverQuery(
    sa.select(sa.cast(orders.c.id, sa.Text).label("id"))
    .where(
        orders.c.status == OrderStatus.FULFILLED.value,
        orders.c.fulfilled_at <= sa.bindparam("fulfilled_before", type_=sa.DateTime(timezone=True)),
    )
    .order_by(orders.c.fulfilled_at)
    .limit(sa.bindparam("limit", type_=sa.Integer))
    .with_for_update(skip_locked=True)
)


async def load_order(
    conn: DriverConnection, *, order_id: str = "", number: str = "", checkout_id: str = "", with_history: bool = False
) -> Order | None:
    """The order by id, number or checkout id; None when there is none."""
    key, value = ("id", order_id) if order_id else ("number", number) if number else ("checkout_id", checkout_id)
    row = await conn.fetchrow(_query(key, for_update=False, with_history=with_history), key=value)
    return None if row is None else _order(row, with_history=with_history)


async def lock_order(conn: DriverConnection, order_id: str) -> Locked | None:
    """The order locked for a change in the caller's transaction; None when there is none.

    A lock that waited for another transaction's change gets the order row as that change left it,
    but the rest of the statement (lines, history, ...) still sees the snapshot taken before the
    wait: then it is read again, under the lock, with a new snapshot."""
    query = _query("id", for_update=True, with_history=False)
    row = await conn.fetchrow(query, key=order_id)
    if row is not None and row["seen_version"] != row["version"]:
        row = await conn.fetchrow(query, key=order_id)
    return None if row is None else Locked(_order(row, with_history=False), row["last_sequence"])


def _order(row: Mapping[str, Any], *, with_history: bool) -> Order:
    currency = row["currency"]
    lines = [
        Line(
            line_id=line["line_id"],
            sku=line["sku"],
            product_id=line["product_id"],
            name=line["name"],
            quantity=line["quantity"],
            unit_price=Money(line["unit_price"], currency),
            discount=Money(line["discount"], currency),
            line_total=Money(line["line_total"], currency),
            fulfilled_quantity=line["fulfilled_quantity"],
            refunded_quantity=line["refunded_quantity"],
            tax=line["tax"],
        )
        for line in row["lines_json"]
    ]
    fulfilled = [
        FulfilmentRecord(
            f["fulfilment_id"],
            quantities(f["lines"]),
            f["location_id"],
            f["carrier"],
            f["tracking_number"],
            _time(f["fulfilled_at"]),
            f["fingerprint"],
        )
        for f in row["fulfilments_json"]
    ]
    refunded = [
        RefundRecord(
            r["refund_id"],
            Money(r["amount"], currency),
            quantities(r["lines"]),
            r["reason"],
            r["provider_refund_id"],
            _time(r["refunded_at"]),
            r["fingerprint"],
        )
        for r in row["refunds_json"]
    ]
    history: list[HistoryEntry] = []
    if with_history:
        history = [history_entry({**h, "occurred_at": _time(h["occurred_at"])}) for h in row["history_json"]]
    return order_from_row(row, lines, fulfilled, refunded, history)


def _time(value: str | None) -> datetime | None:
    """A timestamp as JSON renders it (ISO 8601 with its offset)."""
    return None if value is None else datetime.fromisoformat(value)


async def due_for_completion(conn: DriverConnection, fulfilled_before: datetime, limit: int) -> list[str]:
    """Lock fulfilled orders past their return window; rows another replica holds are skipped."""
    rows = await conn.fetch(_DUE_FOR_COMPLETION, fulfilled_before=fulfilled_before, limit=limit)
    return [row["id"] for row in rows]
