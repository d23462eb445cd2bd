"""Base prices, price lists and their entries, exchange rates: Core statements, batched per request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_pricing.domain.currency import ExchangeRate
from shop_pricing.domain.selection import CustomerScope, EntryTier, ListKind, ListScope, PriceListHeader, Tier
from shop_pricing.store.tables import (
    any_of,
    base_prices,
    currency_rates,
    price_changes,
    price_list_entries,
    price_lists,
)

# ------------------------------------------------------------------------------------------------
# Reads for GetPrices and Quote: at most three statements whatever the number of SKUs.


@dataclass(frozen=True)
class PriceInputs:
    base_amounts: dict[tuple[str, str], int]  # (sku, currency) -> amount
    rates: list[ExchangeRate]
    tiers: list[Tier]


def _header(row: Any) -> PriceListHeader:
    return PriceListHeader(
        id=row.id,
        name=row.name,
        kind=ListKind(row.kind),
        scope=ListScope(row.account_id, row.customer_group, row.channel, row.country, row.currency),
        priority=row.priority,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        active=row.active,
    )


async def load_price_inputs(
    conn: AsyncConnection, skus: Sequence[str], customer: CustomerScope, reference_currency: str, now: datetime
) -> PriceInputs:
    """Base prices (requested and reference currency), the rates between them, and the tiers that
    pass the scope/window/currency filters in SQL (the domain applies them again, exactly)."""
    currencies = sorted({customer.currency, reference_currency})
    base_rows = (
        await conn.execute(
            sa.select(base_prices.c.sku, base_prices.c.currency, base_prices.c.amount).where(
                any_of(base_prices.c.sku, skus), any_of(base_prices.c.currency, currencies)
            )
        )
    ).all()
    base_amounts = {(row.sku, row.currency): row.amount for row in base_rows}

    rates: list[ExchangeRate] = []
    needs_conversion = any((sku, customer.currency) not in base_amounts for sku in skus)
    if needs_conversion and customer.currency != reference_currency:
        pair = sa.tuple_(currency_rates.c.base_currency, currency_rates.c.quote_currency)
        rate_rows = (
            await conn.execute(
                sa.select(currency_rates.c.base_currency, currency_rates.c.quote_currency, currency_rates.c.rate).where(
                    pair.in_([(reference_currency, customer.currency), (customer.currency, reference_currency)])
                )
            )
        ).all()
        rates = [ExchangeRate(r.base_currency, r.quote_currency, r.rate) for r in rate_rows]

    lists, entries = price_lists, price_list_entries

    def any_or(column: sa.Column[str], value: str) -> sa.ColumnElement[bool]:
        return sa.or_(column == "", column == value)

    tier_rows = (
        await conn.execute(
            sa.select(
                lists,
                entries.c.sku,
                entries.c.currency.label("entry_currency"),
                entries.c.min_quantity,
                entries.c.unit_amount,
            )
            .join_from(entries, lists, lists.c.id == entries.c.price_list_id)
            .where(
                any_of(entries.c.sku, skus),
                entries.c.currency == customer.currency,
                lists.c.active,
                any_or(lists.c.account_id, customer.account_id),
                any_or(lists.c.customer_group, customer.customer_group),
                any_or(lists.c.channel, customer.channel),
                any_or(lists.c.country, customer.country),
                any_or(lists.c.currency, customer.currency),
                sa.or_(lists.c.valid_from.is_(None), lists.c.valid_from <= now),
                sa.or_(lists.c.valid_to.is_(None), lists.c.valid_to > now),
            )
        )
    ).all()
    headers: dict[str, PriceListHeader] = {}
    tiers = []
    for row in tier_rows:
        header = headers.get(row.id) or headers.setdefault(row.id, _header(row))
        tiers.append(Tier(header, row.sku, row.entry_currency, row.min_quantity, row.unit_amount))
    return PriceInputs(base_amounts, rates, tiers)


# ------------------------------------------------------------------------------------------------
# Base prices and their audit log


@dataclass(frozen=True)
class BasePriceChange:
    sku: str
    currency: str
    old_amount: int | None
    new_amount: int


@dataclass(frozen=True)
class AuditedChange:
    audit_id: int
    change: BasePriceChange
    cause: str  # base_price_set | dynamic
    rule_id: str = ""
    triggering_event_id: str = ""
    total_available: int | None = None
    changed_at: datetime | None = None


async def set_base_prices(conn: AsyncConnection, prices: Sequence[tuple[str, str, int]]) -> list[BasePriceChange]:
    """Upsert (sku, currency, amount) rows; each also resets the dynamic anchor. Returns the changes
    customers see (new prices and different amounts)."""
    skus = sorted({sku for sku, _, _ in prices})
    existing = {
        (row.sku, row.currency): (row.amount, row.anchor_amount)
        for row in (
            await conn.execute(
                sa.select(base_prices.c.sku, base_prices.c.currency, base_prices.c.amount, base_prices.c.anchor_amount)
                .where(any_of(base_prices.c.sku, skus))
                .order_by(base_prices.c.sku, base_prices.c.currency)  # one lock order: no deadlocks
                .with_for_update()
            )
        ).all()
    }
    to_write = sorted(
        (sku, currency, amount) for sku, currency, amount in prices if existing.get((sku, currency)) != (amount, amount)
    )
    if to_write:
        statement = insert(base_prices).values(
            [
                {"sku": sku, "currency": currency, "amount": amount, "anchor_amount": amount}
                for sku, currency, amount in to_write
            ]
        )
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[base_prices.c.sku, base_prices.c.currency],
                set_={
                    "amount": statement.excluded.amount,
                    "anchor_amount": statement.excluded.anchor_amount,
                    "updated_at": sa.func.now(),
                    "dynamic_changed_at": None,
                },
            )
        )
    changes = []
    for sku, currency, amount in to_write:
        old = existing.get((sku, currency))
        if old is None or old[0] != amount:
            changes.append(BasePriceChange(sku, currency, old[0] if old else None, amount))
    return changes


async def record_price_changes(
    conn: AsyncConnection,
    changes: Sequence[BasePriceChange],
    cause: str,
    *,
    rule_id: str = "",
    triggering_event_id: str = "",
    total_available: int | None = None,
) -> list[AuditedChange]:
    """Write the audit rows of `changes` (one multi-row insert) and return them with their ids."""
    if not changes:
        return []
    rows = [
        {
            "sku": c.sku,
            "currency": c.currency,
            "old_amount": c.old_amount,
            "new_amount": c.new_amount,
            "cause": cause,
            "rule_id": rule_id or None,
            "triggering_event_id": triggering_event_id or None,
            "total_available": total_available,
        }
        for c in changes
    ]
    result = await conn.execute(
        price_changes.insert().returning(price_changes.c.id, price_changes.c.changed_at, sort_by_parameter_order=True),
        rows,
    )
    return [
        AuditedChange(row.id, change, cause, rule_id, triggering_event_id, total_available, row.changed_at)
        for row, change in zip(result.all(), changes, strict=True)
    ]


async def list_price_changes(conn: AsyncConnection, sku: str, before_id: int | None, limit: int) -> list[AuditedChange]:
    """The audit log, newest first, optionally for one SKU; keyset pagination on the id."""
    query = sa.select(price_changes).order_by(price_changes.c.id.desc()).limit(limit)
    if sku:
        query = query.where(price_changes.c.sku == sku)
    if before_id is not None:
        query = query.where(price_changes.c.id < before_id)
    return [
        AuditedChange(
            row.id,
            BasePriceChange(row.sku, row.currency, row.old_amount, row.new_amount),
            row.cause,
            row.rule_id or "",
            row.triggering_event_id or "",
            row.total_available,
            row.changed_at,
        )
        for row in (await conn.execute(query)).all()
    ]


@dataclass(frozen=True)
class AuditedPrice:
    sku: str
    currency: str
    amount: int
    audit_id: int  # of the newest audit entry of (sku, currency); 0 when none was recorded


async def list_base_prices(conn: AsyncConnection, after: tuple[str, str] | None, limit: int) -> list[AuditedPrice]:
    """Base prices by (sku, currency) after the cursor, each with the newest audit id of its key.

    One statement, so one snapshot: a price and the audit entries are those of the same committed
    changes. Every writer of a base price holds its row lock while it inserts the audit entry, so per
    key audit ids rise in commit order and the newest one is the change that set the amount read."""
    newest = (
        sa.select(sa.func.max(price_changes.c.id))
        .where(price_changes.c.sku == base_prices.c.sku, price_changes.c.currency == base_prices.c.currency)
        .scalar_subquery()
    )
    query = (
        sa.select(base_prices.c.sku, base_prices.c.currency, base_prices.c.amount, newest.label("audit_id"))
        .order_by(base_prices.c.sku, base_prices.c.currency)
        .limit(limit)
    )
    if after is not None:
        query = query.where(
            sa.tuple_(base_prices.c.sku, base_prices.c.currency) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1]))
        )
    rows = (await conn.execute(query)).all()
    return [AuditedPrice(row.sku, row.currency, row.amount, row.audit_id or 0) for row in rows]


# ------------------------------------------------------------------------------------------------
# Price lists


@dataclass(frozen=True)
class PriceListRecord:
    header: PriceListHeader
    created_at: datetime
    updated_at: datetime


def _header_values(header: PriceListHeader) -> dict[str, Any]:
    scope = header.scope
    return {
        "name": header.name,
        "kind": header.kind.value,
        "account_id": scope.account_id,
        "customer_group": scope.customer_group,
        "channel": scope.channel,
        "country": scope.country,
        "currency": scope.currency,
        "priority": header.priority,
        "valid_from": header.valid_from,
        "valid_to": header.valid_to,
        "active": header.active,
    }


def _record(row: Any) -> PriceListRecord:
    return PriceListRecord(_header(row), row.created_at, row.updated_at)


async def insert_price_list(conn: AsyncConnection, header: PriceListHeader) -> PriceListRecord | None:
    """Insert a new list; None when the id is taken."""
    row = (
        await conn.execute(
            insert(price_lists)
            .values(id=header.id, **_header_values(header))
            .on_conflict_do_nothing(index_elements=[price_lists.c.id])
            .returning(price_lists)
        )
    ).first()
    return _record(row) if row else None


async def get_price_list(conn: AsyncConnection, list_id: str, *, lock: bool = False) -> PriceListRecord | None:
    query = sa.select(price_lists).where(price_lists.c.id == list_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _record(row) if row else None


async def update_price_list(conn: AsyncConnection, header: PriceListHeader) -> PriceListRecord | None:
    row = (
        await conn.execute(
            price_lists.update()
            .where(price_lists.c.id == header.id)
            .values(**_header_values(header), updated_at=sa.func.now())
            .returning(price_lists)
        )
    ).first()
    return _record(row) if row else None


async def list_price_lists(
    conn: AsyncConnection, after_id: str | None, limit: int, active_only: bool
) -> list[PriceListRecord]:
    query = sa.select(price_lists).order_by(price_lists.c.id).limit(limit)
    if after_id is not None:
        query = query.where(price_lists.c.id > after_id)
    if active_only:
        query = query.where(price_lists.c.active)
    return [_record(row) for row in (await conn.execute(query)).all()]


async def entry_currencies(conn: AsyncConnection, list_id: str) -> set[str]:
    """Currencies used by a list's entries (to keep them consistent with a currency scope)."""
    rows = await conn.execute(
        sa.select(price_list_entries.c.currency).distinct().where(price_list_entries.c.price_list_id == list_id)
    )
    return {row.currency for row in rows}


