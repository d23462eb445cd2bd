"""ERP price-list feeds: each line sets one base price ({"sku", "currency", "amount"}, price_list ""
or "base": SetBasePrices' rules, audited, a PriceChanged event when the amount changes) or one tier of
an existing price list ({"price_list", "sku", "currency", "amount", "min_qty"}: SetPriceListEntries'
rules for that tier; the SKU's other tiers stay). The shared machinery (tables, worker, lease,
report) is `shopkit.feeds`; this module reads a line and applies it in a savepoint of its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_pricing import events, mapping, store
from shop_pricing.store import prices as price_store
from shop_pricing.store.tables import price_list_entries
from shopkit import identifiers
from shopkit.errors import FieldViolation, Violations
from shopkit.feeds import APPLIED, UNCHANGED, Outcome, feed_tables, read_object, whole_number
from shopkit.money import is_currency

tables = feed_tables(store.metadata, "price_feed")
BASE = ("", "base")


@dataclass(frozen=True)
class PriceLine:
    price_list: str  # "" for the base price
    sku: str
    currency: str
    amount: int
    min_qty: int

    @property
    def key(self) -> str:
        return f"{self.price_list or 'base'}:{self.sku}:{self.currency}" + (
            f":{self.min_qty}" if self.price_list else ""
        )


def read_line(text: str) -> PriceLine | Outcome:
    row = read_object(text)
    if isinstance(row, str):
        return Outcome.failed("", row)
    v = Violations()
    price_list = str(row.get("price_list") or "").strip()
    price_list = "" if price_list.lower() in BASE else price_list
    sku, currency = str(row.get("sku", "")), str(row.get("currency", "")).upper()
    key = f"{price_list or 'base'}:{sku}:{currency}"
    if price_list:
        mapping.check_id(price_list, "price_list", v)
    identifiers.check_sku(v, sku, "sku")
    amount = whole_number(row, "amount", v)
    min_qty = whole_number(row, "min_qty", v, required=False) or 1
    v.check(is_currency(currency), "currency", "must be an ISO-4217 code like USD")
    v.check(amount is None or amount >= 0, "amount", "must not be negative (minor units)")
    v.check(1 <= min_qty <= mapping.MAX_QUANTITY, "min_qty", f"must be between 1 and {mapping.MAX_QUANTITY}")
    v.check(bool(price_list) or min_qty == 1, "min_qty", "a base price has no tiers (min_qty 1 or empty)")
    if v.items or amount is None:
        return Outcome.failed(key, "invalid price line", v.items)
    return PriceLine(price_list, sku, currency, amount, min_qty)


async def apply_lines(conn: AsyncConnection, lines: Sequence[tuple[int, str]]) -> list[Outcome]:
    outcomes = []
    for _, text in lines:
        parsed = read_line(text)
        if isinstance(parsed, Outcome):
            outcomes.append(parsed)
        elif parsed.price_list:
            outcomes.append(await _tier(conn, parsed))
        else:
            outcomes.append(await _base(conn, parsed))
    return outcomes


async def _base(conn: AsyncConnection, line: PriceLine) -> Outcome:
    async with conn.begin_nested():
        changes = await price_store.set_base_prices(conn, [(line.sku, line.currency, line.amount)])
        audited = await price_store.record_price_changes(conn, changes, "base_price_set")
        await events.publish_price_changes(conn, audited)
    return Outcome(APPLIED if changes else UNCHANGED, line.key)


async def _tier(conn: AsyncConnection, line: PriceLine) -> Outcome:
    record = await price_store.get_price_list(conn, line.price_list, lock=True)
    if record is None:
        return Outcome.failed(line.key, f"price_list {line.price_list!r} not found")
    scoped = record.header.scope.currency
    if scoped and scoped != line.currency:
        return Outcome.failed(
            line.key, "invalid price line", [FieldViolation("currency", f"the price list is scoped to {scoped}")]
        )
    e = price_list_entries.c
    where = (e.price_list_id == line.price_list, e.sku == line.sku, e.currency == line.currency)
    found = (await conn.execute(sa.select(e.unit_amount).where(*where, e.min_quantity == line.min_qty))).first()
    if found is not None and found.unit_amount == line.amount:
        return Outcome(UNCHANGED, line.key)
    values = {
        "price_list_id": line.price_list,
        "sku": line.sku,
        "currency": line.currency,
        "min_quantity": line.min_qty,
        "unit_amount": line.amount,
    }
    statement = insert(price_list_entries).values(values)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[e.price_list_id, e.sku, e.currency, e.min_quantity],
            set_={"unit_amount": statement.excluded.unit_amount},
        )
    )
    return Outcome(APPLIED, line.key)
