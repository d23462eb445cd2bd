"""The resolution of an order's approval chain from a company's rules, and what a rule may say:
pure domain, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shop_customers.approvals.rules import (
    SPENDING_LIMIT_STEP,
    ApprovalRule,
    Chain,
    OrderFacts,
    RuleSpec,
    Step,
    approving,
    resolve,
)
from shop_customers.companies import Company, CostCentre, Member
from shopkit.errors import InvalidArgument
from shopkit.money import Money

T0 = datetime(2026, 12, 6, tzinfo=UTC)
CATEGORY = "7f0c8a56-43c1-4d6e-9f43-5a8d5d2f0b11"
COMPANY = Company("acme", "Acme", "USD", cost_centres=(CostCentre("OPS", "Operations"), CostCentre("IT", "IT")))
MEMBERS = [
    Member("acme", "alice", "buyer"),
    Member("acme", "bob", "approver"),
    Member("acme", "carol", "approver"),
    Member("acme", "dave", "company_admin"),
]
APPROVING = approving(MEMBERS)


def usd(amount: int) -> Money:
    return Money(amount, "USD")


def rule(rule_id: str, age: int = 0, **fields: object) -> ApprovalRule:
    spec = RuleSpec(**{"name": rule_id, "quorum": 1, "hold_days": 3, **fields})  # type: ignore[arg-type]
    return ApprovalRule("acme", rule_id, spec, created_at=T0 + timedelta(seconds=age))


def order(total: int = 50_000, buyer: str = "alice", **fields: object) -> OrderFacts:
    return OrderFacts(buyer_user_id=buyer, total=usd(total), **fields)  # type: ignore[arg-type]


HEAD = rule("head", position=1, min_total=usd(100_000), approvers=("bob",))
FINANCE = rule("finance", position=2, min_total=usd(1_000_000), approvers=("carol", "dave"), quorum=2, hold_days=90)


def test_the_matching_rules_make_the_steps_in_position_order() -> None:
    chain = resolve([FINANCE, HEAD], order(2_000_000), APPROVING)
    assert chain == Chain(
        (Step("head", "head", ("bob",), 1), Step("finance", "finance", ("carol", "dave"), 2)), hold_days=90
    )
    assert resolve([FINANCE, HEAD], order(100_000), APPROVING) == Chain((Step("head", "head", ("bob",), 1),), 3)


def test_equal_positions_keep_the_older_rule_first() -> None:
    older, newer = rule("b-older", age=0), rule("a-newer", age=5)
    assert [s.rule_id for s in resolve([newer, older], order(), APPROVING).steps] == ["b-older", "a-newer"]


def test_no_rule_matched_gives_no_steps_or_the_spending_limit_step() -> None:
    assert resolve([HEAD], order(99_999), APPROVING) == Chain()
    assert resolve([HEAD], order(99_999, over_limit=True), APPROVING) == Chain((Step(SPENDING_LIMIT_STEP),), 0)
    assert resolve([], order(over_limit=True), APPROVING).steps == (Step(SPENDING_LIMIT_STEP, "", (), 1),)


def test_a_threshold_in_another_currency_matches_as_it_cannot_be_compared() -> None:
    eur = OrderFacts("alice", Money(1, "EUR"))
    assert [s.rule_id for s in resolve([HEAD], eur, APPROVING).steps] == ["head"]


@pytest.mark.parametrize(
    ("fields", "facts", "matched"),
    [
        ({"cost_centre": "OPS"}, {"cost_centre": "OPS"}, True),
        ({"cost_centre": "OPS"}, {"cost_centre": "IT"}, False),
        ({"cost_centre": "OPS"}, {}, False),
        ({}, {"cost_centre": "IT"}, True),
        ({"category_id": CATEGORY}, {"category_ids": frozenset({CATEGORY, "other"})}, True),
        ({"category_id": CATEGORY}, {"category_ids": frozenset({"other"})}, False),
        ({}, {"category_ids": frozenset({"other"})}, True),
    ],
)
def test_cost_centre_and_category_conditions(fields: dict[str, Any], facts: dict[str, Any], matched: bool) -> None:
    chain = resolve([rule("r", **fields)], order(**facts), APPROVING)
    assert bool(chain.steps) is matched


def test_the_buyer_never_approves_their_own_order() -> None:
    both = rule("pair", approvers=("bob", "carol"), quorum=2)
    assert resolve([both], order(buyer="bob"), APPROVING).steps == (Step("pair", "pair", ("carol",), 1),)
    alone = rule("alone", approvers=("bob",))
    assert resolve([alone], order(buyer="bob"), APPROVING).steps == (Step("alone", "alone", (), 1),)


def test_approvers_who_no_longer_approve_are_left_out() -> None:
    gone = rule("gone", approvers=("bob", "eve"), quorum=2)
    assert resolve([gone], order(), APPROVING).steps == (Step("gone", "gone", ("bob",), 1),)


def test_hold_days_is_the_longest_of_the_matched_rules() -> None:
    rules = [rule("a", hold_days=10), rule("b", hold_days=30, min_total=usd(10**9)), rule("c", hold_days=7)]
    assert resolve(rules, order(), APPROVING).hold_days == 10


def test_a_spec_takes_its_defaults() -> None:
    checked = RuleSpec("head", approvers=("bob",), category_id=CATEGORY.upper()).checked(COMPANY, MEMBERS)
    assert (checked.quorum, checked.hold_days, checked.category_id) == (1, 3, CATEGORY)


def test_a_bad_spec_is_refused_with_every_violation() -> None:
    bad = RuleSpec(
        name="",
        position=10_000,
        min_total=Money(-1, "XYZ"),
        cost_centre="NOPE",
        category_id="shoes",
        approvers=("alice", "bob", "bob", "nobody"),
        quorum=5,
        hold_days=93,
    )
    with pytest.raises(InvalidArgument) as raised:
        bad.checked(COMPANY, MEMBERS)
    fields = {v.field for v in raised.value.violations}
    assert fields == {
        "name",
        "position",
        "min_total.currency",
        "min_total.amount",
        "cost_centre",
        "category_id",
        "approvers[0]",
        "approvers[2]",
        "approvers[3]",
        "quorum",
        "hold_days",
    }


def test_quorum_is_one_without_approvers() -> None:
    with pytest.raises(InvalidArgument):
        RuleSpec("any", quorum=2).checked(COMPANY, MEMBERS)
    assert RuleSpec("any").checked(COMPANY, MEMBERS).quorum == 1