async def replace_entries(conn: AsyncConnection, list_id: str, tiers: Sequence[EntryTier]) -> None:
    """Every SKU present in `tiers` gets exactly these tiers in the list (its old tiers go)."""
    skus = sorted({tier.sku for tier in tiers})
    await conn.execute(
        price_list_entries.delete().where(
            price_list_entries.c.price_list_id == list_id, any_of(price_list_entries.c.sku, skus)
        )
    )
    if tiers:
        await conn.execute(
            price_list_entries.insert().values(
                [
                    {
                        "price_list_id": list_id,
                        "sku": t.sku,
                        "currency": t.currency,
                        "min_quantity": t.min_quantity,
                        "unit_amount": t.unit_amount,
                    }
                    for t in tiers
                ]
            )
        )


async def delete_entries(conn: AsyncConnection, list_id: str, skus: Sequence[str]) -> int:
    """Remove SKUs from a list; returns how many of them had entries."""
    rows = await conn.execute(
        price_list_entries.delete()
        .where(price_list_entries.c.price_list_id == list_id, any_of(price_list_entries.c.sku, skus))
        .returning(price_list_entries.c.sku)
    )
    return len({row.sku for row in rows})


async def list_entries(conn: AsyncConnection, list_id: str) -> list[EntryTier]:
    rows = await conn.execute(
        sa.select(price_list_entries)
        .where(price_list_entries.c.price_list_id == list_id)
        .order_by(price_list_entries.c.sku, price_list_entries.c.currency, price_list_entries.c.min_quantity)
    )
    return [EntryTier(r.sku, r.currency, r.min_quantity, r.unit_amount) for r in rows]


# ------------------------------------------------------------------------------------------------
# Exchange rates


@dataclass(frozen=True)
class RateRecord:
    rate: ExchangeRate
    updated_at: datetime


async def set_rate(conn: AsyncConnection, base: str, quote: str, rate: Decimal) -> RateRecord:
    statement = insert(currency_rates).values(base_currency=base, quote_currency=quote, rate=rate)
    row = (
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[currency_rates.c.base_currency, currency_rates.c.quote_currency],
                set_={"rate": statement.excluded.rate, "updated_at": sa.func.now()},
            ).returning(currency_rates)
        )
    ).one()
    return RateRecord(ExchangeRate(row.base_currency, row.quote_currency, row.rate), row.updated_at)


async def list_rates(conn: AsyncConnection) -> list[RateRecord]:
    rows = await conn.execute(
        sa.select(currency_rates).order_by(currency_rates.c.base_currency, currency_rates.c.quote_currency)
    )
    return [RateRecord(ExchangeRate(r.base_currency, r.quote_currency, r.rate), r.updated_at) for r in rows]
