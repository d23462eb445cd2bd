"""The use cases of approval rules: an admin or the company's company_admin members write and read a
company's rules; checkout resolves the chain of an order from them. Every write locks the company's
row first (as company writes do), so a rule never names a cost centre or a member a concurrent change
of the company removes in the same instant, and the count of a company's rules holds."""

from __future__ import annotations

from shop_customers import company_store, events
from shop_customers.approvals import store
from shop_customers.approvals.rules import (
    MAX_RULES,
    ApprovalRule,
    Chain,
    OrderFacts,
    RuleSpec,
    approving,
    is_rule_id,
    new_rule_id,
    resolve,
)
from shop_customers.companies import check_account_id, check_user_id
from shop_customers.company_operations import found_company, require_manager
from shop_customers.domain import check_version
from shopkit.auth import Caller
from shopkit.db import Database
from shopkit.errors import FailedPrecondition, NotFound, PermissionDenied, Violations
from shopkit.identifiers import check_request_id
from shopkit.money import is_currency

MAX_CATEGORIES = 1_000  # of one order's lines
MAX_COST_CENTRE = 32


def _keys(account_id: str, rule_id: str | None = None, request_id: str | None = None) -> None:
    v = Violations()
    check_account_id(v, account_id)
    if request_id is not None:
        check_request_id(v, request_id, "request_id")
    v.raise_if_any()
    if rule_id is not None and not is_rule_id(rule_id):
        raise NotFound("approval rule", rule_id[:64])


def _check_facts(account_id: str, order: OrderFacts) -> None:
    v = Violations()
    check_account_id(v, account_id)
    check_user_id(v, order.buyer_user_id, "buyer_user_id")
    v.check(is_currency(order.total.currency), "total.currency", "must be an ISO-4217 code like EUR")
    v.check(order.total.amount >= 0, "total.amount", "must not be negative")
    v.check(len(order.cost_centre) <= MAX_COST_CENTRE, "cost_centre", f"at most {MAX_COST_CENTRE} characters")
    v.check(len(order.category_ids) <= MAX_CATEGORIES, "category_ids", f"at most {MAX_CATEGORIES}")
    v.raise_if_any()


class ApprovalRules:
    def __init__(self, db: Database):
        self.db = db

    async def create(self, who: Caller, account_id: str, request_id: str, spec: RuleSpec) -> ApprovalRule:
        """The new rule; the same request id again answers the rule it created."""
        _keys(account_id, request_id=request_id)
        async with self.db.transaction() as conn:
            await require_manager(conn, who, account_id)
            company = await found_company(conn, account_id, lock=True)
            repeated = await store.by_request(conn, account_id, request_id)
            if repeated is not None:
                return repeated
            checked = spec.checked(company, await company_store.members(conn, account_id))
            if await store.count(conn, account_id) >= MAX_RULES:
                raise FailedPrecondition(
                    f"a company has at most {MAX_RULES} approval rules", reason="TOO_MANY_APPROVAL_RULES"
                )
            created = await store.insert_rule(conn, ApprovalRule(account_id, new_rule_id(), checked), request_id)
            assert created is not None  # the company's lock keeps its request ids to this transaction
            await events.approval_rule_changed(conn, created)
            return created

    async def update(
        self, who: Caller, account_id: str, rule_id: str, spec: RuleSpec, expected_version: int
    ) -> ApprovalRule:
        """The rule saying `spec` now; unchanged (the same version) when it says that already."""
        _keys(account_id, rule_id)
        async with self.db.transaction() as conn:
            await require_manager(conn, who, account_id)
            company = await found_company(conn, account_id, lock=True)
            current = await store.rule(conn, account_id, rule_id)
            if current is None:
                raise NotFound("approval rule", rule_id)
            check_version(expected_version, current.version, "approval rule")
            checked = spec.checked(company, await company_store.members(conn, account_id))
            if checked == current.spec:
                return current
            updated = await store.update_rule(conn, ApprovalRule(account_id, rule_id, checked))
            await events.approval_rule_changed(conn, updated)
            return updated

    async def delete(self, who: Caller, account_id: str, rule_id: str) -> bool:
        """False when there is no such rule (deleting twice changes nothing)."""
        _keys(account_id)
        if not is_rule_id(rule_id):
            return False
        async with self.db.transaction() as conn:
            await require_manager(conn, who, account_id)
            await found_company(conn, account_id, lock=True)
            deleted = await store.delete_rule(conn, account_id, rule_id)
            if deleted is not None:
                await events.approval_rule_changed(conn, deleted, deleted=True)
            return deleted is not None

    async def list(self, who: Caller, account_id: str) -> list[ApprovalRule]:
        _keys(account_id)
        async with self.db.transaction() as conn:
            await require_manager(conn, who, account_id)
            await found_company(conn, account_id)
            return await store.rules(conn, account_id)

    async def resolve(self, who: Caller, account_id: str, order: OrderFacts) -> Chain:
        """The approval chain of an order (checkout, as a service, when it places a B2B order)."""
        if not who.is_admin:
            raise PermissionDenied("approval chains are resolved by the shop's services", reason="ROLE_REQUIRED")
        _check_facts(account_id, order)
        async with self.db.transaction() as conn:
            company = await found_company(conn, account_id)
            if company.status != "active":
                raise FailedPrecondition(
                    f"the account {account_id} is suspended: its members cannot buy",
                    reason="ACCOUNT_SUSPENDED",
                    metadata={"account_id": account_id},
                )
            rules = await store.rules(conn, account_id)
            members = await company_store.members(conn, account_id) if rules else []
        return resolve(rules, order, approving(members))
