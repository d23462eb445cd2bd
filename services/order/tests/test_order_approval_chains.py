"""Approval chains in the domain: steps in sequence, quorums, a rejection at any step, repeats, and who
may decide (pure functions, no I/O)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from shop_order.domain import decisions
from shop_order.domain.chain import ANY_APPROVER, ApprovalChain, StepProgress, StepState, Verdict, from_json, to_json
from shop_order.domain.model import (
    Actor,
    Address,
    ApprovalStatus,
    CancellationReason,
    Change,
    EffectKind,
    FulfilmentMethod,
    FulfilmentStatus,
    Line,
    Order,
    OrderStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Totals,
)
from shopkit.errors import PermissionDenied
from shopkit.money import Money

OS = OrderStatus
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
EUR = Money(2500, "EUR")
HEAD = Actor("b2b_approver", "head", "acct-1")
CFO = Actor("b2b_approver", "cfo", "acct-1")
FIN = [Actor("b2b_approver", f"fin-{i}", "acct-1") for i in range(3)]
OTHER = Actor("b2b_approver", "other", "acct-1")


def draft() -> Order:
    """A card order of the buyer "buyer-1" of account "acct-1" (one line, 25.00 EUR)."""
    return Order(
        order_id="o-1",
        number="SO-000001",
        checkout_id="c-1",
        customer_id="buyer-1",
        account_id="acct-1",
        email="a@example.com",
        channel="b2b",
        status=OS.CONFIRMED,
        payment_status=PaymentStatus.AUTHORISED,
        fulfilment_status=FulfilmentStatus.UNFULFILLED,
        currency="EUR",
        lines=(Line("l1", "SKU-1", "p1", "One", 1, EUR, Money(0, "EUR"), EUR),),
        totals=Totals(EUR, Money(0, "EUR"), Money(0, "EUR"), Money(0, "EUR"), EUR),
        fulfilment_method=FulfilmentMethod(ship_to=Address(name="A", country="DE")),
        billing_address=Address(name="A", country="DE"),
        payment=Payment(PaymentKind.CARD, EUR, "pm", "auth"),
        reservation_id="c-1",
    )


def chained(*steps: StepProgress, hold_days: int = 0) -> Order:
    """A new order placed with this chain (PENDING_APPROVAL)."""
    return decisions.place(
        draft(),
        approval_required=False,
        approval_limit=None,
        actor=Actor("service", "checkout"),
        now=NOW,
        chain=ApprovalChain(steps, hold_days=hold_days),
    ).order


TWO_STEPS = (StepProgress("department head", "r1", ("head",)), StepProgress("finance", "r2", ("cfo",)))


def test_steps_are_decided_in_sequence_and_the_last_approval_confirms() -> None:
    placed = chained(*TWO_STEPS)
    assert (placed.status, placed.approval.status) == (OS.PENDING_APPROVAL, ApprovalStatus.PENDING)
    assert placed.chain.waiting_on() == ["head"]
    with pytest.raises(PermissionDenied):  # finance's turn has not come
        decisions.approve(placed, CFO, "", NOW)
    first = decisions.approve(placed, HEAD, "fine", NOW)
    assert [e.change for e in first.entries] == [Change.APPROVAL_DECIDED]
    assert first.entries[0].reason == "step 1 (department head): approved"
    after = first.order
    assert (after.status, after.chain.current) == (OS.PENDING_APPROVAL, 1)
    assert after.chain.steps[0].state is StepState.APPROVED
    assert after.chain.waiting_on() == ["cfo"]
    last = decisions.approve(after, CFO, "ok", NOW)
    assert [e.change for e in last.entries] == [Change.APPROVED]
    assert (last.order.status, last.order.approval.status, last.order.approval.decided_by) == (
        OS.CONFIRMED,
        ApprovalStatus.APPROVED,
        "cfo",
    )
    assert last.order.chain.approved and last.order.chain.waiting_on() == []


def test_a_quorum_of_two_of_three() -> None:
    placed = chained(StepProgress("finance", "r", tuple(a.id for a in FIN), quorum=2))
    one = decisions.approve(placed, FIN[0], "", NOW).order
    assert one.status is OS.PENDING_APPROVAL
    assert one.chain.waiting_on() == ["fin-1", "fin-2"]
    two = decisions.approve(one, FIN[2], "", NOW)
    assert two.order.status is OS.CONFIRMED
    assert [d.approver for d in two.order.chain.steps[0].decisions] == ["fin-0", "fin-2"]
    # The third approver comes late: the order is approved, nothing changes.
    assert not decisions.approve(two.order, FIN[1], "", NOW).changed


def test_a_rejection_at_step_two_cancels_the_order_and_gives_everything_back() -> None:
    after_one = decisions.approve(chained(*TWO_STEPS), HEAD, "", NOW).order
    rejected = decisions.reject(after_one, CFO, "over budget", NOW)
    assert (rejected.order.status, rejected.order.cancellation_reason) == (
        OS.CANCELLED,
        CancellationReason.APPROVAL_REJECTED,
    )
    assert [e.change for e in rejected.entries] == [Change.REJECTED, Change.PAYMENT_VOIDED]
    assert {e.kind for e in rejected.effects} == {EffectKind.VOID, EffectKind.RELEASE_STOCK}
    assert rejected.order.chain.steps[1].state is StepState.REJECTED
    assert rejected.order.chain.rejected and rejected.order.chain.waiting_on() == []
    assert rejected.order.approval.status is ApprovalStatus.REJECTED


def test_one_rejection_rejects_a_quorum_step() -> None:
    placed = chained(StepProgress("finance", "r", tuple(a.id for a in FIN), quorum=2))
    one = decisions.approve(placed, FIN[0], "", NOW).order
    assert decisions.reject(one, FIN[1], "no", NOW).order.status is OS.CANCELLED


def test_the_same_approver_again_on_the_same_step_changes_nothing() -> None:
    placed = chained(StepProgress("finance", "r", tuple(a.id for a in FIN), quorum=2))
    one = decisions.approve(placed, FIN[0], "", NOW).order
    assert not decisions.approve(one, FIN[0], "", NOW).changed
    assert not decisions.reject(one, FIN[0], "changed my mind", NOW).changed  # the first decision stands
    done = decisions.approve(decisions.approve(chained(*TWO_STEPS), HEAD, "", NOW).order, CFO, "", NOW).order
    assert not decisions.approve(done, HEAD, "", NOW).changed
    assert not decisions.approve(done, CFO, "", NOW).changed


@pytest.mark.parametrize(
    "actor",
    [
        OTHER,  # an approver of the account the step does not name
        Actor("b2b_approver", "head", "acct-2"),  # the right id in another account
        Actor("b2b_buyer", "head", "acct-1"),  # the right id without the approver role
    ],
)
def test_only_the_steps_approvers_decide(actor: Actor) -> None:
    placed = chained(*TWO_STEPS)
    for decide in (decisions.approve, decisions.reject):
        with pytest.raises(PermissionDenied) as refused:
            decide(placed, actor, "", NOW)
        assert refused.value.reason == "NOT_APPROVER"


def test_a_step_without_approvers_is_open_to_any_approver_but_the_buyer() -> None:
    placed = chained(StepProgress("any approver"))
    assert placed.chain.waiting_on() == [ANY_APPROVER]
    with pytest.raises(PermissionDenied):
        decisions.approve(placed, Actor("b2b_approver", placed.customer_id, "acct-1"), "", NOW)
    assert decisions.approve(placed, OTHER, "", NOW).order.status is OS.CONFIRMED


def test_approval_required_without_a_chain_is_one_open_step_and_an_admin_decides_any_step() -> None:
    placed = decisions.place(
        draft(),
        approval_required=True,
        approval_limit=None,
        actor=Actor("service"),
        now=NOW,
    ).order
    assert [s.name for s in placed.chain.steps] == ["approver"]
    admin = Actor("admin", "admin-1")
    assert decisions.approve(chained(*TWO_STEPS), admin, "", NOW).order.chain.current == 1


def test_the_chain_survives_its_json() -> None:
    one = decisions.approve(chained(*TWO_STEPS, hold_days=90), HEAD, "note", NOW).order
    assert from_json(to_json(one.chain)) == one.chain
    assert one.chain.hold_days == 90
    assert one.chain.steps[0].decisions[0].verdict is Verdict.APPROVE


def test_an_order_held_before_chains_existed_waits_for_any_approver() -> None:
    legacy = dataclasses.replace(chained(*TWO_STEPS), chain=ApprovalChain())
    assert decisions.approve(legacy, OTHER, "", NOW).order.status is OS.CONFIRMED
