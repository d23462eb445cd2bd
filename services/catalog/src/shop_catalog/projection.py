"""The search projection: what catalog knows of prices and stock, for filters, sorts and facets.

Catalog owns neither prices nor stock. It keeps a copy of what search needs, fed by pricing's
`price_changed` and inventory's `stock_level_changed` events (see events.py), per SKU:

- `sku_prices`: the base price of a SKU in a currency, as of the newest audit entry seen (an older
  event arriving late changes nothing);
- `sku_stock`: a SKU's availability summed over every location, as of the newest stock version seen
  (inventory's per-SKU counter; events of publishers before it carry 0 and are ordered by their time);

and derived from those per product, rewritten whenever a SKU's row or a product's variants change
(`refresh`, in the same transaction):

- `product_prices`: the lowest base price of the product's variants in each currency;
- `product_stock`: whether any variant is in stock somewhere (a variant that is not stock-tracked
  always is; a preorder variant without stock is not).

SKU rows are kept for SKUs the catalog does not know (yet): a price may be set before its product is
created, and the product's refresh then finds it.

The backfill (backfill.py) writes what it reads from pricing and inventory through the same functions
with `read=True`. A read carries the audit id or stock version of the change it saw, the same number
that change's event carries, so one rule orders both: the larger number wins. An event must be newer
than the row (an event of the very change a read already wrote changes nothing); a read may also be
as new (it is the owner's committed state of that change, e.g. after a location was closed).

The module has its own table objects (no foreign keys: the migration declares them) so that store.py
can call `refresh` without an import cycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = sa.MetaData()

sku_prices = sa.Table(
    "sku_prices",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("audit_id", sa.BigInteger, nullable=False),
)
sku_stock = sa.Table(
    "sku_stock",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("total_available", sa.BigInteger, nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("stock_version", sa.BigInteger, nullable=False, server_default="0"),
)
product_prices = sa.Table(
    "product_prices",
    metadata,
    sa.Column("product_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
)
product_stock = sa.Table(
    "product_stock",
    metadata,
    sa.Column("product_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("in_stock", sa.Boolean, nullable=False),
)

_IDS = sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))
_SKUS = sa.bindparam("skus", type_=ARRAY(sa.Text))
# Refreshes of one product run one after the other: each recomputes from the SKU rows committed when
# it got the lock, so a concurrent price and stock event cannot leave a row computed from a snapshot
# that missed the other's SKU row (the last writer would otherwise win with stale values).
_LOCK = sa.text("SELECT id FROM products WHERE id = ANY(:ids) ORDER BY id FOR NO KEY UPDATE").bindparams(_IDS)
_DELETE_PRICES = sa.text("DELETE FROM product_prices WHERE product_id = ANY(:ids)").bindparams(_IDS)
_INSERT_PRICES = sa.text(
    "INSERT INTO product_prices (product_id, currency, amount)"
    " SELECT v.product_id, p.currency, min(p.amount) FROM variants v JOIN sku_prices p ON p.sku = v.sku"
    " WHERE v.product_id = ANY(:ids) GROUP BY v.product_id, p.currency"
).bindparams(_IDS)
_UPSERT_STOCK = sa.text(
    "INSERT INTO product_stock (product_id, in_stock)"
    " SELECT pr.id, coalesce(bool_or(NOT v.track_inventory OR s.total_available > 0), false)"
    " FROM products pr LEFT JOIN variants v ON v.product_id = pr.id LEFT JOIN sku_stock s ON s.sku = v.sku"
    " WHERE pr.id = ANY(:ids) GROUP BY pr.id"
    " ON CONFLICT (product_id) DO UPDATE SET in_stock = excluded.in_stock"
    " WHERE product_stock.in_stock IS DISTINCT FROM excluded.in_stock"
).bindparams(_IDS)
_LOCK_STOCK = sa.text(
    "SELECT sku, total_available > 0 AS available FROM sku_stock WHERE sku = ANY(:skus) ORDER BY sku FOR UPDATE"
).bindparams(_SKUS)
_OWNERS = sa.text("SELECT DISTINCT product_id FROM variants WHERE sku = ANY(:skus)").bindparams(_SKUS)


async def refresh(conn: AsyncConnection, product_ids: Iterable[uuid.UUID]) -> None:
    """Recompute the per-product rows of these products from their variants and the SKU rows."""
    ids = sorted(set(product_ids))
    if not ids:
        return
    await conn.execute(_LOCK, {"ids": ids})
    await conn.execute(_DELETE_PRICES, {"ids": ids})
    await conn.execute(_INSERT_PRICES, {"ids": ids})
    await conn.execute(_UPSERT_STOCK, {"ids": ids})


async def refresh_skus(conn: AsyncConnection, skus: Iterable[str]) -> None:
    """Refresh the products that own these SKUs (none when the catalog does not know them)."""
    wanted = sorted(set(skus))
    if wanted:
        owners = await conn.execute(_OWNERS, {"skus": wanted})
        await refresh(conn, [row.product_id for row in owners])


def _newest(
    rows: Iterable[tuple[Any, ...]], key: Callable[[tuple[Any, ...]], Any], order: Callable[[tuple[Any, ...]], Any]
) -> list[tuple[Any, ...]]:
    """One row per key, the one of the largest order (the later one of equals, as a later event):
    a statement may not update a row twice."""
    kept: dict[Any, tuple[Any, ...]] = {}
    for row in rows:
        seen = kept.get(key(row))
        if seen is None or order(row) >= order(seen):
            kept[key(row)] = row
    return [kept[k] for k in sorted(kept)]


async def set_prices(conn: AsyncConnection, prices: Sequence[tuple[str, str, int, int]], *, read: bool = False) -> None:
    """Record (sku, currency, amount, audit id) base prices; a row keeps the newest audit id's price
    (a `read` of pricing's may replace the row of its own audit id, an event only an older one)."""
    if not prices:
        return
    stmt = insert(sku_prices)
    newer = sku_prices.c.audit_id <= stmt.excluded.audit_id if read else sku_prices.c.audit_id < stmt.excluded.audit_id
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[sku_prices.c.sku, sku_prices.c.currency],
            set_={"amount": stmt.excluded.amount, "audit_id": stmt.excluded.audit_id},
            where=newer,
        ),
        [
            {"sku": s, "currency": c, "amount": a, "audit_id": i}
            for s, c, a, i in _newest(prices, lambda p: (p[0], p[1]), lambda p: p[3])
        ],
    )


