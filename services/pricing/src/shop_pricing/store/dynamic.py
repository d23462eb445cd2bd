"""Dynamic-pricing rules and the price rows they move."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_pricing.domain.dynamic import DynamicPrice, DynamicRule
from shop_pricing.store.tables import any_of, base_prices, dynamic_rule_skus, dynamic_rules
from shopkit.errors import Aborted, FailedPrecondition


@dataclass(frozen=True)
class RuleRecord:
    rule: DynamicRule
    created_at: datetime
    updated_at: datetime


def _rule(row: Any, skus: frozenset[str]) -> DynamicRule:
    return DynamicRule(
        id=row.id,
        name=row.name,
        skus=skus,
        currency=row.currency,
        low_stock_threshold=row.low_stock_threshold,
        raise_bp=row.raise_bp,
        high_stock_threshold=row.high_stock_threshold,
        lower_bp=row.lower_bp,
        floor_bp=row.floor_bp,
        ceiling_bp=row.ceiling_bp,
        max_step_bp=row.max_step_bp,
        cooldown_seconds=row.cooldown_seconds,
        enabled=row.enabled,
    )


async def _skus_by_rule(conn: AsyncConnection, ids: list[str]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    if ids:
        for row in await conn.execute(sa.select(dynamic_rule_skus).where(any_of(dynamic_rule_skus.c.rule_id, ids))):
            found.setdefault(row.rule_id, set()).add(row.sku)
    return {key: frozenset(value) for key, value in found.items()}


async def put_rule(conn: AsyncConnection, rule: DynamicRule) -> RuleRecord:
    """Create or replace a rule and its SKU set. A SKU governed by another rule is FAILED_PRECONDITION."""
    taken = (
        await conn.execute(
            sa.select(dynamic_rule_skus.c.sku, dynamic_rule_skus.c.rule_id)
            .where(any_of(dynamic_rule_skus.c.sku, sorted(rule.skus)), dynamic_rule_skus.c.rule_id != rule.id)
            .order_by(dynamic_rule_skus.c.sku)
        )
    ).all()
    if taken:
        raise FailedPrecondition(
            f"SKUs already governed by another rule: {', '.join(f'{r.sku} ({r.rule_id})' for r in taken[:10])}",
            reason="SKU_HAS_DYNAMIC_RULE",
            metadata={"skus": ",".join(r.sku for r in taken[:50])},
        )
    values = {
        "name": rule.name,
        "currency": rule.currency,
        "low_stock_threshold": rule.low_stock_threshold,
        "raise_bp": rule.raise_bp,
        "high_stock_threshold": rule.high_stock_threshold,
        "lower_bp": rule.lower_bp,
        "floor_bp": rule.floor_bp,
        "ceiling_bp": rule.ceiling_bp,
        "max_step_bp": rule.max_step_bp,
        "cooldown_seconds": rule.cooldown_seconds,
        "enabled": rule.enabled,
    }
    statement = insert(dynamic_rules).values(id=rule.id, **values)
    row = (
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[dynamic_rules.c.id], set_={**values, "updated_at": sa.func.now()}
            ).returning(dynamic_rules)
        )
    ).one()
    await conn.execute(dynamic_rule_skus.delete().where(dynamic_rule_skus.c.rule_id == rule.id))
    try:
        await conn.execute(
            dynamic_rule_skus.insert().values([{"sku": sku, "rule_id": rule.id} for sku in sorted(rule.skus)])
        )
    except IntegrityError as exc:  # another rule claimed one of the SKUs concurrently
        raise Aborted("a SKU was claimed by another rule concurrently; retry", reason="CONCURRENT_RULE_CHANGE") from exc
    return RuleRecord(_rule(row, rule.skus), row.created_at, row.updated_at)


async def delete_rule(conn: AsyncConnection, rule_id: str) -> bool:
    deleted = await conn.execute(
        dynamic_rules.delete().where(dynamic_rules.c.id == rule_id).returning(dynamic_rules.c.id)
    )
    return deleted.first() is not None


async def list_rules(conn: AsyncConnection, after_id: str | None, limit: int) -> list[RuleRecord]:
    query = sa.select(dynamic_rules).order_by(dynamic_rules.c.id).limit(limit)
    if after_id is not None:
        query = query.where(dynamic_rules.c.id > after_id)
    rows = (await conn.execute(query)).all()
    skus = await _skus_by_rule(conn, [row.id for row in rows])
    return [RuleRecord(_rule(row, skus.get(row.id, frozenset())), row.created_at, row.updated_at) for row in rows]


async def rule_for_sku(conn: AsyncConnection, sku: str) -> DynamicRule | None:
    """The rule governing `sku` (its SKU set reduced to `sku`), or None."""
    row = (
        await conn.execute(
            sa.select(dynamic_rules)
            .join_from(dynamic_rule_skus, dynamic_rules, dynamic_rules.c.id == dynamic_rule_skus.c.rule_id)
            .where(dynamic_rule_skus.c.sku == sku)
        )
    ).first()
    return _rule(row, frozenset({sku})) if row else None


async def lock_prices(conn: AsyncConnection, sku: str, currency: str) -> list[DynamicPrice]:
    """The SKU's base prices (one currency, or all when `currency` is empty), locked for the change."""
    query = sa.select(base_prices).where(base_prices.c.sku == sku).order_by(base_prices.c.currency).with_for_update()
    if currency:
        query = query.where(base_prices.c.currency == currency)
    return [
        DynamicPrice(row.sku, row.currency, row.amount, row.anchor_amount, row.dynamic_changed_at)
        for row in (await conn.execute(query)).all()
    ]


async def move_price(conn: AsyncConnection, sku: str, currency: str, amount: int, now: datetime) -> None:
    await conn.execute(
        base_prices.update()
        .where(base_prices.c.sku == sku, base_prices.c.currency == currency)
        .values(amount=amount, dynamic_changed_at=now, updated_at=now)
    )
