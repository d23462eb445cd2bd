"""Tables and repository functions of stock administration (SQLAlchemy Core on the caller's connection);
the purchase path's statements run on the driver (`reservation_store`).

Lock order, kept by every writer so that concurrent writers never deadlock:
reservation rows -> `skus` rows (sorted by sku, `lock_skus`) -> `stock` rows. Holding a SKU's row
serialises every change of that SKU's stock, which makes the availability read before allocation
exact and the low-stock crossing check precise. The conditional UPDATEs and the CHECK constraints
still guard against overselling on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_inventory.domain import (
    Location,
    LocationType,
    LockedSkus,
    StockLevel,
    StockVersions,
)
from shopkit.outbox import inbox_table, outbox_table

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

locations = sa.Table(
    "locations",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("country", sa.Text, nullable=False),
    sa.Column("address", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("priority", sa.Integer, nullable=False, server_default="100"),
    sa.Column("click_and_collect", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("type IN ('warehouse', 'store')", name="type"),
    sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name="country"),
    sa.CheckConstraint("NOT click_and_collect OR type = 'store'", name="click_and_collect_store"),
)

skus = sa.Table(
    "skus",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    # NULL: the service default applies.
    sa.Column("low_stock_threshold", sa.BigInteger),
    # The version of the SKU's stock: see domain.StockVersions.
    sa.Column("stock_version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("low_stock_threshold >= 0", name="low_stock_threshold"),
)

stock = sa.Table(
    "stock",
    metadata,
    sa.Column("sku", sa.Text, sa.ForeignKey("skus.sku"), primary_key=True),
    sa.Column("location_id", sa.Text, sa.ForeignKey("locations.id"), primary_key=True),
    sa.Column("on_hand", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("on_hand >= 0", name="on_hand"),
    sa.CheckConstraint("reserved >= 0", name="reserved"),
    sa.CheckConstraint("reserved <= on_hand", name="reserved_le_on_hand"),
    sa.Index("stock_location_id_idx", "location_id"),
)

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("pickup_store_id", sa.Text, sa.ForeignKey("locations.id")),
    sa.Column("ship_country", sa.Text, nullable=False, server_default=""),
    sa.Column("allow_split", sa.Boolean, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("release_reason", sa.Text, nullable=False, server_default=""),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("status IN ('active', 'committed', 'released', 'expired')", name="status"),
    # The sweeper's query: overdue active reservations, oldest first.
    sa.Index("reservations_due_idx", "expires_at", postgresql_where=sa.text("status = 'active'")),
)

reservation_allocations = sa.Table(
    "reservation_allocations",
    metadata,
    sa.Column("reservation_id", sa.Text, sa.ForeignKey("reservations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("location_id", sa.Text, primary_key=True),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(
        ["sku", "location_id"], ["stock.sku", "stock.location_id"], name="reservation_allocations_stock_fkey"
    ),
    sa.CheckConstraint("quantity > 0", name="quantity"),
)

# Idempotency record (and audit trail) of AdjustStock and Restock.
stock_adjustments = sa.Table(
    "stock_adjustments",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("lines", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.CheckConstraint("kind IN ('adjust', 'restock')", name="kind"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


# --- locations ---------------------------------------------------------------------------------


def _location(row: Any) -> Location:
    return Location(
        location_id=row.id,
        type=LocationType(row.type),
        name=row.name,
        country=row.country,
        address=dict(row.address or {}),
        priority=row.priority,
        click_and_collect=row.click_and_collect,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _location_values(location: Location) -> dict[str, Any]:
    return {
        "type": location.type.value,
        "name": location.name,
        "country": location.country,
        "address": dict(location.address),
        "priority": location.priority,
        "click_and_collect": location.click_and_collect,
        "active": location.active,
    }


async def insert_location(conn: AsyncConnection, location: Location) -> Location | None:
    """Insert a location; None when the id is taken."""
    row = (
        await conn.execute(
            insert(locations)
            .values(id=location.location_id, **_location_values(location))
            .on_conflict_do_nothing(index_elements=[locations.c.id])
            .returning(*locations.c)
        )
    ).first()
    return _location(row) if row else None


async def get_location(conn: AsyncConnection, location_id: str) -> Location | None:
    row = (await conn.execute(sa.select(locations).where(locations.c.id == location_id))).first()
    return _location(row) if row else None


async def update_location(conn: AsyncConnection, location: Location, fields: Iterable[str]) -> Location | None:
    values = {name: value for name, value in _location_values(location).items() if name in set(fields)}
    row = (
        await conn.execute(
            locations.update()
            .where(locations.c.id == location.location_id)
            .values(**values, updated_at=_now())
            .returning(*locations.c)
        )
    ).first()
    return _location(row) if row else None


async def missing_locations(conn: AsyncConnection, location_ids: Iterable[str]) -> list[str]:
    wanted = sorted(set(location_ids))
    found = set((await conn.execute(sa.select(locations.c.id).where(locations.c.id.in_(wanted)))).scalars())
    return [location_id for location_id in wanted if location_id not in found]


async def list_locations(
    conn: AsyncConnection,
    *,
    type: LocationType | None,
    country: str,
    pickup_only: bool,
    include_inactive: bool,
    after: str | None,
    limit: int,
) -> list[Location]:
    query = sa.select(locations).order_by(locations.c.id).limit(limit)
    if type is not None:
        query = query.where(locations.c.type == type.value)
    if country:
        query = query.where(locations.c.country == country)
    if pickup_only:
        query = query.where(locations.c.click_and_collect)
    if not include_inactive:
        query = query.where(locations.c.active)
    if after is not None:
        query = query.where(locations.c.id > after)
    return [_location(row) for row in await conn.execute(query)]


# --- SKUs and stock ------------------------------------------------------------------------------


async def ensure_skus(conn: AsyncConnection, sku_list: Iterable[str]) -> None:
    """Create missing SKU rows (sorted, so concurrent callers wait for each other instead of deadlocking)."""
    wanted = sorted(set(sku_list))
    if wanted:
        await conn.execute(insert(skus).values([{"sku": sku} for sku in wanted]).on_conflict_do_nothing())


async def lock_skus(conn: AsyncConnection, sku_list: Iterable[str]) -> LockedSkus:
    """Lock the SKUs' rows in sku order (see the module docstring); returns their own thresholds and
    their stock versions."""
    wanted = sorted(set(sku_list))
    rows = (
        await conn.execute(
            sa.select(skus.c.sku, skus.c.low_stock_threshold, skus.c.stock_version)
            .where(skus.c.sku.in_(wanted))
            .order_by(skus.c.sku)
            .with_for_update()
        )
    ).all()
    return LockedSkus(
        {row.sku: row.low_stock_threshold for row in rows}, StockVersions({row.sku: row.stock_version for row in rows})
    )


# Stores the versions a change took, in its transaction (the rows are locked: see lock_skus); the
# purchase path runs the same statement on the driver.
_TAKEN = sa.select(
    sa.func.unnest(sa.bindparam("version_skus", type_=ARRAY(sa.Text))).label("sku"),
    sa.func.unnest(sa.bindparam("versions", type_=ARRAY(sa.BigInteger))).label("version"),
).subquery("taken")
SAVE_VERSIONS = skus.update().where(skus.c.sku == _TAKEN.c.sku).values(stock_version=_TAKEN.c.version)


def version_params(versions: StockVersions) -> dict[str, list[Any]] | None:
    taken = versions.taken()
    return {"version_skus": list(taken), "versions": list(taken.values())} if taken else None


async def save_versions(conn: AsyncConnection, versions: StockVersions) -> None:
    params = version_params(versions)
    if params:
        await conn.execute(SAVE_VERSIONS, params)


async def stock_totals(conn: AsyncConnection, after: str | None, limit: int) -> list[tuple[str, int, int]]:
    """(sku, availability over active locations, stock version) by sku after the cursor. One statement,
    one snapshot: a total and the version stored by the same committed change."""
    available = sa.func.coalesce(sa.func.sum(stock.c.on_hand - stock.c.reserved).filter(locations.c.active), 0).label(
        "available"
    )
    query = (
        sa.select(skus.c.sku, available, skus.c.stock_version)
        .select_from(
            skus.outerjoin(stock, stock.c.sku == skus.c.sku).outerjoin(locations, locations.c.id == stock.c.location_id)
        )
        .group_by(skus.c.sku)
        .order_by(skus.c.sku)
        .limit(limit)
    )
    if after is not None:
        query = query.where(skus.c.sku > after)
    return [(row.sku, int(row.available), row.stock_version) for row in await conn.execute(query)]


async def set_thresholds(conn: AsyncConnection, thresholds: Sequence[tuple[str, int | None]]) -> None:
    rows = [{"sku": sku, "low_stock_threshold": value} for sku, value in sorted(thresholds)]
    statement = insert(skus).values(rows)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[skus.c.sku], set_={"low_stock_threshold": statement.excluded.low_stock_threshold}
        )
    )


def _level(row: Any) -> StockLevel:
    return StockLevel(row.sku, row.location_id, row.on_hand, row.reserved)


async def stock_levels(conn: AsyncConnection, sku_list: Iterable[str]) -> list[StockLevel]:
    """Every (sku, location) row of the SKUs, by sku then location."""
    rows = await conn.execute(
        sa.select(stock.c.sku, stock.c.location_id, stock.c.on_hand, stock.c.reserved)
        .where(stock.c.sku.in_(sorted(set(sku_list))))
        .order_by(stock.c.sku, stock.c.location_id)
    )
    return [_level(row) for row in rows]


async def skus_at(conn: AsyncConnection, location_id: str) -> list[str]:
    """The SKUs with a stock row at the location, in sku order."""
    rows = await conn.execute(sa.select(stock.c.sku).where(stock.c.location_id == location_id).order_by(stock.c.sku))
    return [row.sku for row in rows]


async def available_totals(conn: AsyncConnection, sku_list: Iterable[str]) -> dict[str, int]:
    """Available stock per SKU over active locations (0 for SKUs without stock)."""
    wanted = sorted(set(sku_list))
    rows = await conn.execute(
        sa.select(stock.c.sku, sa.func.sum(stock.c.on_hand - stock.c.reserved).label("available"))
        .join(locations, locations.c.id == stock.c.location_id)
        .where(stock.c.sku.in_(wanted), locations.c.active)
        .group_by(stock.c.sku)
    )
    totals = dict.fromkeys(wanted, 0)
    totals.update({row.sku: int(row.available) for row in rows})
    return totals


async def put_on_hand(conn: AsyncConnection, targets: Sequence[tuple[str, str, int]]) -> list[StockLevel]:
    """Set on-hand per (sku, location), creating rows as needed (one statement)."""
    statement = insert(stock).values(
        [{"sku": sku, "location_id": location_id, "on_hand": on_hand} for sku, location_id, on_hand in targets]
    )
    rows = await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[stock.c.sku, stock.c.location_id],
            set_={"on_hand": statement.excluded.on_hand, "updated_at": _now()},
        ).returning(stock.c.sku, stock.c.location_id, stock.c.on_hand, stock.c.reserved)
    )
    return [_level(row) for row in rows]


async def record_adjustment(
    conn: AsyncConnection, adjustment_id: str, kind: str, digest: str, reason: str, lines: list[dict[str, Any]]
) -> str | None:
    """Record an AdjustStock/Restock id; returns None when new, else the fingerprint it was first used with."""
    inserted = (
        await conn.execute(
            insert(stock_adjustments)
            .values(id=adjustment_id, kind=kind, fingerprint=digest, reason=reason, lines=lines)
            .on_conflict_do_nothing()
            .returning(stock_adjustments.c.id)
        )
    ).first()
    if inserted is not None:
        return None
    first: str = (
        await conn.execute(sa.select(stock_adjustments.c.fingerprint).where(stock_adjustments.c.id == adjustment_id))
    ).scalar_one()
    return first
