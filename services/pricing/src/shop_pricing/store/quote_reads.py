"""The reads of GetPrice, GetPrices and Quote as driver statements (`shopkit.sqldriver`): compiled once,
one statement text whatever the number of SKUs (`= ANY(:array)`), no SQLAlchemy execution per call.
Same filters and results as the Core reads in `prices` and `promotions`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from shop_pricing.domain.currency import ExchangeRate
from shop_pricing.domain.promotions import DiscountTarget, Promotion
from shop_pricing.domain.selection import CustomerScope, PriceListHeader, Tier
from shop_pricing.store.prices import PriceInputs, _header
from shop_pricing.store.promotions import _promotion
from shop_pricing.store.tables import (
    base_prices,
    currency_rates,
    price_list_entries,
    price_lists,
    promotion_skus,
    promotions,
)
from shopkit.sqldriver import DriverConnection, DriverQuery, Row


def _any(column: sa.ColumnElement[str], name: str) -> sa.ColumnElement[bool]:
    return column == sa.any_(sa.bindparam(name, type_=ARRAY(sa.Text)))


def _now() -> sa.BindParameter[datetime]:
    return sa.bindparam("now", type_=sa.DateTime(timezone=True))


def _in_window(table: sa.Table) -> sa.ColumnElement[bool]:
    return sa.and_(
        sa.or_(table.c.valid_from.is_(None), table.c.valid_from <= _now()),
        sa.or_(table.c.valid_to.is_(None), table.c.valid_to > _now()),
    )


_BASE = DriverQuery(
    sa.select(base_prices.c.sku, base_prices.c.currency, base_prices.c.amount).where(
        _any(base_prices.c.sku, "skus"), _any(base_prices.c.currency, "currencies")
    )
)

_RATES = DriverQuery(
    sa.select(
        currency_rates.c.base_currency,
        currency_rates.c.quote_currency,
        sa.cast(currency_rates.c.rate, sa.Text).label("rate"),  # exact decimal text, parsed below
    ).where(
        sa.or_(
            sa.and_(
                currency_rates.c.base_currency == sa.bindparam("a", type_=sa.Text),
                currency_rates.c.quote_currency == sa.bindparam("b", type_=sa.Text),
            ),
            sa.and_(
                currency_rates.c.base_currency == sa.bindparam("b", type_=sa.Text),
                currency_rates.c.quote_currency == sa.bindparam("a", type_=sa.Text),
            ),
        )
    )
)


def _scope(column: sa.Column[str], name: str) -> sa.ColumnElement[bool]:
    return sa.or_(column == "", column == sa.bindparam(name, type_=sa.Text))


_TIERS = DriverQuery(
    sa.select(
        price_lists,
        price_list_entries.c.sku,
        price_list_entries.c.currency.label("entry_currency"),
        price_list_entries.c.min_quantity,
        price_list_entries.c.unit_amount,
    )
    .join_from(price_list_entries, price_lists, price_lists.c.id == price_list_entries.c.price_list_id)
    .where(
        _any(price_list_entries.c.sku, "skus"),
        price_list_entries.c.currency == sa.bindparam("currency", type_=sa.Text),
        price_lists.c.active,
        _scope(price_lists.c.account_id, "account_id"),
        _scope(price_lists.c.customer_group, "customer_group"),
        _scope(price_lists.c.channel, "channel"),
        _scope(price_lists.c.country, "country"),
        _scope(price_lists.c.currency, "currency"),
        _in_window(price_lists),
    )
)

_AUTOMATIC = DriverQuery(
    sa.select(promotions).where(promotions.c.automatic, promotions.c.active, _in_window(promotions))
)

_PROMOTION_SKUS = DriverQuery(
    sa.select(promotion_skus).where(_any(promotion_skus.c.promotion_id, "ids"), _any(promotion_skus.c.sku, "skus"))
)


class _Fields:
    """Attribute access to a driver row, for the row mappers shared with the Core reads."""

    __slots__ = ("_row",)

    def __init__(self, row: Row):
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return self._row[name]


async def load_price_inputs(
    conn: DriverConnection, skus: Sequence[str], customer: CustomerScope, reference_currency: str, now: datetime
) -> PriceInputs:
    """As `prices.load_price_inputs`: base prices, the rates between the two currencies when a SKU
    needs converting, and the tiers that pass the scope/window/currency filters."""
    currencies = sorted({customer.currency, reference_currency})
    base_rows = await conn.fetch(_BASE, skus=list(skus), currencies=currencies)
    base_amounts = {(row["sku"], row["currency"]): row["amount"] for row in base_rows}
    rates: list[ExchangeRate] = []
    needs_conversion = any((sku, customer.currency) not in base_amounts for sku in skus)
    if needs_conversion and customer.currency != reference_currency:
        rate_rows = await conn.fetch(_RATES, a=reference_currency, b=customer.currency)
        rates = [ExchangeRate(r["base_currency"], r["quote_currency"], Decimal(r["rate"])) for r in rate_rows]
    tier_rows = await conn.fetch(
        _TIERS,
        skus=list(skus),
        currency=customer.currency,
        account_id=customer.account_id,
        customer_group=customer.customer_group,
        channel=customer.channel,
        country=customer.country,
        now=now,
    )
    headers: dict[str, PriceListHeader] = {}
    tiers = []
    for row in tier_rows:
        header = headers.get(row["id"]) or headers.setdefault(row["id"], _header(_Fields(row)))
        tiers.append(Tier(header, row["sku"], row["entry_currency"], row["min_quantity"], row["unit_amount"]))
    return PriceInputs(base_amounts, rates, tiers)


async def automatic_promotions(conn: DriverConnection, skus: Sequence[str], now: datetime) -> list[Promotion]:
    """As `promotions.automatic_promotions`: in force now, SKU sets cut down to the basket."""
    rows = await conn.fetch(_AUTOMATIC, now=now)
    product_ids = [row["id"] for row in rows if row["target"] == DiscountTarget.PRODUCTS.value]
    by_promotion: dict[str, set[str]] = {}
    if product_ids:
        for row in await conn.fetch(_PROMOTION_SKUS, ids=product_ids, skus=list(skus)):
            by_promotion.setdefault(row["promotion_id"], set()).add(row["sku"])
    return [_promotion(_Fields(row), frozenset(by_promotion.get(row["id"], ()))) for row in rows]
