"""Shipping methods and tax rules: admin writes and the reads of a quote."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_pricing.domain.shipping import RateBand, RateKind, ShippingMethod
from shop_pricing.domain.tax import TaxRule
from shop_pricing.store.tables import shipping_methods, tax_rules
from shopkit.money import Money


@dataclass(frozen=True)
class MethodRecord:
    method: ShippingMethod
    updated_at: datetime


@dataclass(frozen=True)
class TaxRuleRecord:
    rule: TaxRule
    updated_at: datetime


def _method(row: Any) -> ShippingMethod:
    currency = row.currency
    return ShippingMethod(
        id=row.id,
        code=row.code,
        name=row.name,
        countries=frozenset(row.countries),
        regions=frozenset(row.regions),
        min_days=row.min_days,
        max_days=row.max_days,
        rate_kind=RateKind(row.rate_kind),
        currency=currency,
        flat_price=Money(row.flat_amount, currency) if row.flat_amount is not None else None,
        bands=tuple(RateBand(band["from"], Money(band["amount"], currency)) for band in row.bands),
        free_over=Money(row.free_over, currency) if row.free_over is not None else None,
        active=row.active,
    )


def _rule(row: Any) -> TaxRule:
    return TaxRule(
        country=row.country,
        region=row.region,
        name=row.name,
        rate_bp=row.rate_bp,
        prices_include_tax=row.prices_include_tax,
        tax_shipping=row.tax_shipping,
        exempt_with_tax_id=row.exempt_with_tax_id,
    )


async def put_method(conn: AsyncConnection, method: ShippingMethod) -> MethodRecord:
    values = {
        "code": method.code,
        "name": method.name,
        "countries": sorted(method.countries),
        "regions": sorted(method.regions),
        "min_days": method.min_days,
        "max_days": method.max_days,
        "rate_kind": method.rate_kind.value,
        "currency": method.currency,
        "flat_amount": method.flat_price.amount if method.flat_price is not None else None,
        "bands": [{"from": band.start, "amount": band.price.amount} for band in method.bands],
        "free_over": method.free_over.amount if method.free_over is not None else None,
        "active": method.active,
    }
    statement = (
        insert(shipping_methods)
        .values(id=method.id, **values)
        .on_conflict_do_update(index_elements=[shipping_methods.c.id], set_={**values, "updated_at": sa.func.now()})
        .returning(shipping_methods)
    )
    row = (await conn.execute(statement)).one()
    return MethodRecord(_method(row), row.updated_at)


async def delete_method(conn: AsyncConnection, method_id: str) -> None:
    await conn.execute(sa.delete(shipping_methods).where(shipping_methods.c.id == method_id))


async def list_methods(conn: AsyncConnection, after: str | None, limit: int) -> list[MethodRecord]:
    query = sa.select(shipping_methods).order_by(shipping_methods.c.id).limit(limit)
    if after is not None:
        query = query.where(shipping_methods.c.id > after)
    return [MethodRecord(_method(row), row.updated_at) for row in await conn.execute(query)]


async def methods_for(conn: AsyncConnection, country: str, currency: str) -> list[ShippingMethod]:
    """The active methods of `currency` whose zones include `country` (regions are judged by the domain)."""
    query = sa.select(shipping_methods).where(
        shipping_methods.c.countries.contains([country]),
        shipping_methods.c.currency == currency,
        shipping_methods.c.active,
    )
    return [_method(row) for row in await conn.execute(query)]


async def put_tax_rule(conn: AsyncConnection, rule: TaxRule) -> TaxRuleRecord:
    values = {
        "name": rule.name,
        "rate_bp": rule.rate_bp,
        "prices_include_tax": rule.prices_include_tax,
        "tax_shipping": rule.tax_shipping,
        "exempt_with_tax_id": rule.exempt_with_tax_id,
    }
    statement = (
        insert(tax_rules)
        .values(country=rule.country, region=rule.region, **values)
        .on_conflict_do_update(
            index_elements=[tax_rules.c.country, tax_rules.c.region], set_={**values, "updated_at": sa.func.now()}
        )
        .returning(tax_rules)
    )
    row = (await conn.execute(statement)).one()
    return TaxRuleRecord(_rule(row), row.updated_at)


async def delete_tax_rule(conn: AsyncConnection, country: str, region: str) -> None:
    await conn.execute(sa.delete(tax_rules).where(tax_rules.c.country == country, tax_rules.c.region == region))


async def list_tax_rules(conn: AsyncConnection, country: str | None = None) -> list[TaxRuleRecord]:
    query = sa.select(tax_rules).order_by(tax_rules.c.country, tax_rules.c.region)
    if country is not None:
        query = query.where(tax_rules.c.country == country)
    return [TaxRuleRecord(_rule(row), row.updated_at) for row in await conn.execute(query)]
