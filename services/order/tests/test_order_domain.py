"""The state machine and the decision of every command for every status: pure functions, no I/O."""

from __future__ import annotations

import dataclasses
import itertools
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shop_order.domain import decisions, machine
from shop_order.domain.decisions import FulfilCommand, RefundCommand
from shop_order.domain.machine import State
from shop_order.domain.model import (
    Actor,
    Address,
    Approval,
    ApprovalStatus,
    CancellationReason,
    Change,
    EffectKind,
    FulfilmentMethod,
    FulfilmentStatus,
    Line,
    LineQuantity,
    Order,
    OrderStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Totals,
)
from shopkit.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, PermissionDenied
from shopkit.money import Money

OS, PS, FS = OrderStatus, PaymentStatus, FulfilmentStatus
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ADMIN = Actor("admin", "admin-1")
SERVICE = Actor("service")
BUYER = Actor("b2b_buyer", "buyer-1", "acct-1")
APPROVER = Actor("b2b_approver", "approver-1", "acct-1")
MIGRATION = Path(decisions.__file__).parents[1] / "migrations" / "versions" / "0001_initial.py"


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


def order(
    status: OrderStatus = OS.CONFIRMED,
    payment_status: PaymentStatus = PS.AUTHORISED,
    *,
    kind: PaymentKind = PaymentKind.CARD,
    captured: int = 0,
    refunded: int = 0,
    fulfilled: tuple[int, int] = (0, 0),
    approval: ApprovalStatus = ApprovalStatus.NOT_REQUIRED,
    fraud_review_id: str = "",
    fraud_hold_released: bool = False,
) -> Order:
    """An order of two lines (2 x 1000 and 1 x 500, total 2500 with no shipping)."""
    if status in machine.INITIAL_STATUSES:
        fulfilment = FS.UNFULFILLED
    elif status is OS.PARTIALLY_FULFILLED:
        fulfilment = FS.PARTIALLY_FULFILLED
    elif status is OS.CANCELLED:
        fulfilment = FS.NOT_REQUIRED
    else:
        fulfilment = FS.FULFILLED
    lines = (
        Line("l1", "SKU-1", "p1", "One", 2, eur(1000), eur(0), eur(2000), fulfilled_quantity=fulfilled[0]),
        Line("l2", "SKU-2", "p2", "Two", 1, eur(500), eur(0), eur(500), fulfilled_quantity=fulfilled[1]),
    )
    return Order(
        order_id="o-1",
        number="SO-000001",
        checkout_id="c-1",
        customer_id="buyer-1",
        account_id="acct-1",
        email="a@example.com",
        channel="web",
        status=status,
        payment_status=payment_status,
        fulfilment_status=fulfilment,
        currency="EUR",
        lines=lines,
        totals=Totals(eur(2500), eur(0), eur(0), eur(0), eur(2500)),
        fulfilment_method=FulfilmentMethod(ship_to=Address(name="A", country="DE")),
        billing_address=Address(name="A", country="DE"),
        payment=Payment(kind, eur(2500 if kind is PaymentKind.CARD else 0), "pm", "auth", "", captured, refunded),
        approval=Approval(approval),
        fraud_review_id=fraud_review_id,
        fraud_hold_released=fraud_hold_released,
        reservation_id="c-1",
        version=3,
    )


def reason_of(error: DomainError) -> str:
    return error.reason


# --- the transition tables ------------------------------------------------------------------------

