"""Dynamic-pricing rules and the price rows they move."""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True)
class Governed:
    """A base price and the enabled rule that governs its SKU (the rule's SKU set reduced to that SKU)."""

    rule: DynamicRule
    price: DynamicPrice


async def lock_governed_prices(conn: AsyncConnection, skus: Sequence[str]) -> list[Governed]:
    """The base prices of `skus` that an enabled rule governs (in the rule's currency, or all when
    it has none) with their rules, locked for the change: one statement for any number of SKUs.

    Rows lock in (sku, currency) order, the order every writer of base prices uses: no deadlocks."""
    if not skus:
        return []
    query = (
        sa.select(
            dynamic_rules,
            base_prices.c.sku,
            base_prices.c.currency.label("price_currency"),
            base_prices.c.amount,
            base_prices.c.anchor_amount,
            base_prices.c.dynamic_changed_at,
        )
        .join_from(base_prices, dynamic_rule_skus, dynamic_rule_skus.c.sku == base_prices.c.sku)
        .join(dynamic_rules, dynamic_rules.c.id == dynamic_rule_skus.c.rule_id)
        .where(
            any_of(base_prices.c.sku, sorted(set(skus))),
            dynamic_rules.c.enabled,
            sa.or_(dynamic_rules.c.currency == "", dynamic_rules.c.currency == base_prices.c.currency),
        )
        .order_by(base_prices.c.sku, base_prices.c.currency)
        .with_for_update(of=base_prices)
    )
    return [
        Governed(
            _rule(row, frozenset({row.sku})),
            DynamicPrice(row.sku, row.price_currency, row.amount, row.anchor_amount, row.dynamic_changed_at),
        )
        for row in (await conn.execute(query)).all()
    ]


async def move_prices(conn: AsyncConnection, moves: Sequence[tuple[str, str, int]], now: datetime) -> None:
    """Set (sku, currency, new amount) moves as dynamic changes at `now`; one batched statement."""
    if not moves:
        return
    statement = (
        base_prices.update()
        .where(base_prices.c.sku == sa.bindparam("move_sku"), base_prices.c.currency == sa.bindparam("move_currency"))
        .values(amount=sa.bindparam("move_amount"), dynamic_changed_at=now, updated_at=now)
    )
    await conn.execute(
        statement,
        [{"move_sku": sku, "move_currency": currency, "move_amount": amount} for sku, currency, amount in moves],
    )
