"""Tables and repository functions: Core statements compiled once and run on the asyncpg driver
(`shopkit.sqldriver`), so a cart read or write costs a few prepared statements.

Concurrency: every write locks the cart's row (`get_cart(..., for_update=True)`) before touching it
or its lines; a merge locks both carts in id order. One active cart per customer is a partial
UNIQUE index, not a check in code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_cart.domain import (
    Cart,
    CartStatus,
    CouponState,
    CustomerContext,
    Line,
    LinePrice,
    PriceSnapshot,
    Sellability,
)
from shopkit.outbox import inbox_table, outbox_table
from shopkit.personal_data import erasures_table
from shopkit.sqldriver import DriverConnection, DriverQuery, Row

metadata = sa.MetaData(
    naming_convention={
        "pk": "%(table_name)s_pkey",
        "fk": "%(table_name)s_%(column_0_name)s_fkey",
        "ck": "%(table_name)s_%(constraint_name)s_check",
        "uq": "%(table_name)s_%(column_0_name)s_key",
        "ix": "%(table_name)s_%(column_0_name)s_idx",
    }
)

_TS = sa.DateTime(timezone=True)

carts = sa.Table(
    "carts",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("customer_id", sa.Text),  # NULL for a guest cart
    sa.Column("customer_group", sa.Text, nullable=False, server_default=""),
    sa.Column("account_id", sa.Text, nullable=False, server_default=""),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("country", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("coupon_code", sa.Text),
    sa.Column("coupon_applied", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("coupon_reason", sa.Text, nullable=False, server_default=""),
    sa.Column("coupon_description", sa.Text, nullable=False, server_default=""),
    sa.Column("coupon_discount", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("subtotal", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("discount_total", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("total", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("priced_at", _TS, nullable=False),
    sa.Column("price_expires_at", _TS, nullable=False),
    sa.Column("merged_into_cart_id", UUID(as_uuid=True), sa.ForeignKey("carts.id")),
    sa.Column("checkout_id", sa.Text),
    sa.Column("order_id", sa.Text),
    # CreateCart's request_id for guests: a repeat returns the cart the first call created.
    sa.Column("guest_request_id", sa.Text, unique=True),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Column("last_activity_at", _TS, nullable=False),
    sa.CheckConstraint("status IN ('active', 'checked_out', 'merged', 'abandoned')", name="status"),
    sa.CheckConstraint("version >= 1", name="version"),
    sa.CheckConstraint("customer_id <> ''", name="customer_id"),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
    sa.CheckConstraint("coupon_code <> ''", name="coupon_code"),
    sa.CheckConstraint("(status = 'merged') = (merged_into_cart_id IS NOT NULL)", name="merged_into"),
    sa.CheckConstraint(
        "status <> 'checked_out' OR (checkout_id IS NOT NULL AND order_id IS NOT NULL)", name="checked_out"
    ),
    # One active cart per signed-in customer.
    sa.Index("carts_active_customer_key", "customer_id", unique=True, postgresql_where=sa.text("status = 'active'")),
    # The sweeper's query: active carts idle the longest.
    sa.Index("carts_idle_idx", "last_activity_at", postgresql_where=sa.text("status = 'active'")),
)

cart_lines = sa.Table(
    "cart_lines",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("cart_id", UUID(as_uuid=True), sa.ForeignKey("carts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("sku", sa.Text, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("product_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("sellability", sa.Text, nullable=False),
    sa.Column("tracks_stock", sa.Boolean, nullable=False),
    sa.Column("available", sa.BigInteger),
    sa.Column("unit_price", sa.BigInteger),
    sa.Column("original_price", sa.BigInteger),
    sa.Column("discount", sa.BigInteger),
    sa.Column("line_total", sa.BigInteger),
    sa.Column("shown_unit_price", sa.BigInteger),
    sa.Column("weight_grams", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("added_at", _TS, nullable=False),
    sa.UniqueConstraint("cart_id", "sku", name="cart_lines_cart_id_sku_key"),
    sa.UniqueConstraint("cart_id", "position", name="cart_lines_cart_id_position_key"),
    sa.CheckConstraint("quantity > 0", name="quantity"),
    sa.CheckConstraint("sellability IN ('sellable', 'discontinued', 'not_sellable')", name="sellability"),
    sa.CheckConstraint(
        "(unit_price IS NULL) = (original_price IS NULL) AND (unit_price IS NULL) = (discount IS NULL)"
        " AND (unit_price IS NULL) = (line_total IS NULL)",
        name="price",
    ),
)

# AddCartLine request ids: a repeat adds nothing and answers with the line of the first call.
# Kept for REQUEST_RETENTION_SECONDS (retries come soon after), then deleted by the sweeper.
cart_requests = sa.Table(
    "cart_requests",
    metadata,
    sa.Column("cart_id", UUID(as_uuid=True), sa.ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("line_id", UUID(as_uuid=True), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    # Appended in time order: a BRIN index keeps the retention sweep cheap at a tiny size.
    sa.Index("cart_requests_created_at_idx", "created_at", postgresql_using="brin"),
)

outbox = outbox_table(metadata)
customer_erasures = erasures_table(metadata)
inbox = inbox_table(metadata)


# --- mapping -------------------------------------------------------------------------------------


def _cart_values(cart: Cart) -> dict[str, Any]:
    context, coupon, pricing = cart.context, cart.coupon, cart.pricing
    return {
        "customer_id": context.customer_id or None,
        "customer_group": context.customer_group,
        "account_id": context.account_id,
        "channel": context.channel,
        "country": context.country,
        "currency": context.currency,
        "status": cart.status.value,
        "version": cart.version,
        "coupon_code": coupon.code if coupon else None,
        "coupon_applied": coupon.applied if coupon else False,
        "coupon_reason": coupon.reason if coupon else "",
        "coupon_description": coupon.description if coupon else "",
        "coupon_discount": coupon.discount if coupon else 0,
        "subtotal": pricing.subtotal,
        "discount_total": pricing.discount_total,
        "total": pricing.total,
        "priced_at": pricing.priced_at,
        "price_expires_at": pricing.expires_at,
        "merged_into_cart_id": cart.merged_into,
        "checkout_id": cart.checkout_id or None,
        "order_id": cart.order_id or None,
        "created_at": cart.created_at,
        "updated_at": cart.updated_at,
        "last_activity_at": cart.last_activity_at,
    }


def _line_values(cart_id: uuid.UUID, line: Line) -> dict[str, Any]:
    price = line.price
    return {
        "id": line.line_id,
        "cart_id": cart_id,
        "sku": line.sku,
        "position": line.position,
        "quantity": line.quantity,
        "product_id": line.product_id,
        "name": line.name,
        "sellability": line.sellability.value,
        "tracks_stock": line.tracks_stock,
        "available": line.available,
        "unit_price": price.unit_price if price else None,
        "original_price": price.original_price if price else None,
        "discount": price.discount if price else None,
        "line_total": price.line_total if price else None,
        "shown_unit_price": line.shown_unit_price,
        "weight_grams": line.weight_grams,
        "added_at": line.added_at,
    }


def _line(row: Any) -> Line:
    price = None
    if row.unit_price is not None:
        price = LinePrice(row.unit_price, row.original_price, row.discount, row.line_total)
    return Line(
        line_id=row.id,
        sku=row.sku,
        quantity=row.quantity,
        position=row.position,
        product_id=row.product_id,
        name=row.name,
        sellability=Sellability(row.sellability),
        tracks_stock=row.tracks_stock,
        available=row.available,
        added_at=row.added_at,
        price=price,
        shown_unit_price=row.shown_unit_price,
        weight_grams=row.weight_grams,
    )


def _cart(row: Any, lines: Sequence[Line]) -> Cart:
    coupon = None
    if row.coupon_code is not None:
        coupon = CouponState(
            row.coupon_code, row.coupon_applied, row.coupon_reason, row.coupon_description, row.coupon_discount
        )
    return Cart(
        cart_id=row.id,
        context=CustomerContext(
            customer_id=row.customer_id or "",
            customer_group=row.customer_group,
            account_id=row.account_id,
            channel=row.channel,
            country=row.country,
            currency=row.currency,
        ),
        status=CartStatus(row.status),
        lines=tuple(lines),
        coupon=coupon,
        pricing=PriceSnapshot(row.subtotal, row.discount_total, row.total, row.priced_at, row.price_expires_at),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_activity_at=row.last_activity_at,
        merged_into=row.merged_into_cart_id,
        checkout_id=row.checkout_id or "",
        order_id=row.order_id or "",
    )


# --- reads -----------------------------------------------------------------------------------------

# A cart with its lines, one row per line (a LEFT JOIN: an empty cart is one row without a line); line
# columns are prefixed.
_LINE_COLUMNS = [c.label(f"line_{c.name}") for c in cart_lines.c if c.name != "cart_id"]


def _with_lines(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (
        sa.select(*carts.c, *_LINE_COLUMNS)
        .select_from(carts.outerjoin(cart_lines, cart_lines.c.cart_id == carts.c.id))
        .where(where)
        .order_by(carts.c.id, cart_lines.c.position)
    )


_IDS = sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))
_BY_IDS = _with_lines(carts.c.id == sa.any_(_IDS))
_CARTS = DriverQuery(_BY_IDS)
# Locking is a statement of its own: a read that waited for a lock would see the lines as they were
# before the wait; the read after it sees what the previous holder committed.
_LOCK = DriverQuery(sa.select(carts.c.id).where(carts.c.id == sa.any_(_IDS)).order_by(carts.c.id).with_for_update())
_ACTIVE_OF = DriverQuery(
    _with_lines(sa.and_(carts.c.customer_id == sa.bindparam("customer_id"), carts.c.status == "active"))
)
_BY_GUEST_REQUEST = DriverQuery(_with_lines(carts.c.guest_request_id == sa.bindparam("request_id", type_=sa.Text)))
_IDLE = DriverQuery(
    sa.select(carts.c.id)
    .where(carts.c.status == "active", carts.c.last_activity_at <= sa.bindparam("idle_since", type_=_TS))
    .order_by(carts.c.last_activity_at)
    .limit(sa.bindparam("limit", type_=sa.Integer))
    .with_for_update(skip_locked=True)
)


class _Fields:
    """Attribute access to a driver row (with a column prefix), for the row mappers above."""

    __slots__ = ("_prefix", "_row")

    def __init__(self, row: Row, prefix: str = ""):
        self._row = row
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return self._row[self._prefix + name]


def _carts(rows: Sequence[Row]) -> list[Cart]:
    firsts: dict[uuid.UUID, Row] = {}
    lines: dict[uuid.UUID, list[Line]] = {}
    for row in rows:
        cart_id = row["id"]
        if cart_id not in firsts:
            firsts[cart_id] = row
            lines[cart_id] = []
        if row["line_id"] is not None:
            lines[cart_id].append(_line(_Fields(row, "line_")))
    return [_cart(_Fields(row), lines[cart_id]) for cart_id, row in firsts.items()]


async def get_carts(conn: DriverConnection, cart_ids: Iterable[uuid.UUID], *, for_update: bool = False) -> list[Cart]:
    """Carts by id (in id order); `for_update` locks their rows in that order (no deadlocks)."""
    ids = sorted(set(cart_ids))
    if for_update:
        await conn.execute(_LOCK, ids=ids)
    return _carts(await conn.fetch(_CARTS, ids=ids))


async def get_cart(conn: DriverConnection, cart_id: uuid.UUID, *, for_update: bool = False) -> Cart | None:
    found = await get_carts(conn, [cart_id], for_update=for_update)
    return found[0] if found else None


async def active_cart_of(conn: DriverConnection, customer_id: str) -> Cart | None:
    found = _carts(await conn.fetch(_ACTIVE_OF, customer_id=customer_id))
    return found[0] if found else None


async def cart_by_guest_request(conn: DriverConnection, request_id: str) -> Cart | None:
    found = _carts(await conn.fetch(_BY_GUEST_REQUEST, request_id=request_id))
    return found[0] if found else None


# --- writes ----------------------------------------------------------------------------------------

_CART_FIELDS = [c.name for c in carts.c if c.name not in ("id", "guest_request_id")]


def _params(table: sa.Table, names: Iterable[str]) -> dict[str, sa.BindParameter[Any]]:
    return {name: sa.bindparam(name, type_=table.c[name].type) for name in names}


def _insert_cart(conflict: Sequence[sa.Column[Any]], where: sa.TextClause | None) -> DriverQuery:
    statement = insert(carts).values(**_params(carts, ["id", "guest_request_id", *_CART_FIELDS]))
    return DriverQuery(
        statement.on_conflict_do_nothing(index_elements=conflict, index_where=where).returning(carts.c.id)
    )


_INSERT_CUSTOMER_CART = _insert_cart([carts.c.customer_id], sa.text("status = 'active'"))
_INSERT_GUEST_CART = _insert_cart([carts.c.guest_request_id], None)
_UPDATE_CART = DriverQuery(
    carts.update()
    .where(carts.c.id == sa.bindparam("cart_id", type_=UUID(as_uuid=True)))
    .values(**_params(carts, _CART_FIELDS))
)
_DELETE_LINES = DriverQuery(cart_lines.delete().where(cart_lines.c.id == sa.any_(_IDS)))
_LINE_FIELDS = [c.name for c in cart_lines.c]
_UPDATABLE_LINE_FIELDS = [name for name in _LINE_FIELDS if name not in ("id", "cart_id", "added_at")]
_upsert = insert(cart_lines).values(**_params(cart_lines, _LINE_FIELDS))
_UPSERT_LINE = DriverQuery(
    _upsert.on_conflict_do_update(
        index_elements=[cart_lines.c.id], set_={name: _upsert.excluded[name] for name in _UPDATABLE_LINE_FIELDS}
    )
)
_RECORDED_REQUEST = DriverQuery(
    sa.select(cart_requests.c.fingerprint, cart_requests.c.line_id).where(
        cart_requests.c.cart_id == sa.bindparam("cart_id", type_=UUID(as_uuid=True)),
        cart_requests.c.request_id == sa.bindparam("request_id", type_=sa.Text),
    )
)
_RECORD_REQUEST = DriverQuery(
    cart_requests.insert().values(
        **_params(cart_requests, ["cart_id", "request_id", "fingerprint", "line_id", "created_at"])
    )
)
_MARK_ABANDONED = DriverQuery(
    carts.update()
    .where(carts.c.id == sa.any_(_IDS))
    .values(status="abandoned", version=carts.c.version + 1, updated_at=sa.bindparam("now", type_=_TS))
)


async def insert_cart(conn: DriverConnection, cart: Cart, guest_request_id: str | None = None) -> bool:
    """Insert a new (empty) cart. False when the customer already has an active cart or the guest
    request id was used: a concurrent insert waits for the first transaction, then finds it taken."""
    query = _INSERT_CUSTOMER_CART if cart.customer_id else _INSERT_GUEST_CART
    row = await conn.fetchrow(query, id=cart.cart_id, guest_request_id=guest_request_id, **_cart_values(cart))
    return row is not None


async def save_cart(conn: DriverConnection, before: Cart, after: Cart) -> None:
    """Write `after` over the locked `before`: the cart row, removed lines, new and changed lines."""
    await conn.execute(_UPDATE_CART, cart_id=after.cart_id, **_cart_values(after))
    kept = {line.line_id for line in after.lines}
    removed = [line.line_id for line in before.lines if line.line_id not in kept]
    if removed:
        await conn.execute(_DELETE_LINES, ids=removed)
    old = {line.line_id: line for line in before.lines}
    for line in after.lines:
        if old.get(line.line_id) != line:
            await conn.execute(_UPSERT_LINE, **_line_values(after.cart_id, line))


async def recorded_request(conn: DriverConnection, cart_id: uuid.UUID, request_id: str) -> tuple[str, uuid.UUID] | None:
    """(fingerprint, line id) of an AddCartLine request id already applied to the cart."""
    row = await conn.fetchrow(_RECORDED_REQUEST, cart_id=cart_id, request_id=request_id)
    return (row["fingerprint"], row["line_id"]) if row else None


async def record_request(
    conn: DriverConnection, cart_id: uuid.UUID, request_id: str, fingerprint: str, line_id: uuid.UUID, now: datetime
) -> None:
    await conn.execute(
        _RECORD_REQUEST,
        cart_id=cart_id,
        request_id=request_id,
        fingerprint=fingerprint,
        line_id=line_id,
        created_at=now,
    )


async def delete_requests_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` request ids recorded before `cutoff` (rows another replica holds are
    skipped); returns how many went."""
    doomed = (
        sa.select(cart_requests.c.cart_id, cart_requests.c.request_id)
        .where(cart_requests.c.created_at < cutoff)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    key = sa.tuple_(cart_requests.c.cart_id, cart_requests.c.request_id)
    result = await conn.execute(cart_requests.delete().where(key.in_(doomed)))
    return int(result.rowcount or 0)


async def lock_idle_carts(conn: DriverConnection, idle_since: datetime, limit: int) -> list[Cart]:
    """Claim active carts without activity since `idle_since`; rows another replica holds are skipped."""
    ids = [row["id"] for row in await conn.fetch(_IDLE, idle_since=idle_since, limit=limit)]
    return await get_carts(conn, ids) if ids else []


async def mark_abandoned(conn: DriverConnection, cart_ids: Sequence[uuid.UUID], now: datetime) -> None:
    await conn.execute(_MARK_ABANDONED, ids=list(cart_ids), now=now)