ORDER_ALLOWED = {
    (OS.PENDING_REVIEW, OS.PENDING_APPROVAL),
    (OS.PENDING_REVIEW, OS.CONFIRMED),
    (OS.PENDING_REVIEW, OS.CANCELLED),
    (OS.PENDING_APPROVAL, OS.CONFIRMED),
    (OS.PENDING_APPROVAL, OS.CANCELLED),
    (OS.CONFIRMED, OS.PARTIALLY_FULFILLED),
    (OS.CONFIRMED, OS.FULFILLED),
    (OS.CONFIRMED, OS.CANCELLED),
    (OS.PARTIALLY_FULFILLED, OS.FULFILLED),
    (OS.FULFILLED, OS.COMPLETED),
    (OS.FULFILLED, OS.REFUNDED),
    (OS.COMPLETED, OS.REFUNDED),
}
PAYMENT_ALLOWED = {
    (PS.AUTHORISED, PS.CAPTURED),
    (PS.AUTHORISED, PS.VOIDED),
    (PS.CAPTURED, PS.PARTIALLY_REFUNDED),
    (PS.CAPTURED, PS.REFUNDED),
    (PS.PARTIALLY_REFUNDED, PS.PARTIALLY_REFUNDED),
    (PS.PARTIALLY_REFUNDED, PS.REFUNDED),
    (PS.INVOICED, PS.PARTIALLY_REFUNDED),
    (PS.INVOICED, PS.REFUNDED),
}
FULFILMENT_ALLOWED = {
    (FS.UNFULFILLED, FS.PARTIALLY_FULFILLED),
    (FS.UNFULFILLED, FS.FULFILLED),
    (FS.UNFULFILLED, FS.NOT_REQUIRED),
    (FS.PARTIALLY_FULFILLED, FS.PARTIALLY_FULFILLED),
    (FS.PARTIALLY_FULFILLED, FS.FULFILLED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(OS, OS)))
def test_order_status_transitions_are_exactly_the_documented_ones(current: OrderStatus, target: OrderStatus) -> None:
    assert machine.order_may_become(current, target) == ((current, target) in ORDER_ALLOWED)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(PS, PS)))
def test_payment_status_transitions(current: PaymentStatus, target: PaymentStatus) -> None:
    assert machine.payment_may_become(current, target) == ((current, target) in PAYMENT_ALLOWED)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(FS, FS)))
def test_fulfilment_status_transitions(current: FulfilmentStatus, target: FulfilmentStatus) -> None:
    assert machine.fulfilment_may_become(current, target) == ((current, target) in FULFILMENT_ALLOWED)


def test_terminal_statuses_have_no_way_out() -> None:
    assert {OS.CANCELLED, OS.REFUNDED} == machine.TERMINAL
    assert {s for s in PS if not machine.PAYMENT_TRANSITIONS[s]} == {PS.VOIDED, PS.REFUNDED}


def test_the_migration_installs_the_same_transition_tables() -> None:
    """The database trigger and the domain must refuse the same transitions."""
    text = MIGRATION.read_text()
    pairs = set(re.findall(r'\("(order|payment|fulfilment)", "(\w+)", "(\w+)"\)', text))
    expected = {("order", a.value, b.value) for a, b in ORDER_ALLOWED}
    expected |= {("payment", a.value, b.value) for a, b in PAYMENT_ALLOWED if a is not b}
    expected |= {("fulfilment", a.value, b.value) for a, b in FULFILMENT_ALLOWED if a is not b}
    assert pairs == expected


@pytest.mark.parametrize("state", [State(*s) for s in itertools.product(OS, PS, FS)], ids=str)
def test_consistent_combinations(state: State) -> None:
    status, payment, fulfilment = state.status, state.payment, state.fulfilment
    expected_fulfilment = {
        OS.PENDING_REVIEW: FS.UNFULFILLED,
        OS.PENDING_APPROVAL: FS.UNFULFILLED,
        OS.CONFIRMED: FS.UNFULFILLED,
        OS.PARTIALLY_FULFILLED: FS.PARTIALLY_FULFILLED,
        OS.FULFILLED: FS.FULFILLED,
        OS.COMPLETED: FS.FULFILLED,
        OS.CANCELLED: FS.NOT_REQUIRED,
        OS.REFUNDED: FS.FULFILLED,
    }[status]
    payment_ok = (
        (payment is not PS.VOIDED or status is OS.CANCELLED)
        and (status not in machine.HELD or payment in (PS.AUTHORISED, PS.INVOICED))
        and (status is not OS.REFUNDED or payment is PS.REFUNDED)
    )
    assert machine.consistent(state) == (fulfilment is expected_fulfilment and payment_ok)


