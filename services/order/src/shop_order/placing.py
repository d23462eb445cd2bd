"""A new order on driver statements: CreateOrder's unit of work in one prepared statement.

The order's number is taken first (its events carry it); then one statement, atomic on its own,
inserts the order (unless its checkout placed one already), its lines, its first history entries
and its events (data-modifying CTEs that insert nothing when the order row was not inserted). A
number taken for a checkout that had its order already stays unused, as after a rollback.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert

from shop_order import events
from shop_order.domain.decisions import Decision
from shop_order.store import history_row, insert_values, order_history, order_lines, orders, outbox
from shopkit.db import DriverConnection, DriverQuery
from shopkit.outbox_driver import OutboxWriter, event_rows

outbox_writer = OutboxWriter(outbox)

# Child column -> (array parameter, item type): rows travel as arrays, unnested in step.
_LINE_ARRAYS: dict[str, tuple[str, sa.types.TypeEngine[Any]]] = {
    "position": ("line_positions", sa.Integer()),
    "line_id": ("line_ids", UUID(as_uuid=False)),
    "sku": ("line_skus", sa.Text()),
    "product_id": ("line_products", sa.Text()),
    "name": ("line_names", sa.Text()),
    "quantity": ("line_quantities", sa.BigInteger()),
    "unit_price": ("line_unit_prices", sa.BigInteger()),
    "discount": ("line_discounts", sa.BigInteger()),
    "line_total": ("line_totals", sa.BigInteger()),
    "tax": ("line_taxes", sa.BigInteger()),
}
HISTORY_ARRAYS: dict[str, tuple[str, sa.types.TypeEngine[Any]]] = {
    "sequence": ("entry_sequences", sa.Integer()),
    "change": ("entry_changes", sa.Text()),
    "status": ("entry_statuses", sa.Text()),
    "previous_status": ("entry_previous_statuses", sa.Text()),
    "payment_status": ("entry_payment_statuses", sa.Text()),
    "fulfilment_status": ("entry_fulfilment_statuses", sa.Text()),
    "actor_role": ("entry_actor_roles", sa.Text()),
    "actor_id": ("entry_actor_ids", sa.Text()),
    "reason": ("entry_reasons", sa.Text()),
    "note": ("entry_notes", sa.Text()),
    "occurred_at": ("entry_times", sa.DateTime(timezone=True)),
}


def _children(table: sa.Table, parent: sa.CTE, arrays: dict[str, tuple[str, sa.types.TypeEngine[Any]]]) -> sa.Insert:
    """INSERT INTO table (order_id, ...) SELECT parent.id, unnest(...), ... FROM parent."""
    unnested = [
        sa.func.unnest(sa.bindparam(param, type_=ARRAY(type_))).label(column)
        for column, (param, type_) in arrays.items()
    ]
    return table.insert().from_select(["order_id", *arrays], sa.select(parent.c.id, *unnested).select_from(parent))


@functools.cache
def _place_query(columns: tuple[str, ...]) -> DriverQuery:
    """For the order columns `store.insert_values` gives (always the same ones)."""
    placed = (
        insert(orders)
        .values({name: sa.bindparam(name) for name in columns})
        .on_conflict_do_nothing(index_elements=[orders.c.checkout_id])
        .returning(orders.c.id, orders.c.number)
        .cte("placed")
    )
    lines = _children(order_lines, placed, _LINE_ARRAYS).cte("lines")
    history = _children(order_history, placed, HISTORY_ARRAYS).cte("history")
    staged = outbox_writer.select.where(sa.exists(sa.select(placed.c.id)))
    outbox_columns = [outbox.c.id, outbox.c.subject, outbox.c.payload, outbox.c.headers]
    staged_events = outbox.insert().from_select(outbox_columns, staged).cte("staged_events")
    return DriverQuery(sa.select(placed.c.number).add_cte(lines, history, staged_events))


_NEXT_NUMBER = DriverQuery(sa.select(sa.func.next_order_number(type_=sa.Text).label("number")))


def arrays(arrays: dict[str, tuple[str, sa.types.TypeEngine[Any]]], rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {param: [row[column] for row in rows] for column, (param, _) in arrays.items()}


async def insert_order(conn: DriverConnection, decision: Decision) -> Decision | None:
    """Insert the order a placing decision made, with its lines, history entries (numbered from 1)
    and events; the decision with the order's number, or None when its checkout already placed
    one. A concurrent insert for the same checkout waits for the first one, then finds the checkout
    taken."""
    [row] = await conn.fetch(_NEXT_NUMBER)
    order = dataclasses.replace(decision.order, number=row["number"])
    decision = dataclasses.replace(decision, order=order)
    entries = tuple(dataclasses.replace(e, sequence=i) for i, e in enumerate(decision.entries, start=1))
    values = {**insert_values(order), "number": order.number}
    lines = [
        {
            "position": position,
            "line_id": line.line_id,
            "sku": line.sku,
            "product_id": line.product_id,
            "name": line.name,
            "quantity": line.quantity,
            "unit_price": line.unit_price.amount,
            "discount": line.discount.amount,
            "line_total": line.line_total.amount,
            "tax": line.tax,
        }
        for position, line in enumerate(order.lines, start=1)
    ]
    history = [history_row(entry) for entry in entries]
    row = await conn.fetchrow(
        _place_query(tuple(values)),
        **values,
        **arrays(_LINE_ARRAYS, lines),
        **arrays(HISTORY_ARRAYS, history),
        **event_rows(events.of(decision, entries)).params(),
    )
    return None if row is None else dataclasses.replace(decision, entries=entries)
