"""The `approval_rules` table and its reads and writes, inside the caller's transaction (which has
locked the rule's company first, as every write to a company does)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_customers.approvals.rules import ApprovalRule, RuleSpec
from shop_customers.tables import metadata
from shopkit.money import Money

approval_rules = sa.Table(
    "approval_rules",
    metadata,
    sa.Column("rule_id", sa.Text, primary_key=True),
    sa.Column("account_id", sa.Text, sa.ForeignKey("companies.account_id", ondelete="CASCADE"), nullable=False),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    # The threshold: both NULL (any amount) or both set.
    sa.Column("min_total_amount", sa.BigInteger),
    sa.Column("min_total_currency", sa.Text),
    sa.Column("cost_centre", sa.Text, nullable=False, server_default=""),
    sa.Column("category_id", sa.Text, nullable=False, server_default=""),
    sa.Column("approvers", ARRAY(sa.Text), nullable=False),
    sa.Column("quorum", sa.Integer, nullable=False),
    sa.Column("hold_days", sa.Integer, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("account_id", "request_id", name="approval_rules_request_key"),
    sa.CheckConstraint("(min_total_amount IS NULL) = (min_total_currency IS NULL)", name="min_total"),
    sa.CheckConstraint("quorum >= 1 AND hold_days BETWEEN 1 AND 92", name="step"),
    sa.Index("approval_rules_account_idx", "account_id", "position"),
)

_SPEC_FIELDS = ("name", "position", "cost_centre", "category_id", "quorum", "hold_days")


def _rule(row: Any) -> ApprovalRule:
    threshold = Money(row.min_total_amount, row.min_total_currency) if row.min_total_currency else None
    spec = RuleSpec(**{k: getattr(row, k) for k in _SPEC_FIELDS}, min_total=threshold, approvers=tuple(row.approvers))
    return ApprovalRule(row.account_id, row.rule_id, spec, row.version, row.created_at, row.updated_at)


def _values(spec: RuleSpec) -> dict[str, Any]:
    threshold = spec.min_total
    return {
        **{k: getattr(spec, k) for k in _SPEC_FIELDS},
        "approvers": list(spec.approvers),
        "min_total_amount": threshold.amount if threshold else None,
        "min_total_currency": threshold.currency if threshold else None,
    }


async def insert_rule(conn: AsyncConnection, rule: ApprovalRule, request_id: str) -> ApprovalRule | None:
    """The created rule; None when the company has a rule of this request id already."""
    statement = (
        insert(approval_rules)
        .values(rule_id=rule.rule_id, account_id=rule.account_id, request_id=request_id, **_values(rule.spec))
        .on_conflict_do_nothing(index_elements=["account_id", "request_id"])
        .returning(approval_rules)
    )
    row = (await conn.execute(statement)).one_or_none()
    return _rule(row) if row is not None else None


async def by_request(conn: AsyncConnection, account_id: str, request_id: str) -> ApprovalRule | None:
    query = sa.select(approval_rules).where(
        approval_rules.c.account_id == account_id, approval_rules.c.request_id == request_id
    )
    row = (await conn.execute(query)).one_or_none()
    return _rule(row) if row is not None else None


async def rule(conn: AsyncConnection, account_id: str, rule_id: str) -> ApprovalRule | None:
    query = sa.select(approval_rules).where(
        approval_rules.c.account_id == account_id, approval_rules.c.rule_id == rule_id
    )
    row = (await conn.execute(query)).one_or_none()
    return _rule(row) if row is not None else None


async def rules(conn: AsyncConnection, account_id: str) -> list[ApprovalRule]:
    table = approval_rules
    query = sa.select(table).where(table.c.account_id == account_id)
    return [
        _rule(row) for row in await conn.execute(query.order_by(table.c.position, table.c.created_at, table.c.rule_id))
    ]


async def count(conn: AsyncConnection, account_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(approval_rules).where(approval_rules.c.account_id == account_id)
    return int((await conn.execute(query)).scalar_one())


async def update_rule(conn: AsyncConnection, rule: ApprovalRule) -> ApprovalRule:
    table = approval_rules
    statement = (
        table.update()
        .where(table.c.account_id == rule.account_id, table.c.rule_id == rule.rule_id)
        .values(**_values(rule.spec), version=table.c.version + 1, updated_at=sa.func.now())
        .returning(table)
    )
    return _rule((await conn.execute(statement)).one())


async def delete_rule(conn: AsyncConnection, account_id: str, rule_id: str) -> ApprovalRule | None:
    table = approval_rules
    statement = table.delete().where(table.c.account_id == account_id, table.c.rule_id == rule_id).returning(table)
    row = (await conn.execute(statement)).one_or_none()
    return _rule(row) if row is not None else None


async def cost_centres_in_use(conn: AsyncConnection, account_id: str) -> set[str]:
    table = approval_rules
    query = sa.select(table.c.cost_centre).where(table.c.account_id == account_id, table.c.cost_centre != "").distinct()
    return set((await conn.execute(query)).scalars())
