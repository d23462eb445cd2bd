"""What a company's approval rules may say, and the chain of approval steps they give an order.
Plain dataclasses and functions, no I/O.

A rule asks for one step of the orders it matches. Steps run in sequence (by position); within a step
the approvers decide in parallel, and `quorum` of them must approve. The buyer never approves their
own order. A rule names approvers as they are when it is written; at resolution, approvers who are no
longer approving members of the company are left out as the buyer is, so a removed member never
blocks a chain (a step left with nobody falls back to any approver of the company)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from shop_customers.companies import MAX_AMOUNT, MAX_NAME, Company, Member, check_user_id
from shopkit.errors import Violations
from shopkit.money import Money, is_currency

RULE_ID = re.compile(r"^ar_[0-9a-f]{20}$")
APPROVING_ROLES = frozenset({"approver", "company_admin"})
MAX_POSITION = 9_999
MAX_APPROVERS = 20
MAX_RULES = 50  # per company: a chain longer than a handful of steps is a configuration mistake
DEFAULT_HOLD_DAYS = 3
MAX_HOLD_DAYS = 92  # a quarter: the longest hold B2B buyers expect
# The step of an order over its buyer's spending limit that no rule matched (what the shop did
# before rules existed): any approver of the company decides.
SPENDING_LIMIT_STEP = "spending limit"


def new_rule_id() -> str:
    return "ar_" + secrets.token_hex(10)


def is_rule_id(value: str) -> bool:
    """Whether `value` can be a rule id (anything else is no rule, and never reaches a query)."""
    return bool(RULE_ID.match(value))


@dataclass(frozen=True)
class RuleSpec:
    """What a rule says: the conditions of the orders it matches and the step it asks for."""

    name: str
    position: int = 0
    min_total: Money | None = None  # None: any amount
    cost_centre: str = ""  # "": any
    category_id: str = ""  # "": any
    approvers: tuple[str, ...] = ()  # (): any approver of the company
    quorum: int = 0  # 0: 1
    hold_days: int = 0  # 0: DEFAULT_HOLD_DAYS

    def checked(self, company: Company, members: Iterable[Member]) -> RuleSpec:
        """The spec with its defaults filled, checked against its company (field violations, all at once)."""
        v = Violations()
        v.check(
            0 < len(self.name) <= MAX_NAME and self.name.isprintable(), "name", f"required, 1-{MAX_NAME} characters"
        )
        v.check(0 <= self.position <= MAX_POSITION, "position", f"must be 0-{MAX_POSITION}")
        if self.min_total is not None:
            v.check(is_currency(self.min_total.currency), "min_total.currency", "must be an ISO-4217 code like EUR")
            v.check(0 <= self.min_total.amount <= MAX_AMOUNT, "min_total.amount", f"must be 0-{MAX_AMOUNT} minor units")
        if self.cost_centre:
            v.check(company.has_cost_centre(self.cost_centre), "cost_centre", "not a cost centre of the company")
        category = _category(self.category_id)
        v.check(category is not None, "category_id", "must be a category id (a UUID) or empty")
        v.check(len(self.approvers) <= MAX_APPROVERS, "approvers", f"at most {MAX_APPROVERS}")
        roles = {m.user_id: m.role for m in members}
        for i, user_id in enumerate(self.approvers):
            path = f"approvers[{i}]"
            check_user_id(v, user_id, path)
            v.check(user_id not in self.approvers[:i], path, "appears twice")
            v.check(roles.get(user_id) in APPROVING_ROLES, path, "must be a member with role approver or company_admin")
        quorum = self.quorum or 1
        v.check(
            1 <= quorum <= max(1, len(self.approvers)), "quorum", "must be 1 to the number of approvers (1 with none)"
        )
        hold_days = self.hold_days or DEFAULT_HOLD_DAYS
        v.check(1 <= hold_days <= MAX_HOLD_DAYS, "hold_days", f"must be 1-{MAX_HOLD_DAYS}")
        v.raise_if_any()
        return RuleSpec(
            self.name,
            self.position,
            self.min_total,
            self.cost_centre,
            category or "",
            self.approvers,
            quorum,
            hold_days,
        )


def _category(value: str) -> str | None:
    """A category id in its canonical form ("" stays ""); None when it is not one."""
    if not value:
        return ""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class ApprovalRule:
    account_id: str
    rule_id: str
    spec: RuleSpec
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class OrderFacts:
    """What an order's chain depends on."""

    buyer_user_id: str
    total: Money
    cost_centre: str = ""
    category_ids: frozenset[str] = frozenset()
    over_limit: bool = False


@dataclass(frozen=True)
class Step:
    name: str
    rule_id: str = ""
    approvers: tuple[str, ...] = ()
    quorum: int = 1


@dataclass(frozen=True)
class Chain:
    steps: tuple[Step, ...] = ()
    hold_days: int = 0  # 0: no rule matched (the order service's default hold)


def matches(spec: RuleSpec, order: OrderFacts) -> bool:
    """Whether the rule asks for a step of this order. A threshold in another currency than the
    order's cannot be compared, so it matches: asking for an approval too many is the safe side."""
    threshold = spec.min_total
    if threshold is not None and threshold.currency == order.total.currency and order.total.amount < threshold.amount:
        return False
    if spec.cost_centre and spec.cost_centre != order.cost_centre:
        return False
    return not spec.category_id or spec.category_id in order.category_ids


def step_of(rule: ApprovalRule, buyer: str, approving: Collection[str]) -> Step:
    """The rule's step for an order of `buyer`: its approvers without the buyer and without anyone
    who no longer approves for the company, the quorum capped at who is left (any approver when
    nobody is)."""
    left = tuple(a for a in rule.spec.approvers if a != buyer and a in approving)
    if not left:
        return Step(rule.spec.name, rule.rule_id, (), 1)
    return Step(rule.spec.name, rule.rule_id, left, min(rule.spec.quorum, len(left)))


def resolve(rules: Iterable[ApprovalRule], order: OrderFacts, approving: Collection[str]) -> Chain:
    """The chain of an order: a step per matching rule in chain order; with none, one "any approver"
    step when the buyer is over their own limit. `approving`: user ids of the company's members with
    an approving role."""
    matched = sorted((r for r in rules if matches(r.spec, order)), key=chain_order)
    if matched:
        steps = tuple(step_of(r, order.buyer_user_id, approving) for r in matched)
        return Chain(steps, max(r.spec.hold_days for r in matched))
    if order.over_limit:
        return Chain((Step(SPENDING_LIMIT_STEP),), 0)
    return Chain()


def chain_order(rule: ApprovalRule) -> tuple[int, float, str]:
    """Position first; of equal positions the older rule first."""
    return rule.spec.position, rule.created_at.timestamp() if rule.created_at else 0.0, rule.rule_id


def approving(members: Iterable[Member]) -> frozenset[str]:
    """The user ids of a company's members who may approve."""
    return frozenset(m.user_id for m in members if m.role in APPROVING_ROLES)
