"""What each command does to an order: pure functions from the order (and the command) to a
Decision (the order after it, the history entries it appends and the calls it owes other systems),
or a refusal (FAILED_PRECONDITION with a reason, PERMISSION_DENIED, INVALID_ARGUMENT).

Every status change goes through `_Steps.step`, which checks it against the state machine.
A repeat of a command that already took effect returns a Decision without entries (unchanged).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shop_order.domain import machine
from shop_order.domain.chain import ApprovalChain, Verdict, any_approver_chain
from shop_order.domain.machine import State
from shop_order.domain.model import (
    CHECKOUT_ORDER_DIFFERS,
    FRAUD_REVIEW_MISMATCH,
    INVALID_TRANSITION,
    NOT_APPROVER,
    NOT_ORDER_OWNER,
    ORDER_NOT_CANCELLABLE,
    ORDER_NOT_FULFILLABLE,
    ORDER_NOT_PENDING_APPROVAL,
    ORDER_NOT_PENDING_REVIEW,
    ORDER_NOT_REFUNDABLE,
    PAYMENT_NOT_CAPTURABLE,
    REFUND_EXCEEDS_CAPTURED,
    REQUEST_ID_REUSED,
    Actor,
    Approval,
    ApprovalStatus,
    CancellationReason,
    Change,
    Effect,
    EffectKind,
    FulfilmentRecord,
    FulfilmentStatus,
    HistoryEntry,
    LineQuantity,
    Order,
    OrderStatus,
    PaymentKind,
    PaymentStatus,
    RefundRecord,
    fingerprint,
    order_fingerprint,
)
from shopkit.errors import AlreadyExists, FailedPrecondition, FieldViolation, InvalidArgument, PermissionDenied
from shopkit.money import Money

OS = OrderStatus
PS = PaymentStatus
FS = FulfilmentStatus

# Roles that see every order; roles that see their B2B account's orders.
READ_ALL_ROLES = frozenset({"admin", "service", "fraud_analyst"})
ACCOUNT_ROLES = frozenset({"b2b_buyer", "b2b_approver"})
PERSON_ROLES = frozenset({"customer", "b2b_buyer", "b2b_approver"})
CANCELLATION_REFUND_ID = "cancellation"


@dataclass(frozen=True, slots=True)
class Decision:
    order: Order
    entries: tuple[HistoryEntry, ...] = ()
    effects: tuple[Effect, ...] = ()
    fulfilment: FulfilmentRecord | None = None  # the fulfilment the command recorded (or had recorded)
    refund: RefundRecord | None = None  # the refund the command recorded (or had recorded)
    new_fulfilment: bool = False
    new_refund: bool = False

    @property
    def changed(self) -> bool:
        """Whether the order itself changed (and its version must grow)."""
        return bool(self.entries)


def state_of(order: Order) -> State:
    return State(order.status, order.payment_status, order.fulfilment_status)


def refuse(order: Order, reason: str, message: str) -> FailedPrecondition:
    return FailedPrecondition(
        message,
        reason=reason,
        metadata={
            "order_id": order.order_id,
            "status": order.status.value,
            "payment_status": order.payment_status.value,
        },
    )


class _Steps:
    """Builds a Decision step by step; every status change is checked against the state machine."""

    def __init__(self, order: Order, actor: Actor, now: datetime):
        self.order = order
        self.actor = actor
        self.now = now
        self.entries: list[HistoryEntry] = []
        self.effects: list[Effect] = []

    def step(self, change: Change, *, reason: str = "", note: str = "", **changes: Any) -> None:
        before = self.order
        after = dataclasses.replace(before, **changes, updated_at=self.now)
        if not machine.allowed(state_of(before), state_of(after)):
            raise refuse(
                before,
                INVALID_TRANSITION,
                f"order {before.order_id} cannot go from {state_of(before)} to {state_of(after)}",
            )
        self.entries.append(
            HistoryEntry(
                sequence=0,
                change=change,
                status=after.status,
                previous_status=before.status,
                payment_status=after.payment_status,
                fulfilment_status=after.fulfilment_status,
                actor=self.actor,
                reason=reason,
                note=note,
                occurred_at=self.now,
            )
        )
        self.order = after

    def owe(self, effect: Effect) -> None:
        self.effects.append(effect)

    def decision(self, **extra: Any) -> Decision:
        return Decision(self.order, tuple(self.entries), tuple(self.effects), **extra)


# The step builder for the decisions of other domain modules (returns).
Steps = _Steps


# --- access ------------------------------------------------------------------------------------


def can_see(order: Order, actor: Actor) -> bool:
    """Customers see their own orders, B2B roles their account's, staff and fraud analysts all."""
    if actor.role in READ_ALL_ROLES:
        return True
    if actor.role in PERSON_ROLES and actor.id and order.customer_id == actor.id:
        return True
    return actor.role in ACCOUNT_ROLES and bool(actor.account_id) and order.account_id == actor.account_id