def test_a_step_may_keep_or_move_each_status_but_never_break_the_tables() -> None:
    before = State(OS.CONFIRMED, PS.AUTHORISED, FS.UNFULFILLED)
    assert machine.allowed(before, before)
    assert machine.allowed(before, State(OS.CANCELLED, PS.VOIDED, FS.NOT_REQUIRED))
    assert not machine.allowed(before, State(OS.COMPLETED, PS.AUTHORISED, FS.FULFILLED))
    assert not machine.allowed(before, State(OS.CONFIRMED, PS.REFUNDED, FS.UNFULFILLED))


# --- creation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("review", "approval", "kind", "status", "payment"),
    [
        ("", False, PaymentKind.CARD, OS.CONFIRMED, PS.AUTHORISED),
        ("rev-1", False, PaymentKind.CARD, OS.PENDING_REVIEW, PS.AUTHORISED),
        ("", True, PaymentKind.INVOICE, OS.PENDING_APPROVAL, PS.INVOICED),
        ("rev-1", True, PaymentKind.CARD, OS.PENDING_REVIEW, PS.AUTHORISED),
    ],
)
def test_new_orders_start_held_or_confirmed(
    review: str, approval: bool, kind: PaymentKind, status: OrderStatus, payment: PaymentStatus
) -> None:
    draft = order(kind=kind, fraud_review_id=review)
    decision = decisions.place(draft, approval_required=approval, approval_limit=eur(100), actor=SERVICE, now=NOW)
    placed = decision.order
    assert (placed.status, placed.payment_status, placed.fulfilment_status) == (status, payment, FS.UNFULFILLED)
    assert placed.approval.status is (ApprovalStatus.PENDING if approval else ApprovalStatus.NOT_REQUIRED)
    assert [(e.change, e.previous_status, e.status) for e in decision.entries] == [(Change.CREATED, None, status)]
    assert placed.version == 1 and placed.fingerprint


def test_a_repeated_creation_must_match_lines_and_totals() -> None:
    existing = decisions.place(order(), approval_required=False, approval_limit=None, actor=SERVICE, now=NOW).order
    decisions.check_same_order(existing, order())
    other = dataclasses.replace(order(), totals=Totals(eur(2500), eur(0), eur(100), eur(0), eur(2600)))
    with pytest.raises(AlreadyExists):
        decisions.check_same_order(existing, other)


# --- every command in every status -------------------------------------------------------------------

# A representative order for each status (payment as it would be there).
PAYMENT_IN = {
    OS.PENDING_REVIEW: PS.AUTHORISED,
    OS.PENDING_APPROVAL: PS.AUTHORISED,
    OS.CONFIRMED: PS.AUTHORISED,
    OS.PARTIALLY_FULFILLED: PS.CAPTURED,
    OS.FULFILLED: PS.CAPTURED,
    OS.COMPLETED: PS.CAPTURED,
    OS.CANCELLED: PS.VOIDED,
    OS.REFUNDED: PS.REFUNDED,
}
FULFILLED_IN = {
    OS.PARTIALLY_FULFILLED: (1, 0),
    OS.FULFILLED: (2, 1),
    OS.COMPLETED: (2, 1),
    OS.REFUNDED: (2, 1),
}


