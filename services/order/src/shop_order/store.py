"""Tables, the mapping between rows and the domain, and the order lists (SQLAlchemy Core).

Concurrency: every change of an order locks its row (`loading.lock_order`) and writes it back with
`version = version + 1 WHERE version = <read version>` (`recording`); a trigger installed by the
migration refuses status changes outside the state machine and versions that do not grow by one.
Lock order: an effect row (claimed by the worker) may be held while the order row is locked, never
the other way round: writers holding an order only look at effects with SKIP LOCKED (`owed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_order.domain import chain as approval_chain
from shop_order.domain.model import (
    Actor,
    Address,
    Approval,
    ApprovalStatus,
    CancellationReason,
    Change,
    EffectKind,
    FulfilmentMethod,
    FulfilmentRecord,
    FulfilmentStatus,
    HistoryEntry,
    Line,
    LineQuantity,
    Order,
    OrderStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    RefundRecord,
    Totals,
)
from shopkit.money import Money
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


def _in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


ORDER_STATUSES = [s.value for s in OrderStatus]
PAYMENT_STATUSES = [s.value for s in PaymentStatus]
FULFILMENT_STATUSES = [s.value for s in FulfilmentStatus]
EFFECT_STATUSES = ["pending", "succeeded", "failed", "superseded"]

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("number", sa.Text, nullable=False, unique=True, server_default=sa.text("next_order_number()")),
    sa.Column("checkout_id", sa.Text, nullable=False, unique=True),
    sa.Column("customer_id", sa.Text, nullable=False, server_default=""),
    sa.Column("account_id", sa.Text, nullable=False, server_default=""),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("payment_status", sa.Text, nullable=False),
    sa.Column("fulfilment_status", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("subtotal", sa.BigInteger, nullable=False),
    sa.Column("discount_total", sa.BigInteger, nullable=False),
    sa.Column("shipping_total", sa.BigInteger, nullable=False),
    sa.Column("tax_total", sa.BigInteger, nullable=False),
    sa.Column("tax_included", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("coupon_code", sa.Text, nullable=False, server_default=""),
    sa.Column("sales_quote_id", sa.Text, nullable=False, server_default=""),
    sa.Column("ship_to", JSONB(none_as_null=True)),  # NULL for pickup, not JSON null
    sa.Column("pickup_store_id", sa.Text),
    sa.Column("billing_address", JSONB, nullable=False),
    sa.Column("payment_kind", sa.Text, nullable=False),
    sa.Column("payment_method_id", sa.Text, nullable=False, server_default=""),
    sa.Column("authorisation_id", sa.Text, nullable=False, server_default=""),
    sa.Column("purchase_order_number", sa.Text, nullable=False, server_default=""),
    sa.Column("authorised_amount", sa.BigInteger, nullable=False),
    sa.Column("captured_amount", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("refunded_amount", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("approval_status", sa.Text, nullable=False),
    sa.Column("approval_limit", sa.BigInteger),
    sa.Column("approval_decided_by", sa.Text, nullable=False, server_default=""),
    sa.Column("approval_note", sa.Text, nullable=False, server_default=""),
    sa.Column("approval_decided_at", sa.DateTime(timezone=True)),
    # The approval chain and its decisions (domain.chain's JSON), NULL when none; and who its
    # current step still waits for ('*': any approver of the account), for the approvers' inboxes.
    sa.Column("approval_chain", JSONB(none_as_null=True)),
    sa.Column("approval_waiting", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("fraud_review_id", sa.Text, nullable=False, server_default=""),
    sa.Column("fraud_hold_released", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("cancellation_reason", sa.Text),
    sa.Column("reservation_id", sa.Text, nullable=False, server_default=""),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("fulfilled_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
    sa.CheckConstraint(_in("payment_status", PAYMENT_STATUSES), name="payment_status"),
    sa.CheckConstraint(_in("fulfilment_status", FULFILMENT_STATUSES), name="fulfilment_status"),
    sa.CheckConstraint("version >= 1", name="version"),
    # The rest of the CHECK constraints are in the migration (they are the schema, not the queries).
    # Customers' and accounts' order lists, newest first (keyset on created_at, id).
    sa.Index(
        "orders_customer_idx",
        "customer_id",
        sa.text("created_at DESC"),
        sa.text("id DESC"),
        postgresql_where=sa.text("customer_id <> ''"),
    ),
    sa.Index(
        "orders_account_idx",
        "account_id",
        sa.text("created_at DESC"),
        sa.text("id DESC"),
        postgresql_where=sa.text("account_id <> ''"),
    ),
    sa.Index("orders_created_idx", sa.text("created_at DESC"), sa.text("id DESC")),
    # The approvers' inboxes (list_pending_approvals).
    sa.Index(
        "orders_pending_approval_idx",
        "account_id",
        sa.text("created_at DESC"),
        sa.text("id DESC"),
        postgresql_where=sa.text("status = 'pending_approval'"),
    ),
    # The completion sweeper's query.
    sa.Index("orders_fulfilled_idx", "fulfilled_at", postgresql_where=sa.text("status = 'fulfilled'")),
)

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("order_id", UUID(as_uuid=False), sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("line_id", UUID(as_uuid=False), nullable=False, unique=True),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("product_id", sa.Text, nullable=False, server_default=""),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("unit_price", sa.BigInteger, nullable=False),
    sa.Column("discount", sa.BigInteger, nullable=False),
    sa.Column("line_total", sa.BigInteger, nullable=False),
    sa.Column("fulfilled_quantity", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("refunded_quantity", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("tax", sa.BigInteger, nullable=False, server_default="0"),
    sa.CheckConstraint("quantity >= 1", name="quantity"),
    sa.CheckConstraint("tax >= 0", name="tax"),
    sa.CheckConstraint("fulfilled_quantity BETWEEN 0 AND quantity", name="fulfilled_quantity"),
    sa.CheckConstraint("refunded_quantity BETWEEN 0 AND fulfilled_quantity", name="refunded_quantity"),
    sa.CheckConstraint("unit_price >= 0 AND discount >= 0", name="prices"),
    sa.CheckConstraint("line_total = unit_price * quantity - discount AND line_total >= 0", name="line_total"),
)

fulfilments = sa.Table(
    "fulfilments",
    metadata,
    sa.Column("order_id", UUID(as_uuid=False), sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("fulfilment_id", sa.Text, primary_key=True),
    sa.Column("lines", JSONB, nullable=False),
    sa.Column("location_id", sa.Text, nullable=False, server_default=""),
    sa.Column("carrier", sa.Text, nullable=False, server_default=""),
    sa.Column("tracking_number", sa.Text, nullable=False, server_default=""),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=False),
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("order_id", UUID(as_uuid=False), sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("refund_id", sa.Text, primary_key=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("lines", JSONB, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("provider_refund_id", sa.Text, nullable=False, server_default=""),
    sa.Column("fingerprint", sa.Text, nullable=False, server_default=""),
    sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("amount > 0", name="amount"),
)

order_history = sa.Table(
    "order_history",
    metadata,
    sa.Column("order_id", UUID(as_uuid=False), sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("change", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("previous_status", sa.Text),
    sa.Column("payment_status", sa.Text, nullable=False),
    sa.Column("fulfilment_status", sa.Text, nullable=False),
    sa.Column("actor_role", sa.Text, nullable=False),
    sa.Column("actor_id", sa.Text, nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("sequence >= 1", name="sequence"),
    sa.CheckConstraint(_in("change", [c.value for c in Change]), name="change"),
    sa.CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
    sa.CheckConstraint(f"previous_status IS NULL OR {_in('previous_status', ORDER_STATUSES)}", name="previous_status"),
    sa.CheckConstraint(_in("payment_status", PAYMENT_STATUSES), name="payment_status"),
    sa.CheckConstraint(_in("fulfilment_status", FULFILMENT_STATUSES), name="fulfilment_status"),
)

# Calls to the payment provider and inventory that committed decisions owe, performed after commit
# by the effect worker (see effects.py). `idempotency_key` is sent to the provider.
order_effects = sa.Table(
    "order_effects",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("order_id", UUID(as_uuid=False), sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("amount", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("refund_id", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("reference", sa.Text, nullable=False, server_default=""),
    # The trace context of the decision that owes the effect: the worker's call continues its trace.
    sa.Column("trace_headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    # What an effect needs beyond its order (a return's restock entries, a replacement's stock to reserve).
    sa.Column("payload", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint(_in("kind", [k.value for k in EffectKind]), name="kind"),
    sa.CheckConstraint(_in("target", ["payment", "inventory"]), name="target"),
    sa.CheckConstraint(_in("status", EFFECT_STATUSES), name="status"),
    sa.CheckConstraint("amount >= 0 AND attempts >= 0", name="counts"),
    # The worker's query: due pending effects; and "is an earlier effect of this order pending?".
    sa.Index("order_effects_due_idx", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
    sa.Index("order_effects_pending_idx", "order_id", "target", "id", postgresql_where=sa.text("status = 'pending'")),
)

outbox = outbox_table(metadata)
customer_erasures = erasures_table(metadata)
inbox = inbox_table(metadata)


# --- mapping rows <-> domain ----------------------------------------------------------------------


def _address(value: Mapping[str, str] | None) -> Address:
    return Address(**dict(value or {}))


def _address_json(address: Address) -> dict[str, str]:
    return {name: value for name, value in asdict(address).items() if value}


def quantities(value: Sequence[Mapping[str, Any]]) -> tuple[LineQuantity, ...]:
    return tuple(LineQuantity(str(item["line_id"]), int(item["quantity"])) for item in value)


def quantities_json(values: Sequence[LineQuantity]) -> list[dict[str, Any]]:
    return [{"line_id": q.line_id, "quantity": q.quantity} for q in values]


def order_from_row(
    row: Mapping[str, Any],
    lines: Sequence[Line],
    fulfilled: Sequence[FulfilmentRecord],
    refunded: Sequence[RefundRecord],
    history: Sequence[HistoryEntry],
) -> Order:
    currency = row["currency"]

    def money(amount: int) -> Money:
        return Money(amount, currency)

    return Order(
        order_id=row["id"],
        number=row["number"],
        checkout_id=row["checkout_id"],
        customer_id=row["customer_id"],
        account_id=row["account_id"],
        email=row["email"],
        channel=row["channel"],
        status=OrderStatus(row["status"]),
        payment_status=PaymentStatus(row["payment_status"]),
        fulfilment_status=FulfilmentStatus(row["fulfilment_status"]),
        currency=currency,
        lines=tuple(lines),
        totals=Totals(
            money(row["subtotal"]),
            money(row["discount_total"]),
            money(row["shipping_total"]),
            money(row["tax_total"]),
            money(row["total"]),
            row["tax_included"],
        ),
        fulfilment_method=FulfilmentMethod(
            ship_to=None if row["ship_to"] is None else _address(row["ship_to"]), store_id=row["pickup_store_id"] or ""
        ),
        billing_address=_address(row["billing_address"]),
        payment=Payment(
            kind=PaymentKind(row["payment_kind"]),
            authorised_amount=money(row["authorised_amount"]),
            payment_method_id=row["payment_method_id"],
            authorisation_id=row["authorisation_id"],
            purchase_order_number=row["purchase_order_number"],
            captured_amount=row["captured_amount"],
            refunded_amount=row["refunded_amount"],
        ),
        coupon_code=row["coupon_code"],
        sales_quote_id=row["sales_quote_id"],
        approval=Approval(
            status=ApprovalStatus(row["approval_status"]),
            limit=None if row["approval_limit"] is None else money(row["approval_limit"]),
            decided_by=row["approval_decided_by"],
            note=row["approval_note"],
            decided_at=row["approval_decided_at"],
        ),
        chain=approval_chain.from_json(row["approval_chain"]),
        fraud_review_id=row["fraud_review_id"],
        fraud_hold_released=row["fraud_hold_released"],
        cancellation_reason=None
        if row["cancellation_reason"] is None
        else CancellationReason(row["cancellation_reason"]),
        reservation_id=row["reservation_id"],
        fingerprint=row["fingerprint"],
        fulfilments=tuple(fulfilled),
        refunds=tuple(refunded),
        history=tuple(history),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        fulfilled_at=row["fulfilled_at"],
    )


def mutable_values(order: Order) -> dict[str, Any]:
    """The columns a decision may change."""
    return {
        "status": order.status.value,
        "payment_status": order.payment_status.value,
        "fulfilment_status": order.fulfilment_status.value,
        "captured_amount": order.payment.captured_amount,
        "refunded_amount": order.payment.refunded_amount,
        "approval_status": order.approval.status.value,
        "approval_decided_by": order.approval.decided_by,
        "approval_note": order.approval.note,
        "approval_decided_at": order.approval.decided_at,
        "approval_chain": approval_chain.to_json(order.chain) if order.chain.steps else None,
        "approval_waiting": order.chain.waiting_on() if order.status is OrderStatus.PENDING_APPROVAL else [],
        "fraud_hold_released": order.fraud_hold_released,
        "cancellation_reason": None if order.cancellation_reason is None else order.cancellation_reason.value,
        "fulfilled_at": order.fulfilled_at,
        "updated_at": order.updated_at,
    }


def insert_values(order: Order) -> dict[str, Any]:
    totals, payment, method = order.totals, order.payment, order.fulfilment_method
    return {
        "id": order.order_id,
        "checkout_id": order.checkout_id,
        "customer_id": order.customer_id,
        "account_id": order.account_id,
        "email": order.email,
        "channel": order.channel,
        "currency": order.currency,
        "subtotal": totals.subtotal.amount,
        "discount_total": totals.discount_total.amount,
        "shipping_total": totals.shipping_total.amount,
        "tax_total": totals.tax_total.amount,
        "total": totals.total.amount,
        "tax_included": totals.tax_included,
        "coupon_code": order.coupon_code,
        "sales_quote_id": order.sales_quote_id,
        "ship_to": None if method.ship_to is None else _address_json(method.ship_to),
        "pickup_store_id": method.store_id or None,
        "billing_address": _address_json(order.billing_address),
        "payment_kind": payment.kind.value,
        "payment_method_id": payment.payment_method_id,
        "authorisation_id": payment.authorisation_id,
        "purchase_order_number": payment.purchase_order_number,
        "authorised_amount": payment.authorised_amount.amount,
        "approval_limit": None if order.approval.limit is None else order.approval.limit.amount,
        "fraud_review_id": order.fraud_review_id,
        "reservation_id": order.reservation_id,
        "fingerprint": order.fingerprint,
        "version": order.version,
        "created_at": order.created_at,
        **mutable_values(order),
    }


# --- reading ----------------------------------------------------------------------------------------


async def list_orders(
    conn: AsyncConnection,
    *,
    customer_id: str,
    account_id: str,
    statuses: Sequence[OrderStatus],
    after: tuple[datetime, str] | None,
    limit: int,
    with_history: bool,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> list[Order]:
    """Orders newest first (keyset on created_at, id), filtered by customer and/or account, status and
    creation time (from created_after inclusive to created_before exclusive)."""
    query = sa.select(orders).order_by(orders.c.created_at.desc(), orders.c.id.desc()).limit(limit)
    if customer_id:
        query = query.where(orders.c.customer_id == customer_id)
    if account_id:
        query = query.where(orders.c.account_id == account_id)
    if statuses:
        query = query.where(orders.c.status.in_([s.value for s in statuses]))
    if created_after is not None:
        query = query.where(orders.c.created_at >= created_after)
    if created_before is not None:
        query = query.where(orders.c.created_at < created_before)
    rows = list(await conn.execute(_after(query, after)))
    return await _assemble(conn, rows, with_history=with_history)


def _after(query: sa.Select[Any], after: tuple[datetime, str] | None) -> sa.Select[Any]:
    """The page after the keyset (created_at, id) of the last order of the previous page."""
    if after is None:
        return query
    created_at, last_id = after
    return query.where(
        sa.tuple_(orders.c.created_at, orders.c.id)
        < sa.tuple_(sa.literal(created_at, sa.DateTime(timezone=True)), sa.literal(last_id, UUID(as_uuid=False)))
    )


async def list_pending_approvals(
    conn: AsyncConnection,
    *,
    approver_id: str,
    account_id: str,
    after: tuple[datetime, str] | None,
    limit: int,
    with_history: bool,
) -> list[Order]:
    """An approver's inbox, newest first: the account's PENDING_APPROVAL orders (not their own)
    whose current approval step waits for them, by name or open to any approver."""
    waiting = orders.c.approval_waiting
    query = (
        sa.select(orders)
        .where(
            orders.c.status == OrderStatus.PENDING_APPROVAL.value,
            orders.c.account_id == account_id,
            orders.c.customer_id != approver_id,
            sa.or_(waiting.any(approval_chain.ANY_APPROVER), waiting.any(approver_id)),
        )
        .order_by(orders.c.created_at.desc(), orders.c.id.desc())
        .limit(limit)
    )
    rows = list(await conn.execute(_after(query, after)))
    return await _assemble(conn, rows, with_history=with_history)


async def _assemble(conn: AsyncConnection, rows: Sequence[Any], *, with_history: bool) -> list[Order]:
    """Orders with their lines, fulfilments, refunds (and history), in one query per child table."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    lines: dict[str, list[Line]] = {order_id: [] for order_id in ids}
    fulfilled: dict[str, list[FulfilmentRecord]] = {order_id: [] for order_id in ids}
    refunded: dict[str, list[RefundRecord]] = {order_id: [] for order_id in ids}
    history: dict[str, list[HistoryEntry]] = {order_id: [] for order_id in ids}
    currency = {row.id: row.currency for row in rows}
    for line in await conn.execute(
        sa.select(order_lines)
        .where(order_lines.c.order_id.in_(ids))
        .order_by(order_lines.c.order_id, order_lines.c.position)
    ):
        c = currency[line.order_id]
        lines[line.order_id].append(
            Line(
                line_id=line.line_id,
                sku=line.sku,
                product_id=line.product_id,
                name=line.name,
                quantity=line.quantity,
                unit_price=Money(line.unit_price, c),
                discount=Money(line.discount, c),
                line_total=Money(line.line_total, c),
                fulfilled_quantity=line.fulfilled_quantity,
                refunded_quantity=line.refunded_quantity,
                tax=line.tax,
            )
        )
    for f in await conn.execute(
        sa.select(fulfilments)
        .where(fulfilments.c.order_id.in_(ids))
        .order_by(fulfilments.c.fulfilled_at, fulfilments.c.fulfilment_id)
    ):
        fulfilled[f.order_id].append(
            FulfilmentRecord(
                f.fulfilment_id,
                quantities(f.lines),
                f.location_id,
                f.carrier,
                f.tracking_number,
                f.fulfilled_at,
                f.fingerprint,
            )
        )
    for r in await conn.execute(
        sa.select(refunds).where(refunds.c.order_id.in_(ids)).order_by(refunds.c.refunded_at, refunds.c.refund_id)
    ):
        refunded[r.order_id].append(
            RefundRecord(
                r.refund_id,
                Money(r.amount, currency[r.order_id]),
                quantities(r.lines),
                r.reason,
                r.provider_refund_id,
                r.refunded_at,
                r.fingerprint,
            )
        )
    if with_history:
        for h in await conn.execute(
            sa.select(order_history)
            .where(order_history.c.order_id.in_(ids))
            .order_by(order_history.c.order_id, order_history.c.sequence)
        ):
            history[h.order_id].append(history_entry(h._mapping))
    return [
        order_from_row(row._mapping, lines[row.id], fulfilled[row.id], refunded[row.id], history[row.id])
        for row in rows
    ]


def history_entry(h: Mapping[Any, Any]) -> HistoryEntry:
    return HistoryEntry(
        sequence=h["sequence"],
        change=Change(h["change"]),
        status=OrderStatus(h["status"]),
        previous_status=None if h["previous_status"] is None else OrderStatus(h["previous_status"]),
        payment_status=PaymentStatus(h["payment_status"]),
        fulfilment_status=FulfilmentStatus(h["fulfilment_status"]),
        actor=Actor(h["actor_role"], h["actor_id"]),
        reason=h["reason"],
        note=h["note"],
        occurred_at=h["occurred_at"],
    )


def history_row(e: HistoryEntry) -> dict[str, Any]:
    """The columns of a numbered history entry (without its order id)."""
    return {
        "sequence": e.sequence,
        "change": e.change.value,
        "status": e.status.value,
        "previous_status": None if e.previous_status is None else e.previous_status.value,
        "payment_status": e.payment_status.value,
        "fulfilment_status": e.fulfilment_status.value,
        "actor_role": e.actor.role,
        "actor_id": e.actor.id,
        "reason": e.reason,
        "note": e.note,
        "occurred_at": e.occurred_at,
    }