def check_may_cancel(order: Order, actor: Actor) -> None:
    """Staff cancel any order; people only their own (B2B colleagues who merely see it may not)."""
    if actor.is_staff or (actor.role in PERSON_ROLES and actor.id and actor.id == order.customer_id):
        return
    raise PermissionDenied("only the order's customer or an admin may cancel it", reason=NOT_ORDER_OWNER)


def check_may_decide_approval(order: Order, actor: Actor) -> None:
    """An approver of the order's account other than its buyer, or an admin."""
    if actor.role == "admin":
        return
    if actor.role != "b2b_approver" or not actor.account_id or actor.account_id != order.account_id:
        raise PermissionDenied(
            "only an approver of the order's account may decide its approval",
            reason=NOT_APPROVER,
            metadata={"order_id": order.order_id},
        )
    if actor.id and actor.id == order.customer_id:
        raise PermissionDenied(
            "the buyer may not approve their own order", reason=NOT_APPROVER, metadata={"order_id": order.order_id}
        )


# --- creation ----------------------------------------------------------------------------------


def place(
    draft: Order,
    *,
    approval_required: bool,
    approval_limit: Money | None,
    actor: Actor,
    now: datetime,
    chain: ApprovalChain | None = None,
) -> Decision:
    """A new order: held for a fraud review, held for an approval (its chain), or confirmed."""
    if approval_required and (chain is None or not chain.steps):
        chain = any_approver_chain(0 if chain is None else chain.hold_days)
    chain = chain if chain is not None and chain.steps else ApprovalChain()
    held = bool(chain.steps)
    if draft.fraud_review_id:
        status = OS.PENDING_REVIEW
    elif held:
        status = OS.PENDING_APPROVAL
    else:
        status = OS.CONFIRMED
    payment_status = PS.INVOICED if draft.payment.kind is PaymentKind.INVOICE else PS.AUTHORISED
    approval = Approval(ApprovalStatus.PENDING, approval_limit) if held else Approval()
    order = dataclasses.replace(
        draft,
        status=status,
        payment_status=payment_status,
        fulfilment_status=FS.UNFULFILLED,
        approval=approval,
        chain=chain,
        fingerprint=order_fingerprint(draft.currency, draft.lines, draft.totals),
        version=1,
        created_at=now,
        updated_at=now,
    )
    entry = HistoryEntry(0, Change.CREATED, status, None, payment_status, FS.UNFULFILLED, actor, occurred_at=now)
    return Decision(order, (entry,))


def check_same_order(existing: Order, draft: Order) -> None:
    """A repeated CreateOrder must describe the same order as the first."""
    if existing.fingerprint != order_fingerprint(draft.currency, draft.lines, draft.totals):
        raise AlreadyExists(
            f"checkout {existing.checkout_id!r} already placed order {existing.order_id} with other lines or totals",
            reason=CHECKOUT_ORDER_DIFFERS,
            metadata={"checkout_id": existing.checkout_id, "order_id": existing.order_id},
        )


# --- holds -------------------------------------------------------------------------------------


def release_fraud_hold(order: Order, review_id: str, actor: Actor, now: datetime) -> Decision:
    if not order.fraud_review_id or order.fraud_review_id != review_id:
        raise refuse(order, FRAUD_REVIEW_MISMATCH, f"review {review_id!r} is not the review holding this order")
    if order.status is OS.PENDING_REVIEW:
        steps = _Steps(order, actor, now)
        target = OS.PENDING_APPROVAL if order.approval.status is ApprovalStatus.PENDING else OS.CONFIRMED
        steps.step(Change.FRAUD_HOLD_RELEASED, status=target, fraud_hold_released=True)
        return steps.decision()
    if order.fraud_hold_released:
        return Decision(order)
    raise refuse(order, ORDER_NOT_PENDING_REVIEW, f"order {order.order_id} is {order.status}, not pending review")


def approve(order: Order, actor: Actor, note: str, now: datetime) -> Decision:
    """The caller's approval of the chain's current step; the last step approved confirms the order."""
    return _decide(order, actor, Verdict.APPROVE, note, now)


