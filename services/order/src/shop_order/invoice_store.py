"""Invoices in the order database (migration 0007): their tables and the statements on them, all
DriverQuery statements so that CreateOrder can weigh and issue an invoice in its own unit of work.

An invoice row holds what never changes (lines, totals, due date) and what payments add up to; its
credits (the order's refunded amount) and whether it is void (the order cancelled) are read from its
order, so the order's own transitions need not touch invoices.

Concurrency: an invoice order locks its account's `credit_accounts` row before it reads the
account's open balance, so two invoice orders of one account are weighed one after the other. A
payment locks its invoice row. Lock order: account row, then order rows (CreateOrder inserts them).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert

from shop_order.domain.invoices import Credit, Invoice, InvoiceLine, InvoicePayment
from shop_order.domain.model import Actor, Address, OrderStatus, Totals
from shop_order.store import metadata, orders
from shopkit.db import DriverConnection, DriverQuery
from shopkit.money import Money

invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("number", sa.Text, primary_key=True, server_default=sa.text("next_invoice_number()")),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    sa.Column("order_id", UUID(as_uuid=False), sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    sa.Column("order_number", sa.Text, nullable=False),
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("customer_id", sa.Text, nullable=False, server_default=""),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("terms_days", sa.Integer, nullable=False),
    sa.Column("lines", JSONB, nullable=False),
    sa.Column("subtotal", sa.BigInteger, nullable=False),
    sa.Column("discount_total", sa.BigInteger, nullable=False),
    sa.Column("shipping_total", sa.BigInteger, nullable=False),
    sa.Column("tax_total", sa.BigInteger, nullable=False),
    sa.Column("tax_included", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("billing_address", JSONB, nullable=False),
    sa.Column("purchase_order_number", sa.Text, nullable=False, server_default=""),
    sa.Column("amount_paid", sa.BigInteger, nullable=False, server_default="0"),
)

invoice_payments = sa.Table(
    "invoice_payments",
    metadata,
    sa.Column("invoice_number", sa.Text, sa.ForeignKey("invoices.number"), primary_key=True),
    sa.Column("idempotency_key", sa.Text, primary_key=True),
    sa.Column("payment_id", UUID(as_uuid=False), nullable=False, unique=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("reference", sa.Text, nullable=False, server_default=""),
    sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_role", sa.Text, nullable=False),
    sa.Column("actor_id", sa.Text, nullable=False, server_default=""),
    sa.Column("fingerprint", sa.Text, nullable=False),
)

credit_accounts = sa.Table(
    "credit_accounts",
    metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# UUID columns as text: the driver's rows need no SQLAlchemy result processing.
_invoice_columns = [c.cast(sa.Text).label(c.name) if c.name == "order_id" else c for c in invoices.c]
_payment_columns = [c.cast(sa.Text).label(c.name) if c.name == "payment_id" else c for c in invoice_payments.c]
_cancelled = orders.c.status == OrderStatus.CANCELLED.value
_balance = sa.case(
    (_cancelled, sa.literal(0, sa.BigInteger)),
    else_=sa.func.greatest(invoices.c.total - invoices.c.amount_paid - orders.c.refunded_amount, 0),
)
# Every invoice with what its order adds: credits, void, and the balance they leave.
_joined = sa.select(
    *_invoice_columns,
    orders.c.refunded_amount.label("credited"),
    _cancelled.label("order_cancelled"),
    _balance.label("balance"),
).select_from(invoices.join(orders, invoices.c.order_id == orders.c.id))
_view = _joined.subquery("v")
v = _view.c
_open = sa.and_(sa.not_(v.order_cancelled), v.balance > 0)

_LOCK_ACCOUNT = DriverQuery(
    insert(credit_accounts)
    .values(account_id=sa.bindparam("account_id"))
    .on_conflict_do_update(
        index_elements=[credit_accounts.c.account_id], set_={"account_id": sa.bindparam("account_id")}
    )
    .returning(credit_accounts.c.account_id)
)

_CREDIT = DriverQuery(
    sa.select(
        v.currency,
        sa.func.coalesce(sa.func.sum(v.balance).filter(_open), 0).label("open_balance"),
        sa.func.count().filter(_open).label("open_count"),
        sa.func.count().filter(sa.and_(_open, v.due_at < sa.bindparam("now"))).label("overdue_count"),
        sa.func.coalesce(sa.func.sum(v.balance).filter(sa.and_(_open, v.due_at < sa.bindparam("now"))), 0).label(
            "overdue_amount"
        ),
    )
    .where(v.account_id == sa.bindparam("account_id"))
    .group_by(v.currency)
    .order_by(v.currency)
)

_INSERT = DriverQuery(
    invoices.insert()
    .values({c.name: sa.bindparam(c.name) for c in invoices.c if c.name not in ("number", "seq", "amount_paid")})
    .returning(invoices.c.number, invoices.c.seq)
)

_PAYMENTS = DriverQuery(
    sa.select(*_payment_columns)
    .where(invoice_payments.c.invoice_number == sa.bindparam("number"))
    .order_by(invoice_payments.c.recorded_at, invoice_payments.c.payment_id)
)

_INSERT_PAYMENT = DriverQuery(
    invoice_payments.insert().values({c.name: sa.bindparam(c.name) for c in invoice_payments.c})
)

_ADD_PAID = DriverQuery(
    invoices.update()
    .where(invoices.c.number == sa.bindparam("number"))
    .values(amount_paid=invoices.c.amount_paid + sa.bindparam("amount", type_=sa.BigInteger))
)

_LIST = DriverQuery(
    sa.select(_view)
    .where(
        sa.or_(sa.bindparam("account_id", type_=sa.Text) == "", v.account_id == sa.bindparam("account_id")),
        sa.or_(sa.bindparam("after", type_=sa.BigInteger) == 0, v.seq < sa.bindparam("after")),
        sa.or_(
            sa.func.cardinality(sa.bindparam("statuses", type_=ARRAY(sa.Text))) == 0,
            sa.case((v.order_cancelled, "void"), (v.balance == 0, "paid"), else_="open")
            == sa.func.any(sa.bindparam("statuses")),
        ),
        sa.or_(sa.not_(sa.bindparam("overdue_only", type_=sa.Boolean)), sa.and_(_open, v.due_at < sa.bindparam("now"))),
    )
    .order_by(v.seq.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
)


# The invoices of a page of orders (their summaries: no payments), on the order_id index.
_OF_ORDERS = DriverQuery(
    _joined.where(invoices.c.order_id == sa.func.any(sa.bindparam("order_ids", type_=ARRAY(UUID(as_uuid=False)))))
)


@functools.cache
def _one(key: str, *, for_update: bool) -> DriverQuery:
    """An invoice by `number` or `order_id` (on the table's columns, so that their indexes serve);
    locked (the invoice row only) for a payment."""
    query = _joined.where(getattr(invoices.c, key) == sa.bindparam("key"))
    return DriverQuery(query.with_for_update(of=invoices) if for_update else query)


# --- mapping ----------------------------------------------------------------------------------------


def _lines_json(lines: tuple[InvoiceLine, ...]) -> list[dict[str, Any]]:
    return [asdict(line) for line in lines]


def _invoice(row: Mapping[str, Any], payments: tuple[InvoicePayment, ...] = ()) -> Invoice:
    currency = row["currency"]

    def money(amount: int) -> Money:
        return Money(amount, currency)

    return Invoice(
        number=row["number"],
        account_id=row["account_id"],
        customer_id=row["customer_id"],
        order_id=row["order_id"],
        order_number=row["order_number"],
        issued_at=row["issued_at"],
        due_at=row["due_at"],
        terms_days=row["terms_days"],
        currency=currency,
        lines=tuple(InvoiceLine(**line) for line in row["lines"]),
        totals=Totals(
            money(row["subtotal"]),
            money(row["discount_total"]),
            money(row["shipping_total"]),
            money(row["tax_total"]),
            money(row["total"]),
            row["tax_included"],
        ),
        billing_address=Address(**dict(row["billing_address"] or {})),
        purchase_order_number=row["purchase_order_number"],
        amount_paid=row["amount_paid"],
        credited=row["credited"],
        order_cancelled=row["order_cancelled"],
        payments=payments,
        seq=row["seq"],
    )


def _payment(row: Mapping[str, Any], currency: str) -> InvoicePayment:
    return InvoicePayment(
        payment_id=row["payment_id"],
        amount=Money(row["amount"], currency),
        reference=row["reference"],
        paid_at=row["paid_at"],
        recorded_at=row["recorded_at"],
        recorded_by=Actor(row["actor_role"], row["actor_id"]),
        idempotency_key=row["idempotency_key"],
        fingerprint=row["fingerprint"],
    )


# --- statements -------------------------------------------------------------------------------------


async def lock_account(conn: DriverConnection, account_id: str) -> None:
    """Take the account's credit lock for the rest of the transaction (creating its row once)."""
    await conn.fetchrow(_LOCK_ACCOUNT, account_id=account_id)


async def credit(conn: DriverConnection, account_id: str, now: datetime) -> list[Credit]:
    """The account's open balance and overdue invoices, per currency."""
    rows = await conn.fetch(_CREDIT, account_id=account_id, now=now)
    return [
        Credit(
            account_id,
            row["currency"],
            int(row["open_balance"]),
            int(row["open_count"]),
            int(row["overdue_count"]),
            int(row["overdue_amount"]),
        )
        for row in rows
    ]


async def add(conn: DriverConnection, invoice: Invoice) -> Invoice:
    """Store a new invoice; it with its number."""
    t = invoice.totals
    row = await conn.fetchrow(
        _INSERT,
        order_id=invoice.order_id,
        order_number=invoice.order_number,
        account_id=invoice.account_id,
        customer_id=invoice.customer_id,
        currency=invoice.currency,
        issued_at=invoice.issued_at,
        due_at=invoice.due_at,
        terms_days=invoice.terms_days,
        lines=_lines_json(invoice.lines),
        subtotal=t.subtotal.amount,
        discount_total=t.discount_total.amount,
        shipping_total=t.shipping_total.amount,
        tax_total=t.tax_total.amount,
        tax_included=t.tax_included,
        total=t.total.amount,
        billing_address={k: val for k, val in asdict(invoice.billing_address).items() if val},
        purchase_order_number=invoice.purchase_order_number,
    )
    assert row is not None
    return Invoice(**{**_fields(invoice), "number": row["number"], "seq": row["seq"]})


def _fields(invoice: Invoice) -> dict[str, Any]:
    return {name: getattr(invoice, name) for name in Invoice.__dataclass_fields__}


async def load(
    conn: DriverConnection, *, number: str = "", order_id: str = "", for_update: bool = False
) -> Invoice | None:
    """One invoice with its payments, by number or by its order's id."""
    key, value = ("number", number) if number else ("order_id", order_id)
    row = await conn.fetchrow(_one(key, for_update=for_update), key=value)
    if row is None:
        return None
    payments = await conn.fetch(_PAYMENTS, number=row["number"])
    return _invoice(row, tuple(_payment(p, row["currency"]) for p in payments))


async def of_orders(conn: DriverConnection, order_ids: list[str]) -> dict[str, Invoice]:
    """The invoices of these orders (those that have one) by order id, without their payments."""
    if not order_ids:
        return {}
    rows = await conn.fetch(_OF_ORDERS, order_ids=order_ids)
    return {row["order_id"]: _invoice(row) for row in rows}


async def page(
    conn: DriverConnection,
    *,
    account_id: str,
    statuses: tuple[str, ...],
    overdue_only: bool,
    now: datetime,
    after: int,
    limit: int,
) -> list[Invoice]:
    """Invoices newest first (keyset on seq; `after` 0 for the first page), without their payments."""
    rows = await conn.fetch(
        _LIST,
        account_id=account_id,
        after=after,
        statuses=list(statuses),
        overdue_only=overdue_only,
        now=now,
        limit=limit,
    )
    return [_invoice(row) for row in rows]


async def add_payment(conn: DriverConnection, number: str, payment: InvoicePayment) -> None:
    await conn.execute(
        _INSERT_PAYMENT,
        invoice_number=number,
        idempotency_key=payment.idempotency_key,
        payment_id=payment.payment_id,
        amount=payment.amount.amount,
        reference=payment.reference,
        paid_at=payment.paid_at,
        recorded_at=payment.recorded_at,
        actor_role=payment.recorded_by.role,
        actor_id=payment.recorded_by.id,
        fingerprint=payment.fingerprint,
    )
    await conn.execute(_ADD_PAID, number=number, amount=payment.amount.amount)