def in_status(status: OrderStatus, **options: object) -> Order:
    payment = PAYMENT_IN[status]
    captured = 2500 if payment in (PS.CAPTURED, PS.REFUNDED) else 0
    base = order(
        status,
        payment,
        captured=captured,
        refunded=2500 if payment is PS.REFUNDED else 0,
        fulfilled=FULFILLED_IN.get(status, (0, 0)),
        approval=ApprovalStatus.PENDING if status is OS.PENDING_APPROVAL else ApprovalStatus.NOT_REQUIRED,
        fraud_review_id="rev-1",
        fraud_hold_released=status is not OS.PENDING_REVIEW,
    )
    return dataclasses.replace(base, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", list(OS))
def test_cancel(status: OrderStatus) -> None:
    before = in_status(status)
    if status in machine.CANCELLABLE:
        decision = decisions.cancel(before, CancellationReason.MERCHANT, ADMIN, "n", NOW)
        after = decision.order
        assert (after.status, after.payment_status, after.fulfilment_status) == (
            OS.CANCELLED,
            PS.VOIDED,
            FS.NOT_REQUIRED,
        )
        assert after.cancellation_reason is CancellationReason.MERCHANT
        assert [(e.change, e.previous_status, e.status, e.payment_status) for e in decision.entries] == [
            (Change.CANCELLED, status, OS.CANCELLED, PS.AUTHORISED),
            (Change.PAYMENT_VOIDED, OS.CANCELLED, OS.CANCELLED, PS.VOIDED),
        ]
        assert [(e.kind, e.key) for e in decision.effects] == [
            (EffectKind.VOID, "order:o-1:void"),
            (EffectKind.RELEASE_STOCK, "order:o-1:release-stock"),
        ]
    elif status is OS.CANCELLED:
        assert not decisions.cancel(before, CancellationReason.MERCHANT, ADMIN, "", NOW).changed
    else:
        with pytest.raises(FailedPrecondition) as refused:
            decisions.cancel(before, CancellationReason.MERCHANT, ADMIN, "", NOW)
        assert reason_of(refused.value) == "ORDER_NOT_CANCELLABLE"


def test_cancelling_a_captured_order_refunds_what_is_left() -> None:
    before = order(OS.CONFIRMED, PS.PARTIALLY_REFUNDED, captured=2500, refunded=500)
    decision = decisions.cancel(before, CancellationReason.CUSTOMER_REQUEST, BUYER, "", NOW)
    after = decision.order
    assert (after.payment_status, after.payment.refunded_amount) == (PS.REFUNDED, 2500)
    assert decision.refund is not None and decision.refund.amount == eur(2000)
    assert [e.change for e in decision.entries] == [Change.CANCELLED, Change.REFUNDED]
    assert [(e.kind, e.amount, e.refund_id) for e in decision.effects] == [
        (EffectKind.REFUND, 2000, "cancellation"),
        (EffectKind.RELEASE_STOCK, 0, ""),
    ]


def test_cancelling_an_invoiced_order_keeps_the_invoice_status() -> None:
    invoiced = order(kind=PaymentKind.INVOICE, payment_status=PS.INVOICED)
    decision = decisions.cancel(invoiced, CancellationReason.MERCHANT, ADMIN, "", NOW)
    assert decision.order.payment_status is PS.INVOICED
    assert [e.kind for e in decision.effects] == [EffectKind.RELEASE_STOCK]


@pytest.mark.parametrize("status", list(OS))
def test_release_fraud_hold(status: OrderStatus) -> None:
    before = in_status(status)
    if status is OS.PENDING_REVIEW:
        decision = decisions.release_fraud_hold(before, "rev-1", SERVICE, NOW)
        assert decision.order.status is OS.CONFIRMED and decision.order.fraud_hold_released
        assert [e.change for e in decision.entries] == [Change.FRAUD_HOLD_RELEASED]
    elif before.fraud_hold_released:
        assert not decisions.release_fraud_hold(before, "rev-1", SERVICE, NOW).changed  # a repeat
    with pytest.raises(FailedPrecondition) as refused:
        decisions.release_fraud_hold(before, "rev-other", SERVICE, NOW)
    assert reason_of(refused.value) == "FRAUD_REVIEW_MISMATCH"


def test_releasing_the_fraud_hold_of_an_order_that_also_needs_approval_waits_for_it() -> None:
    before = order(OS.PENDING_REVIEW, approval=ApprovalStatus.PENDING, fraud_review_id="rev-1")
    assert decisions.release_fraud_hold(before, "rev-1", SERVICE, NOW).order.status is OS.PENDING_APPROVAL
    rejected = dataclasses.replace(in_status(OS.CANCELLED), fraud_hold_released=False)
    with pytest.raises(FailedPrecondition) as refused:
        decisions.release_fraud_hold(rejected, "rev-1", SERVICE, NOW)
    assert reason_of(refused.value) == "ORDER_NOT_PENDING_REVIEW"


@pytest.mark.parametrize("status", list(OS))
def test_approve_and_reject(status: OrderStatus) -> None:
    before = in_status(status)
    if status is OS.PENDING_APPROVAL:
        approved = decisions.approve(before, APPROVER, "ok", NOW)
        assert approved.order.status is OS.CONFIRMED
        assert (approved.order.approval.status, approved.order.approval.decided_by) == (
            ApprovalStatus.APPROVED,
            "approver-1",
        )
        rejected = decisions.reject(before, APPROVER, "too much", NOW)
        assert (rejected.order.status, rejected.order.cancellation_reason) == (
            OS.CANCELLED,
            CancellationReason.APPROVAL_REJECTED,
        )
        assert [e.change for e in rejected.entries] == [Change.REJECTED, Change.PAYMENT_VOIDED]
        return
    for decide in (decisions.approve, decisions.reject):
        with pytest.raises(FailedPrecondition) as refused:
            decide(before, APPROVER, "", NOW)
        assert reason_of(refused.value) == "ORDER_NOT_PENDING_APPROVAL"


def test_approving_again_changes_nothing_and_approving_a_rejected_order_is_refused() -> None:
    approved = decisions.approve(in_status(OS.PENDING_APPROVAL), APPROVER, "", NOW).order
    assert not decisions.approve(approved, APPROVER, "", NOW).changed
    with pytest.raises(FailedPrecondition):
        decisions.reject(approved, APPROVER, "", NOW)
    rejected = decisions.reject(in_status(OS.PENDING_APPROVAL), APPROVER, "", NOW).order
    assert not decisions.reject(rejected, APPROVER, "", NOW).changed
    with pytest.raises(FailedPrecondition):
        decisions.approve(rejected, APPROVER, "", NOW)


@pytest.mark.parametrize(
    "actor",
    [
        Actor("b2b_approver", "approver-2", "acct-2"),  # another account's approver
        Actor("b2b_approver", "buyer-1", "acct-1"),  # the buyer themself
        Actor("b2b_buyer", "buyer-2", "acct-1"),
        Actor("customer", "buyer-1"),
        Actor("service"),
    ],
)
def test_only_an_approver_of_the_account_other_than_the_buyer_decides(actor: Actor) -> None:
    with pytest.raises(PermissionDenied):
        decisions.approve(in_status(OS.PENDING_APPROVAL), actor, "", NOW)
    with pytest.raises(PermissionDenied):
        decisions.reject(in_status(OS.PENDING_APPROVAL), actor, "", NOW)


def test_admin_may_decide_approvals() -> None:
    assert decisions.approve(in_status(OS.PENDING_APPROVAL), ADMIN, "", NOW).order.status is OS.CONFIRMED


@pytest.mark.parametrize("status", list(OS))
def test_capture_request(status: OrderStatus) -> None:
    before = in_status(status)
    if status is OS.CONFIRMED:
        decision = decisions.request_capture(before)
        assert not decision.changed
        assert [(e.kind, e.key, e.amount) for e in decision.effects] == [
            (EffectKind.CAPTURE, "order:o-1:capture", 2500)
        ]
    elif PAYMENT_IN[status] in (PS.CAPTURED, PS.REFUNDED):
        assert decisions.request_capture(before) == decisions.Decision(before)
    else:
        with pytest.raises(FailedPrecondition) as refused:
            decisions.request_capture(before)
        assert reason_of(refused.value) == "PAYMENT_NOT_CAPTURABLE"


def test_invoices_are_not_captured_and_captures_apply_once() -> None:
    with pytest.raises(FailedPrecondition):
        decisions.request_capture(order(kind=PaymentKind.INVOICE, payment_status=PS.INVOICED))
    captured = decisions.captured(order(), 2500, SERVICE, NOW)
    assert (captured.order.payment_status, captured.order.payment.captured_amount) == (PS.CAPTURED, 2500)
    assert [e.change for e in captured.entries] == [Change.PAYMENT_CAPTURED]
    assert not decisions.captured(captured.order, 2500, SERVICE, NOW).changed


def ship(*quantities: tuple[str, int], request_id: str = "f-1") -> FulfilCommand:
    return FulfilCommand(request_id, tuple(LineQuantity(line, q) for line, q in quantities), "wh-1", "DHL", "T1")


@pytest.mark.parametrize("status", list(OS))
def test_fulfil(status: OrderStatus) -> None:
    before = in_status(status)
    if status in machine.FULFILLABLE:
        decision = decisions.fulfil(before, ship(("l2", 1), request_id="f-9"), ADMIN, NOW, capture=True)
        assert decision.order.status in (OS.PARTIALLY_FULFILLED, OS.FULFILLED)
        assert decision.fulfilment is not None and decision.new_fulfilment
    else:
        with pytest.raises(FailedPrecondition) as refused:
            decisions.fulfil(before, ship(("l2", 1), request_id="f-9"), ADMIN, NOW, capture=True)
        assert reason_of(refused.value) == "ORDER_NOT_FULFILLABLE"


def test_partial_then_complete_fulfilment_and_capture_at_the_first_shipment() -> None:
    first = decisions.fulfil(order(), ship(("l1", 1)), ADMIN, NOW, capture=True)
    assert (first.order.status, first.order.fulfilment_status) == (OS.PARTIALLY_FULFILLED, FS.PARTIALLY_FULFILLED)
    assert [e.kind for e in first.effects] == [EffectKind.CAPTURE]
    assert first.order.fulfilled_at is None
    second = decisions.fulfil(first.order, ship(("l1", 1), ("l2", 1), request_id="f-2"), ADMIN, NOW, capture=True)
    assert (second.order.status, second.order.fulfilment_status) == (OS.FULFILLED, FS.FULFILLED)
    assert [line.fulfilled_quantity for line in second.order.lines] == [2, 1]
    assert second.order.fulfilled_at == NOW and len(second.order.fulfilments) == 2
    assert not decisions.fulfil(order(), ship(("l1", 2), ("l2", 1)), ADMIN, NOW, capture=False).effects


def test_fulfilment_quantities_and_repeats() -> None:
    with pytest.raises(InvalidArgument) as invalid:
        decisions.fulfil(order(), ship(("l1", 3), ("nope", 1)), ADMIN, NOW, capture=True)
    assert {v.field for v in invalid.value.violations} == {"lines[0].quantity", "lines[1].line_id"}
    first = decisions.fulfil(order(), ship(("l1", 1)), ADMIN, NOW, capture=True)
    again = decisions.fulfil(first.order, ship(("l1", 1)), ADMIN, NOW, capture=True)
    assert not again.changed and again.fulfilment == first.fulfilment
    with pytest.raises(AlreadyExists):
        decisions.fulfil(first.order, ship(("l1", 2)), ADMIN, NOW, capture=True)


def refund_of(amount: int | None, *lines: tuple[str, int], request_id: str = "r-1") -> RefundCommand:
    return RefundCommand(
        request_id, None if amount is None else eur(amount), tuple(LineQuantity(a, b) for a, b in lines), "r"
    )


@pytest.mark.parametrize("status", list(OS))
def test_refund(status: OrderStatus) -> None:
    before = in_status(status)
    if status in machine.ACCEPTED and PAYMENT_IN[status] is PS.CAPTURED:
        decision = decisions.refund(before, refund_of(100), ADMIN, NOW)
        assert (decision.order.payment_status, decision.order.payment.refunded_amount) == (PS.PARTIALLY_REFUNDED, 100)
        assert [(e.kind, e.amount) for e in decision.effects] == [(EffectKind.REFUND, 100)]
    elif status in machine.ACCEPTED:  # confirmed, authorised: nothing captured to refund
        with pytest.raises(FailedPrecondition) as refused:
            decisions.refund(before, refund_of(100), ADMIN, NOW)
        assert reason_of(refused.value) == "REFUND_EXCEEDS_CAPTURED"
    else:
        with pytest.raises(FailedPrecondition) as refused:
            decisions.refund(before, refund_of(100), ADMIN, NOW)
        assert reason_of(refused.value) == "ORDER_NOT_REFUNDABLE"


def test_refunds_never_exceed_what_was_captured_and_a_full_refund_after_fulfilment_refunds_the_order() -> None:
    fulfilled = in_status(OS.FULFILLED)
    with pytest.raises(FailedPrecondition) as refused:
        decisions.refund(fulfilled, refund_of(2501), ADMIN, NOW)
    assert refused.value.metadata["refundable"] == "2500"
    part = decisions.refund(fulfilled, refund_of(1000, ("l1", 1)), ADMIN, NOW).order
    assert part.status is OS.FULFILLED and part.lines[0].refunded_quantity == 1
    with pytest.raises(FailedPrecondition):
        decisions.refund(part, refund_of(1501, request_id="r-2"), ADMIN, NOW)
    rest = decisions.refund(part, refund_of(None, request_id="r-2"), ADMIN, NOW)
    assert (rest.order.status, rest.order.payment_status, rest.order.payment.refunded_amount) == (
        OS.REFUNDED,
        PS.REFUNDED,
        2500,
    )
    assert rest.refund is not None and rest.refund.amount == eur(1500)
    with pytest.raises(FailedPrecondition):
        decisions.refund(rest.order, refund_of(None, request_id="r-3"), ADMIN, NOW)


def test_a_full_refund_before_fulfilment_keeps_the_order_status() -> None:
    captured = order(OS.CONFIRMED, PS.CAPTURED, captured=2500)
    decision = decisions.refund(captured, refund_of(None), ADMIN, NOW)
    assert (decision.order.status, decision.order.payment_status) == (OS.CONFIRMED, PS.REFUNDED)


def test_refund_input_problems_and_repeats() -> None:
    fulfilled = in_status(OS.PARTIALLY_FULFILLED)  # l1 shipped 1 of 2
    with pytest.raises(InvalidArgument) as invalid:
        decisions.refund(fulfilled, refund_of(100, ("l1", 2), ("l2", 1)), ADMIN, NOW)
    assert {v.field for v in invalid.value.violations} == {"lines[0].quantity", "lines[1].quantity"}
    with pytest.raises(InvalidArgument):
        decisions.refund(fulfilled, RefundCommand("r-1", Money(100, "USD"), (), "r"), ADMIN, NOW)
    first = decisions.refund(fulfilled, refund_of(100), ADMIN, NOW)
    assert not decisions.refund(first.order, refund_of(100), ADMIN, NOW).changed
    with pytest.raises(AlreadyExists):
        decisions.refund(first.order, refund_of(200), ADMIN, NOW)


def test_invoiced_orders_refund_up_to_their_total_without_the_provider() -> None:
    invoiced = order(OS.FULFILLED, PS.INVOICED, kind=PaymentKind.INVOICE, fulfilled=(2, 1))
    decision = decisions.refund(invoiced, refund_of(2500), ADMIN, NOW)
    assert (decision.order.status, decision.order.payment_status) == (OS.REFUNDED, PS.REFUNDED)
    assert decision.effects == ()


@pytest.mark.parametrize("status", list(OS))
def test_complete(status: OrderStatus) -> None:
    decision = decisions.complete(in_status(status), SERVICE, NOW)
    assert decision.changed == (status is OS.FULFILLED)
    if decision.changed:
        assert decision.order.status is OS.COMPLETED


# --- access -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "visible"),
    [
        (Actor("customer", "buyer-1"), True),
        (Actor("customer", "someone-else"), False),
        (Actor("customer", ""), False),
        (Actor("b2b_buyer", "buyer-2", "acct-1"), True),
        (Actor("b2b_approver", "approver-1", "acct-1"), True),
        (Actor("b2b_approver", "approver-2", "acct-2"), False),
        (Actor("fraud_analyst", "fa-1"), True),
        (Actor("admin"), True),
        (Actor("service"), True),
        (Actor("", "buyer-1"), False),
    ],
)
def test_who_sees_an_order(actor: Actor, visible: bool) -> None:
    assert decisions.can_see(order(), actor) == visible


def test_only_the_customer_or_staff_cancel() -> None:
    decisions.check_may_cancel(order(), Actor("b2b_buyer", "buyer-1", "acct-1"))
    decisions.check_may_cancel(order(), ADMIN)
    with pytest.raises(PermissionDenied):
        decisions.check_may_cancel(order(), Actor("b2b_approver", "approver-1", "acct-1"))
    with pytest.raises(PermissionDenied):
        decisions.check_may_cancel(order(), Actor("fraud_analyst", "fa-1"))