def reject(order: Order, actor: Actor, note: str, now: datetime) -> Decision:
    """The caller's rejection of the chain's current step: the order is cancelled."""
    return _decide(order, actor, Verdict.REJECT, note, now)


def chain_of(order: Order) -> ApprovalChain:
    """The order's approval chain; an order held for approval without one (placed before chains)
    waits for one step any approver decides."""
    if order.status is OS.PENDING_APPROVAL and not order.chain.steps:
        return any_approver_chain()
    return order.chain


def may_decide_current_step(order: Order, actor: Actor) -> bool:
    """Whether the actor may decide the current step of a pending order (and has not yet)."""
    step = chain_of(order).current_step
    if order.status is not OS.PENDING_APPROVAL or step is None or step.decision_of(actor.id) is not None:
        return False
    return actor.role == "admin" or step.names(actor.id)


def _decided_before(order: Order, actor: Actor, verdict: Verdict) -> bool:
    return any(d.approver == actor.id and d.verdict is verdict for step in order.chain.steps for d in step.decisions)


def _decide(order: Order, actor: Actor, verdict: Verdict, note: str, now: datetime) -> Decision:
    check_may_decide_approval(order, actor)
    order = dataclasses.replace(order, chain=chain_of(order))
    step = order.chain.current_step
    if order.status is OS.PENDING_APPROVAL and step is not None:
        if step.decision_of(actor.id) is not None:
            return Decision(order)  # the same approver again on the same step: the first decision stands
        if not may_decide_current_step(order, actor):
            if _decided_before(order, actor, verdict):
                return Decision(order)  # a repeat of their decision on an earlier step
            raise PermissionDenied(
                f"step {order.chain.current + 1} ({step.name}) of this order's approval chain is not yours to decide",
                reason=NOT_APPROVER,
                metadata={"order_id": order.order_id, "step": str(order.chain.current + 1)},
            )
        chain = order.chain.decide(actor.id, verdict, note, now)
        label = f"step {order.chain.current + 1} ({step.name}): {verdict.value}d"
        if chain.rejected:
            approval = dataclasses.replace(
                order.approval, status=ApprovalStatus.REJECTED, decided_by=actor.id, note=note, decided_at=now
            )
            return _cancel(
                order,
                CancellationReason.APPROVAL_REJECTED,
                Change.REJECTED,
                actor,
                note,
                now,
                approval=approval,
                chain=chain,
            )
        steps = _Steps(order, actor, now)
        if chain.approved:
            approval = dataclasses.replace(
                order.approval, status=ApprovalStatus.APPROVED, decided_by=actor.id, note=note, decided_at=now
            )
            steps.step(Change.APPROVED, reason=label, note=note, status=OS.CONFIRMED, approval=approval, chain=chain)
        else:
            steps.step(Change.APPROVAL_DECIDED, reason=label, note=note, chain=chain)
        return steps.decision()
    # After the chain ended: approving an approved (rejecting a rejected) order changes nothing.
    final = ApprovalStatus.APPROVED if verdict is Verdict.APPROVE else ApprovalStatus.REJECTED
    if order.approval.status is final:
        return Decision(order)
    raise refuse(order, ORDER_NOT_PENDING_APPROVAL, f"order {order.order_id} is {order.status}, not pending approval")


# --- cancellation ------------------------------------------------------------------------------


def cancel(order: Order, reason: CancellationReason, actor: Actor, note: str, now: datetime) -> Decision:
    check_may_cancel(order, actor)
    if order.status is OS.CANCELLED:
        return Decision(order)
    if order.status not in machine.CANCELLABLE:
        raise refuse(
            order, ORDER_NOT_CANCELLABLE, f"order {order.order_id} is {order.status}: only unfulfilled orders cancel"
        )
    return _cancel(order, reason, Change.CANCELLED, actor, note, now)


