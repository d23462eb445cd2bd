"""A decision written in one prepared statement on the driver, in the caller's transaction.

The order row (locked by `loading.lock_order`) is written back with `version = version + 1 WHERE
version = <read version>`; beside it, in data-modifying CTEs of the same statement: its lines'
quantities, a new fulfilment or refund, the history entries, the effects the decision owes (with
the trace context of the decision, so that the worker's call continues its trace) and its events
(outbox), and the effect whose outcome the decision applies marked succeeded. A statement is
compiled once per combination of these parts.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert

from shop_order import events
from shop_order.domain.decisions import Decision
from shop_order.domain.model import HistoryEntry, Order
from shop_order.loading import Locked
from shop_order.placing import HISTORY_ARRAYS, arrays, outbox_writer
from shop_order.store import (
    fulfilments,
    history_row,
    mutable_values,
    order_effects,
    order_history,
    order_lines,
    orders,
    quantities_json,
    refunds,
)
from shopkit import tracing
from shopkit.db import DriverConnection, DriverQuery
from shopkit.errors import Aborted
from shopkit.outbox_driver import event_rows

_ORDER_ID = sa.bindparam("order_id", type_=UUID(as_uuid=False))
_EFFECT_ARRAYS: dict[str, tuple[str, sa.types.TypeEngine[Any]]] = {
    "kind": ("effect_kinds", sa.Text()),
    "target": ("effect_targets", sa.Text()),
    "idempotency_key": ("effect_keys", sa.Text()),
    "amount": ("effect_amounts", sa.BigInteger()),
    "refund_id": ("effect_refund_ids", sa.Text()),
}


# As `owed.finish(..., "succeeded", ...)`.
_SUCCEEDED = (
    order_effects.update()
    .where(order_effects.c.id == sa.bindparam("succeeded_effect_id", type_=sa.BigInteger))
    .values(
        status="succeeded",
        reference=sa.bindparam("succeeded_reference", type_=sa.Text),
        last_error="",
        attempts=order_effects.c.attempts + 1,
        updated_at=sa.func.now(),
    )
)


def _unnested(arrays_of: dict[str, tuple[str, sa.types.TypeEngine[Any]]]) -> list[sa.Label[Any]]:
    return [
        sa.func.unnest(sa.bindparam(param, type_=ARRAY(type_))).label(column)
        for column, (param, type_) in arrays_of.items()
    ]


def _order_update(columns: tuple[str, ...]) -> sa.CTE:
    return (
        orders.update()
        .where(orders.c.id == _ORDER_ID, orders.c.version == sa.bindparam("read_version", type_=sa.BigInteger))
        .values({name: sa.bindparam(f"new_{name}", type_=orders.c[name].type) for name in columns})
        .values(version=orders.c.version + 1)
        .returning(orders.c.version)
        .cte("written")
    )


def _lines_update() -> sa.CTE:
    changed = sa.select(
        *_unnested(
            {
                "line_id": ("line_ids", UUID(as_uuid=False)),
                "fulfilled": ("line_fulfilled", sa.BigInteger()),
                "refunded": ("line_refunded", sa.BigInteger()),
            }
        )
    ).subquery("changed")
    return (
        order_lines.update()
        .where(order_lines.c.order_id == _ORDER_ID, order_lines.c.line_id == changed.c.line_id)
        .values(fulfilled_quantity=changed.c.fulfilled, refunded_quantity=changed.c.refunded)
        .cte("lines")
    )


def _single_insert(table: sa.Table, prefix: str, name: str) -> sa.CTE:
    columns = [c for c in table.c if c.name != "order_id"]
    values = {c.name: sa.bindparam(f"{prefix}_{c.name}", type_=c.type) for c in columns}
    return table.insert().values(order_id=_ORDER_ID, **values).cte(name)


def _children(table: sa.Table, arrays_of: dict[str, tuple[str, sa.types.TypeEngine[Any]]], *extra: Any) -> Any:
    source = sa.select(_ORDER_ID, *_unnested(arrays_of), *extra)
    return insert(table).from_select(["order_id", *arrays_of, *(e.name for e in extra)], source)


@functools.cache
def _query(columns: tuple[str, ...], parts: frozenset[str]) -> DriverQuery:
    ctes: list[sa.CTE] = []
    if columns:
        written = _order_update(columns)
        ctes.append(written)
        result: Any = sa.select(sa.func.count().label("written")).select_from(written)
    else:
        result = sa.select(sa.literal_column("1", sa.BigInteger).label("written"))
    if "lines" in parts:
        ctes.append(_lines_update())
    if "fulfilment" in parts:
        ctes.append(_single_insert(fulfilments, "fulfilment", "fulfilment"))
    if "refund" in parts:
        ctes.append(_single_insert(refunds, "refund", "refund"))
    if "history" in parts:
        ctes.append(_children(order_history, HISTORY_ARRAYS).cte("history"))
    if "effects" in parts:
        headers = sa.bindparam("effect_trace_headers", type_=JSONB).label("trace_headers")
        effects = _children(order_effects, _EFFECT_ARRAYS, headers).on_conflict_do_nothing(
            index_elements=[order_effects.c.idempotency_key]
        )
        ctes.append(effects.cte("effects"))
    if "events" in parts:
        ctes.append(outbox_writer.insert.cte("events"))
    if "succeeded" in parts:
        ctes.append(_SUCCEEDED.cte("succeeded"))
    return DriverQuery(result.add_cte(*ctes))


async def record(
    conn: DriverConnection, locked: Locked, decision: Decision, *, succeeded: tuple[int, str] | None = None
) -> Order:
    """Write a decision about the locked order; the order after it. `succeeded`: the id and the
    provider's reference of the effect whose outcome the decision applies."""
    before, after = locked.order, decision.order
    order_id = after.order_id
    params: dict[str, Any] = {"order_id": order_id}
    parts: set[str] = set()
    columns: tuple[str, ...] = ()
    entries: tuple[HistoryEntry, ...] = ()
    if decision.changed:
        mutable = mutable_values(after)
        columns = tuple(mutable)
        params.update({f"new_{name}": value for name, value in mutable.items()}, read_version=before.version)
        changed_lines = _changed_lines(before, after)
        if changed_lines:
            parts.add("lines")
            params.update(
                line_ids=[line[0] for line in changed_lines],
                line_fulfilled=[line[1] for line in changed_lines],
                line_refunded=[line[2] for line in changed_lines],
            )
        entries = tuple(
            dataclasses.replace(e, sequence=locked.last_sequence + i) for i, e in enumerate(decision.entries, start=1)
        )
        parts.add("history")
        params.update(arrays(HISTORY_ARRAYS, [history_row(e) for e in entries]))
        parts.add("events")
        params.update(event_rows(events.of(decision, entries)).params())
    if decision.new_fulfilment and decision.fulfilment is not None:
        f = decision.fulfilment
        parts.add("fulfilment")
        params.update(
            fulfilment_fulfilment_id=f.fulfilment_id,
            fulfilment_lines=quantities_json(f.lines),
            fulfilment_location_id=f.location_id,
            fulfilment_carrier=f.carrier,
            fulfilment_tracking_number=f.tracking_number,
            fulfilment_fingerprint=f.fingerprint,
            fulfilment_fulfilled_at=f.fulfilled_at,
        )
    if decision.new_refund and decision.refund is not None:
        r = decision.refund
        parts.add("refund")
        params.update(
            refund_refund_id=r.refund_id,
            refund_amount=r.amount.amount,
            refund_lines=quantities_json(r.lines),
            refund_reason=r.reason,
            refund_provider_refund_id="",
            refund_fingerprint=r.fingerprint,
            refund_refunded_at=r.refunded_at,
        )
    if decision.effects:
        parts.add("effects")
        params.update(
            effect_kinds=[e.kind.value for e in decision.effects],
            effect_targets=[e.kind.target for e in decision.effects],
            effect_keys=[e.key for e in decision.effects],
            effect_amounts=[e.amount for e in decision.effects],
            effect_refund_ids=[e.refund_id for e in decision.effects],
            effect_trace_headers=tracing.inject_headers(),
        )
    if succeeded is not None:
        parts.add("succeeded")
        params.update(succeeded_effect_id=succeeded[0], succeeded_reference=succeeded[1])
    if not parts and not columns:
        return after
    row = await conn.fetchrow(_query(columns, frozenset(parts)), **params)
    if columns and (row is None or row["written"] != 1):
        # Cannot happen while the row is locked; the version is the last guard.
        raise Aborted(f"order {order_id} changed concurrently; retry", reason="CONCURRENT_CHANGE")
    if decision.changed:
        return dataclasses.replace(after, version=before.version + 1)
    return after


def _changed_lines(before: Order, after: Order) -> list[tuple[str, int, int]]:
    old = {line.line_id: line for line in before.lines}
    return [
        (line.line_id, line.fulfilled_quantity, line.refunded_quantity)
        for line in after.lines
        if (old[line.line_id].fulfilled_quantity, old[line.line_id].refunded_quantity)
        != (line.fulfilled_quantity, line.refunded_quantity)
    ]