async def set_stock(
    conn: AsyncConnection, levels: Sequence[tuple[str, int, datetime, int]], *, read: bool = False
) -> set[str]:
    """Record (sku, total available, when, stock version) stock levels; a row keeps the newest version's
    level (a `read` of inventory's may replace the row of its own version, an event only an older one).
    Versions 0 (a publisher without them) are ordered by their time, and lose to any version.

    Returns the SKUs whose availability (any unit or none) changed: only their products' rows can
    change, and most stock events (a reservation, a commit) leave a SKU in stock as it was."""
    if not levels:
        return set()
    rows = _newest(levels, lambda level: level[0], lambda level: (level[3], level[2]))
    # Locks the SKUs' rows (in key order, as the upsert below) so that a concurrent handler of the same
    # SKU waits and then sees this one's level as the one before its own.
    before = await conn.execute(_LOCK_STOCK, {"skus": [row[0] for row in rows]})
    available_before = {row.sku: row.available for row in before}
    stmt = insert(sku_stock)
    row, new = sku_stock.c, stmt.excluded
    unversioned = sa.and_(new.stock_version == 0, row.stock_version == 0, row.occurred_at <= new.occurred_at)
    newer = (
        row.stock_version <= new.stock_version if read else sa.or_(row.stock_version < new.stock_version, unversioned)
    )
    written = await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[sku_stock.c.sku],
            set_={
                "total_available": new.total_available,
                "occurred_at": new.occurred_at,
                "stock_version": new.stock_version,
            },
            where=newer,
        ).returning(sku_stock.c.sku, (sku_stock.c.total_available > 0).label("available")),
        [{"sku": s, "total_available": n, "occurred_at": at, "stock_version": v} for s, n, at, v in rows],
    )
    # A SKU without a row counted as out of stock (the refresh's LEFT JOIN).
    return {item.sku for item in written if item.available != available_before.get(item.sku, False)}