def _cancel(
    order: Order,
    reason: CancellationReason,
    change: Change,
    actor: Actor,
    note: str,
    now: datetime,
    **changes: Any,
) -> Decision:
    """Cancel, then give the money back (void an authorisation, refund a capture) and the stock."""
    steps = _Steps(order, actor, now)
    steps.step(
        change,
        reason=reason.value,
        note=note,
        status=OS.CANCELLED,
        fulfilment_status=FS.NOT_REQUIRED,
        cancellation_reason=reason,
        **changes,
    )
    refund = None
    if order.payment_status is PS.AUTHORISED:
        steps.step(Change.PAYMENT_VOIDED, reason=reason.value, payment_status=PS.VOIDED)
        steps.owe(Effect(EffectKind.VOID, f"order:{order.order_id}:void"))
    elif order.payment.kind is PaymentKind.CARD and order.refundable > 0:
        refund = RefundRecord(
            CANCELLATION_REFUND_ID,
            Money(order.refundable, order.currency),
            reason=f"cancelled: {reason.value}",
            refunded_at=now,
        )
        steps.step(
            Change.REFUNDED,
            reason=reason.value,
            payment_status=PS.REFUNDED,
            payment=dataclasses.replace(order.payment, refunded_amount=order.refund_base),
            refunds=(*order.refunds, refund),
        )
        steps.owe(_refund_effect(order, refund))
    if order.reservation_id:
        steps.owe(Effect(EffectKind.RELEASE_STOCK, f"order:{order.order_id}:release-stock"))
    return steps.decision(refund=refund, new_refund=refund is not None)


def cancelled_lines(order: Order) -> list[tuple[str, str, int]]:
    """(line id, sku, quantity that will not ship) of a cancelled order's lines."""
    return [(line.line_id, line.sku, line.unfulfilled) for line in order.lines if line.unfulfilled > 0]


# --- payment -----------------------------------------------------------------------------------


def request_capture(order: Order) -> Decision:
    """CapturePayment: owe a capture of the authorised amount; the provider's answer moves the status."""
    if order.payment_status in (PS.CAPTURED, PS.PARTIALLY_REFUNDED, PS.REFUNDED):
        return Decision(order)
    if order.payment_status is not PS.AUTHORISED or order.status not in machine.ACCEPTED:
        raise refuse(
            order,
            PAYMENT_NOT_CAPTURABLE,
            f"the payment of order {order.order_id} ({order.status}, {order.payment_status}) cannot be captured",
        )
    return Decision(order, effects=(capture_effect(order),))


def capture_effect(order: Order) -> Effect:
    return Effect(EffectKind.CAPTURE, f"order:{order.order_id}:capture", order.payment.authorised_amount.amount)


def captured(order: Order, amount: int, actor: Actor, now: datetime) -> Decision:
    """The provider captured `amount`."""
    if order.payment_status is not PS.AUTHORISED:
        return Decision(order)
    steps = _Steps(order, actor, now)
    steps.step(
        Change.PAYMENT_CAPTURED,
        payment_status=PS.CAPTURED,
        payment=dataclasses.replace(order.payment, captured_amount=amount),
    )
    return steps.decision()


# --- fulfilment --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FulfilCommand:
    request_id: str
    lines: tuple[LineQuantity, ...]
    location_id: str = ""
    carrier: str = ""
    tracking_number: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(
            {
                "lines": sorted((q.line_id, q.quantity) for q in self.lines),
                "location": self.location_id,
                "carrier": self.carrier,
                "tracking": self.tracking_number,
            }
        )


def fulfil(order: Order, command: FulfilCommand, actor: Actor, now: datetime, *, capture: bool) -> Decision:
    """Record a shipment or pickup; `capture` also owes the capture of a still-authorised payment."""
    existing = order.fulfilment(command.request_id)
    if existing is not None:
        if existing.fingerprint != command.fingerprint:
            raise _reused("fulfilment", command.request_id)
        return Decision(order, fulfilment=existing)
    if order.status not in machine.FULFILLABLE:
        raise refuse(order, ORDER_NOT_FULFILLABLE, f"order {order.order_id} is {order.status}: nothing to fulfil")
    _check_quantities(order, command.lines, lambda line: line.unfulfilled, "left to fulfil")
    shipped = {q.line_id: q.quantity for q in command.lines}
    lines = tuple(
        dataclasses.replace(line, fulfilled_quantity=line.fulfilled_quantity + shipped.get(line.line_id, 0))
        for line in order.lines
    )
    done = all(line.unfulfilled == 0 for line in lines)
    record = FulfilmentRecord(
        command.request_id,
        command.lines,
        command.location_id,
        command.carrier,
        command.tracking_number,
        fulfilled_at=now,
        fingerprint=command.fingerprint,
    )
    steps = _Steps(order, actor, now)
    steps.step(
        Change.FULFILLED,
        status=OS.FULFILLED if done else OS.PARTIALLY_FULFILLED,
        fulfilment_status=FS.FULFILLED if done else FS.PARTIALLY_FULFILLED,
        lines=lines,
        fulfilments=(*order.fulfilments, record),
        fulfilled_at=now if done else None,
    )
    if capture and order.payment_status is PS.AUTHORISED:
        steps.owe(capture_effect(order))
    return steps.decision(fulfilment=record, new_fulfilment=True)


