"""The saga's holds and the decisions that arrive by event. Once the order exists a checkout may
wait for a fraud review or for its approvals (`enter_holds`), and an authorisation may wait for the
customer's action, 3-D Secure (`await_action`); the `on_*` functions fold in what the events and the
runner's checks report (a review decided, an order confirmed or cancelled, a hold that expired, a
new look at the action). Pure, like the saga (`domain.saga`), which enters the holds from `apply`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from shop_checkout.domain.model import (
    HELD,
    STEP_ORDER,
    TERMINAL,
    CancelReason,
    Checkout,
    Failure,
    FailureCode,
    NextAction,
    OrderStatus,
    ReviewDecision,
    Status,
    Step,
    StepKind,
    StepState,
)
from shop_checkout.domain.transitions import (
    MESSAGES,
    Policy,
    abort,
    approval_hold,
    fail_step,
    failure_code_for,
    put_step,
)

# --- the customer's action (3-D Secure) -------------------------------------------------------------


def await_action(c: Checkout, action: NextAction, now: datetime, policy: Policy) -> Checkout:
    """Hold the checkout until the customer completed the action, at most `policy.action_timeout` from
    when it was first asked for (a check that finds it still pending keeps that deadline)."""
    known = c.action is not None and c.action.authorisation_id == action.authorisation_id
    expires = c.action.expires_at if known and c.action is not None else None
    action = dataclasses.replace(action, expires_at=expires or now + policy.action_timeout)
    c = dataclasses.replace(c, action=action)
    assert action.expires_at is not None
    if action.expires_at <= now:
        return _action_expired(c, now)
    c = _set_state(c, StepKind.AUTHORISE_PAYMENT, StepState.WAITING, now)
    return dataclasses.replace(c, status=Status.ACTION_REQUIRED, hold_expires_at=action.expires_at)


def _action_expired(c: Checkout, now: datetime) -> Checkout:
    """Too late: the authorisation that waits for the action is voided (uncertain: it may have passed
    meanwhile), then the rest is undone."""
    code = FailureCode.ACTION_EXPIRED
    error = "the customer did not complete the action in time"
    return fail_step(c, StepKind.AUTHORISE_PAYMENT, code, MESSAGES[code], now, uncertain=True, error=error)


def on_action_check(c: Checkout, now: datetime) -> Checkout:
    """Ask the provider again whether the customer completed the action (the client repeated PlaceOrder,
    or the poll came round): AUTHORISE_PAYMENT runs again and reads the authorisation. Its retry budget
    counts from this check, not from the first authorisation."""
    if c.status is not Status.ACTION_REQUIRED:
        return c
    step = c.step(StepKind.AUTHORISE_PAYMENT)
    assert step is not None
    checking = dataclasses.replace(step, state=StepState.RUNNING, attempts=0, started_at=now, finished_at=None)
    return dataclasses.replace(put_step(c, checking), status=Status.RUNNING, hold_expires_at=None, updated_at=now)


# --- holds ----------------------------------------------------------------------------------------


def _set_state(c: Checkout, kind: StepKind, state: StepState, now: datetime) -> Checkout:
    step = c.step(kind)
    if step is None:
        return put_step(c, Step(kind, state, started_at=now, finished_at=None if state is StepState.WAITING else now))
    if step.state is state:
        return c
    finished = None if state in (StepState.WAITING, StepState.RUNNING) else now
    return put_step(c, dataclasses.replace(step, state=state, finished_at=finished))


def enter_holds(c: Checkout, now: datetime, policy: Policy) -> Checkout:
    """Where the saga stands once the order exists: waiting for a review, for an approval, or on."""
    assert c.order is not None
    if c.order_cancelled is not None or c.order.status is OrderStatus.CANCELLED:
        code = failure_code_for(c.order_cancelled or CancelReason.MERCHANT)
        return abort(c, Failure(code, _at(c), MESSAGES[code]), now)
    status = OrderStatus.CONFIRMED if c.order_confirmed else c.order.status
    if status is OrderStatus.PENDING_REVIEW:
        if c.review_decision is ReviewDecision.REJECTED:
            c = _set_state(c, StepKind.AWAIT_FRAUD_REVIEW, StepState.WAITING, now)
            code = FailureCode.FRAUD_REJECTED
            return abort(c, Failure(code, StepKind.AWAIT_FRAUD_REVIEW, MESSAGES[code]), now)
        if c.review_decision is ReviewDecision.APPROVED:  # the runner releases the order's hold
            c = _set_state(c, StepKind.AWAIT_FRAUD_REVIEW, StepState.RUNNING, now)
            return dataclasses.replace(c, status=Status.RUNNING, hold_expires_at=None)
        c = _set_state(c, StepKind.AWAIT_FRAUD_REVIEW, StepState.WAITING, now)
        expires = c.hold_expires_at if c.status is Status.PENDING_REVIEW else now + policy.review_hold
        return dataclasses.replace(c, status=Status.PENDING_REVIEW, hold_expires_at=expires)
    review = c.step(StepKind.AWAIT_FRAUD_REVIEW)
    passed = review is not None and review.state in (StepState.WAITING, StepState.RUNNING)
    c = _set_state(c, StepKind.AWAIT_FRAUD_REVIEW, StepState.SUCCEEDED if passed else StepState.SKIPPED, now)
    if status is OrderStatus.PENDING_APPROVAL:
        c = _set_state(c, StepKind.AWAIT_APPROVAL, StepState.WAITING, now)
        expires = c.hold_expires_at if c.status is Status.PENDING_APPROVAL else now + approval_hold(c, policy)
        return dataclasses.replace(c, status=Status.PENDING_APPROVAL, hold_expires_at=expires)
    approval = c.step(StepKind.AWAIT_APPROVAL)
    waited = approval is not None and approval.state is StepState.WAITING
    c = _set_state(c, StepKind.AWAIT_APPROVAL, StepState.SUCCEEDED if waited else StepState.SKIPPED, now)
    return dataclasses.replace(c, status=Status.RUNNING, hold_expires_at=None)


def _at(c: Checkout) -> StepKind:
    return c.current_step.kind if c.current_step else STEP_ORDER[0]


# --- decisions that arrive by event -----------------------------------------------------------------


def on_review_decided(c: Checkout, decision: ReviewDecision, now: datetime, policy: Policy) -> Checkout:
    """shop.fraud.review_decided. A decision that arrives before the hold is kept for it."""
    if c.status in TERMINAL or c.status is Status.COMPENSATING or c.review_decision is not None:
        return c
    c = dataclasses.replace(c, review_decision=decision, updated_at=now)
    if c.status is Status.PENDING_REVIEW:
        return enter_holds(c, now, policy)
    return c


def on_order_confirmed(c: Checkout, now: datetime, policy: Policy) -> Checkout:
    """shop.order.confirmed: the order's last hold was lifted (or it started confirmed)."""
    if c.status in TERMINAL or c.status is Status.COMPENSATING or c.order_confirmed:
        return c
    if c.order is not None and c.order.status is OrderStatus.CONFIRMED:
        return c  # the usual case: the event of an order that started confirmed; nothing to record
    c = dataclasses.replace(c, order_confirmed=True, updated_at=now)
    if c.status in HELD and c.order is not None:
        c = dataclasses.replace(c, order=dataclasses.replace(c.order, status=OrderStatus.CONFIRMED))
        return enter_holds(c, now, policy)
    return c


def on_order_cancelled(c: Checkout, reason: CancelReason, now: datetime) -> Checkout:
    """shop.order.cancelled: a held order was rejected or cancelled; a running saga stops at its next step."""
    if c.status in TERMINAL or c.status is Status.COMPENSATING:
        return c
    c = dataclasses.replace(c, order_cancelled=reason, updated_at=now)
    if c.status in HELD:
        code = failure_code_for(reason)
        return abort(c, Failure(code, _at(c), MESSAGES[code]), now)
    return c


def on_hold_expired(c: Checkout, now: datetime) -> Checkout:
    if c.status not in HELD or c.hold_expires_at is None or c.hold_expires_at > now:
        return c
    if c.status is Status.ACTION_REQUIRED:
        return _action_expired(c, now)
    code = FailureCode.HOLD_EXPIRED
    return abort(c, Failure(code, _at(c), MESSAGES[code]), now)
