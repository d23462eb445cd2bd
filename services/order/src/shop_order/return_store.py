"""The returns table and its statements, run on the driver in the unit of work of the order they belong
to (the order row is locked first: steps of one order's returns never race).

A return's lines are JSON beside it (like fulfilments' and refunds'): they are written with the return
and never queried alone. Effects that carry their own data (a restock's entries, a replacement
order's stock to reserve) are inserted here with a `payload`, next to the order's other effects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert

from shop_order.domain.model import Effect
from shop_order.domain.returns import Return, ReturnLine, ReturnMethod, ReturnReason, ReturnStatus
from shop_order.store import _in, metadata, order_effects
from shopkit import tracing
from shopkit.db import DriverConnection, DriverQuery

returns = sa.Table(
    "returns",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("order_id", UUID(as_uuid=False), sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("store_id", sa.Text, nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("lines", JSONB, nullable=False),
    sa.Column("receiving_location_id", sa.Text, nullable=False, server_default=""),
    sa.Column("inspect_request_id", sa.Text, nullable=False, server_default=""),
    sa.Column("inspect_fingerprint", sa.Text, nullable=False, server_default=""),
    sa.Column("refund_amount", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("shipping_refund", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("refund_id", sa.Text, nullable=False, server_default=""),
    sa.Column("exchange_order_id", sa.Text, nullable=False, server_default=""),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True)),
    sa.Column("inspected_at", sa.DateTime(timezone=True)),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("order_id", "request_id", name="returns_order_request_key"),
    sa.CheckConstraint(_in("status", [s.value for s in ReturnStatus]), name="status"),
    sa.CheckConstraint(_in("method", [m.value for m in ReturnMethod]), name="method"),
    sa.CheckConstraint(_in("reason", [r.value for r in ReturnReason]), name="reason"),
    sa.CheckConstraint("(method = 'store') = (store_id <> '')", name="store"),
    sa.CheckConstraint("refund_amount >= 0 AND shipping_refund BETWEEN 0 AND refund_amount", name="amounts"),
    sa.CheckConstraint("(status = 'requested') = (received_at IS NULL)", name="received"),
    sa.Index("returns_order_idx", "order_id", "requested_at"),
)

_COLUMNS = [c for c in returns.c if c.name not in ("id", "order_id")] + [
    sa.cast(returns.c.id, sa.Text).label("id"),
    sa.cast(returns.c.order_id, sa.Text).label("order_id"),
]
_OF_ORDER = DriverQuery(
    sa.select(*_COLUMNS)
    .where(returns.c.order_id == sa.bindparam("order_id", type_=UUID(as_uuid=False)))
    .order_by(returns.c.requested_at, returns.c.id)
)
_ORDER_OF = DriverQuery(
    sa.select(sa.cast(returns.c.order_id, sa.Text).label("order_id")).where(
        returns.c.id == sa.bindparam("return_id", type_=UUID(as_uuid=False))
    )
)
_WRITABLE = [c.name for c in returns.c if c.name not in ("id", "order_id", "request_id", "fingerprint", "method")]
_INSERT = DriverQuery(returns.insert().values({c.name: sa.bindparam(c.name, type_=c.type) for c in returns.c}))
_UPDATE = DriverQuery(
    returns.update()
    .where(
        returns.c.id == sa.bindparam("id", type_=UUID(as_uuid=False)),
        returns.c.version == sa.bindparam("read_version", type_=sa.BigInteger),
    )
    .values({name: sa.bindparam(f"new_{name}", type_=returns.c[name].type) for name in _WRITABLE})
    .returning(returns.c.version)
)
_EFFECT = DriverQuery(
    insert(order_effects)
    .values(
        order_id=sa.bindparam("order_id", type_=UUID(as_uuid=False)),
        kind=sa.bindparam("kind", type_=sa.Text),
        target=sa.bindparam("target", type_=sa.Text),
        idempotency_key=sa.bindparam("key", type_=sa.Text),
        payload=sa.bindparam("payload", type_=JSONB),
        trace_headers=sa.bindparam("trace_headers", type_=JSONB),
    )
    .on_conflict_do_nothing(index_elements=[order_effects.c.idempotency_key])
)


def _line_json(line: ReturnLine) -> dict[str, Any]:
    return {
        "line_id": line.line_id,
        "sku": line.sku,
        "name": line.name,
        "requested": line.requested,
        "accepted_sellable": line.accepted_sellable,
        "accepted_unsellable": line.accepted_unsellable,
        "rejected": line.rejected,
        "exchange_sku": line.exchange_sku,
        "refund_amount": line.refund_amount,
    }


def _values(ret: Return) -> dict[str, Any]:
    return {
        "id": ret.return_id,
        "order_id": ret.order_id,
        "request_id": ret.request_id,
        "fingerprint": ret.fingerprint,
        "status": ret.status.value,
        "method": ret.method.value,
        "store_id": ret.store_id,
        "reason": ret.reason.value,
        "note": ret.note,
        "currency": ret.currency,
        "lines": [_line_json(line) for line in ret.lines],
        "receiving_location_id": ret.receiving_location_id,
        "inspect_request_id": ret.inspect_request_id,
        "inspect_fingerprint": ret.inspect_fingerprint,
        "refund_amount": ret.refund_amount,
        "shipping_refund": ret.shipping_refund,
        "refund_id": ret.refund_id,
        "exchange_order_id": ret.exchange_order_id,
        "requested_at": ret.requested_at,
        "received_at": ret.received_at,
        "inspected_at": ret.inspected_at,
        "version": ret.version,
    }


def _return(row: Mapping[str, Any]) -> Return:
    lines = row["lines"]
    if isinstance(lines, str):
        lines = json.loads(lines)
    return Return(
        return_id=row["id"],
        order_id=row["order_id"],
        request_id=row["request_id"],
        status=ReturnStatus(row["status"]),
        method=ReturnMethod(row["method"]),
        reason=ReturnReason(row["reason"]),
        lines=tuple(ReturnLine(**line) for line in lines),
        currency=row["currency"],
        fingerprint=row["fingerprint"],
        store_id=row["store_id"],
        note=row["note"],
        receiving_location_id=row["receiving_location_id"],
        inspect_request_id=row["inspect_request_id"],
        inspect_fingerprint=row["inspect_fingerprint"],
        refund_amount=row["refund_amount"],
        shipping_refund=row["shipping_refund"],
        refund_id=row["refund_id"],
        exchange_order_id=row["exchange_order_id"],
        requested_at=row["requested_at"],
        received_at=row["received_at"],
        inspected_at=row["inspected_at"],
        version=row["version"],
    )


async def of_order(conn: DriverConnection, order_id: str) -> tuple[Return, ...]:
    return tuple(_return(row) for row in await conn.fetch(_OF_ORDER, order_id=order_id))


async def order_of(conn: DriverConnection, return_id: str) -> str | None:
    row = await conn.fetchrow(_ORDER_OF, return_id=return_id)
    return None if row is None else str(row["order_id"])


async def insert_return(conn: DriverConnection, ret: Return) -> None:
    await conn.execute(_INSERT, **_values(ret))


async def update_return(conn: DriverConnection, before: Return, after: Return) -> None:
    values = _values(after)
    row = await conn.fetchrow(
        _UPDATE, id=after.return_id, read_version=before.version, **{f"new_{n}": values[n] for n in _WRITABLE}
    )
    # The order row is locked, so the version cannot have moved; it is the last guard.
    assert row is not None, f"return {after.return_id} changed concurrently"


async def owe(conn: DriverConnection, order_id: str, effect: Effect, payload: Mapping[str, Any]) -> None:
    """Record an effect that carries its own data (performed after commit by the effect worker)."""
    await conn.execute(
        _EFFECT,
        order_id=order_id,
        kind=effect.kind.value,
        target=effect.kind.target,
        key=effect.key,
        payload=dict(payload),
        trace_headers=tracing.inject_headers(),
    )


def restock_payload(entries: Sequence[tuple[str, str, int]], reason: str) -> dict[str, Any]:
    return {"entries": [{"sku": s, "location_id": loc, "quantity": q} for s, loc, q in entries], "reason": reason}