# --- refunds -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefundCommand:
    request_id: str
    amount: Money | None  # None: everything still refundable
    lines: tuple[LineQuantity, ...]
    reason: str

    @property
    def fingerprint(self) -> str:
        amount = None if self.amount is None else [self.amount.amount, self.amount.currency]
        return fingerprint(
            {"amount": amount, "lines": sorted((q.line_id, q.quantity) for q in self.lines), "reason": self.reason}
        )


def refund(order: Order, command: RefundCommand, actor: Actor, now: datetime) -> Decision:
    """Refund part or all of what was captured (an invoiced order: credit part or all of its total)."""
    existing = order.refund(command.request_id)
    if existing is not None:
        if existing.fingerprint != command.fingerprint:
            raise _reused("refund", command.request_id)
        return Decision(order, refund=existing)
    if order.status not in machine.ACCEPTED:
        raise refuse(order, ORDER_NOT_REFUNDABLE, f"order {order.order_id} is {order.status}: it cannot be refunded")
    if command.amount is not None and command.amount.currency != order.currency:
        raise InvalidArgument([FieldViolation("amount.currency", f"must be the order's currency {order.currency}")])
    _check_quantities(order, command.lines, lambda line: line.returnable, "fulfilled and not yet refunded")
    amount = order.refundable if command.amount is None else command.amount.amount
    if amount <= 0 or amount > order.refundable:
        raise FailedPrecondition(
            f"cannot refund {amount}: {order.refundable} of order {order.order_id} is refundable",
            reason=REFUND_EXCEEDS_CAPTURED,
            metadata={"order_id": order.order_id, "requested": str(amount), "refundable": str(order.refundable)},
        )
    returned = {q.line_id: q.quantity for q in command.lines}
    lines = tuple(
        dataclasses.replace(line, refunded_quantity=line.refunded_quantity + returned.get(line.line_id, 0))
        for line in order.lines
    )
    refunded = order.payment.refunded_amount + amount
    full = refunded == order.refund_base
    record = RefundRecord(
        command.request_id,
        Money(amount, order.currency),
        command.lines,
        command.reason,
        refunded_at=now,
        fingerprint=command.fingerprint,
    )
    steps = _Steps(order, actor, now)
    steps.step(
        Change.REFUNDED,
        reason=command.reason,
        status=OS.REFUNDED if full and order.status in (OS.FULFILLED, OS.COMPLETED) else order.status,
        payment_status=PS.REFUNDED if full else PS.PARTIALLY_REFUNDED,
        payment=dataclasses.replace(order.payment, refunded_amount=refunded),
        lines=lines,
        refunds=(*order.refunds, record),
    )
    if order.payment.kind is PaymentKind.CARD:
        steps.owe(_refund_effect(order, record))
    return steps.decision(refund=record, new_refund=True)


def _refund_effect(order: Order, record: RefundRecord) -> Effect:
    return Effect(
        EffectKind.REFUND, f"order:{order.order_id}:refund:{record.refund_id}", record.amount.amount, record.refund_id
    )


# --- completion --------------------------------------------------------------------------------


def complete(order: Order, actor: Actor, now: datetime) -> Decision:
    """Close a fulfilled order once its return window passed."""
    if order.status is not OS.FULFILLED:
        return Decision(order)
    steps = _Steps(order, actor, now)
    steps.step(Change.COMPLETED, status=OS.COMPLETED)
    return steps.decision()


# --- helpers -----------------------------------------------------------------------------------


def _check_quantities(order: Order, quantities: Sequence[LineQuantity], limit: Any, what: str) -> None:
    """Every line id must be the order's, and each quantity within `limit(line)`."""
    problems: list[FieldViolation] = []
    for i, q in enumerate(quantities):
        line = order.line(q.line_id)
        if line is None:
            problems.append(FieldViolation(f"lines[{i}].line_id", "is not a line of this order"))
        elif q.quantity > limit(line):
            problems.append(FieldViolation(f"lines[{i}].quantity", f"exceeds the {limit(line)} {what}"))
    if problems:
        raise InvalidArgument(problems)


def _reused(what: str, request_id: str) -> AlreadyExists:
    return AlreadyExists(
        f"request_id {request_id!r} was used for a different {what}",
        reason=REQUEST_ID_REUSED,
        metadata={"request_id": request_id},
    )
