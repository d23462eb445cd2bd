"""What the saga's forward run (`domain.saga`) and its holds (`domain.holds`) both use: the `Policy`
they go by, the customer's message for each failure they decide, how an order's cancel reason and a
checkout's failure map onto each other, and the edits of a checkout they share (put a step, fail it,
turn to compensation with `abort`, `finish`). It imports neither of them, so that the saga can enter
the holds without the holds calling back into the saga.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from shop_checkout.domain.model import (
    CancelReason,
    Checkout,
    Failure,
    FailureCode,
    Status,
    Step,
    StepKind,
    StepState,
)


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 5
    retry_budget: timedelta = timedelta(seconds=60)
    capture_on_checkout: bool = True
    reservation_ttl: timedelta = timedelta(minutes=15)
    review_hold: timedelta = timedelta(hours=24)
    approval_hold: timedelta = timedelta(days=3)  # unless the approval chain says (hold_days)
    approval_stock_hold: timedelta = timedelta(days=6)  # an approval hold keeps the stock this long at most
    hold_margin: timedelta = timedelta(hours=1)
    action_timeout: timedelta = timedelta(minutes=10)  # how long a checkout waits for the customer's action


MESSAGES = {
    FailureCode.FRAUD_BLOCKED: "We cannot accept this order. Please contact customer service.",
    FailureCode.FRAUD_REJECTED: "The order was not accepted after review; nothing was charged.",
    FailureCode.APPROVAL_REJECTED: "The approver of your account rejected the order; nothing was charged.",
    FailureCode.ORDER_CANCELLED: "The order was cancelled; nothing was charged.",
    FailureCode.HOLD_EXPIRED: "The order was not decided in time and was cancelled; nothing was charged.",
    FailureCode.PAYMENT_ERROR: "The payment could not be processed; nothing was charged. Please try again.",
    FailureCode.INTERNAL: "Something went wrong; nothing was charged. Please try again.",
    FailureCode.STOCK_COMMIT_FAILED: "The items could not be set aside in time; nothing was charged.",
    FailureCode.UNAVAILABLE: "We could not complete the order just now; nothing was charged. Please try again shortly.",
    FailureCode.ACTION_EXPIRED: "The card's authentication was not completed in time; nothing was charged.",
}
# Failures that a repeat of the same request (same idempotency key) may turn into an order: it runs
# the checkout again as a new attempt.
RETRYABLE = frozenset({FailureCode.UNAVAILABLE})


def approval_hold(c: Checkout, policy: Policy) -> timedelta:
    """How long the order may wait for its approvals: the chain's hold_days, else the default."""
    days = c.approval_chain.hold_days if c.approval_chain is not None else 0
    return timedelta(days=days) if days > 0 else policy.approval_hold


def failure_code_for(reason: CancelReason) -> FailureCode:
    return {
        CancelReason.FRAUD_REJECTED: FailureCode.FRAUD_REJECTED,
        CancelReason.APPROVAL_REJECTED: FailureCode.APPROVAL_REJECTED,
        CancelReason.HOLD_EXPIRED: FailureCode.HOLD_EXPIRED,
    }.get(reason, FailureCode.ORDER_CANCELLED)


def cancel_reason_for(failure: Failure | None) -> CancelReason:
    code = failure.code if failure else FailureCode.INTERNAL
    return {
        FailureCode.FRAUD_REJECTED: CancelReason.FRAUD_REJECTED,
        FailureCode.APPROVAL_REJECTED: CancelReason.APPROVAL_REJECTED,
        FailureCode.HOLD_EXPIRED: CancelReason.HOLD_EXPIRED,
    }.get(code, CancelReason.CHECKOUT_FAILED)


def abort(c: Checkout, failure: Failure, now: datetime) -> Checkout:
    """Turn to compensation: a waiting step fails, nothing goes forward any more."""
    last = c.current_step
    if last is not None and last.state is StepState.WAITING:
        # An authorisation waiting for the customer's action may still pass: it is voided just in case.
        pending = last.kind is StepKind.AUTHORISE_PAYMENT
        failed = dataclasses.replace(
            last, state=StepState.FAILED, error=failure.message, finished_at=now, uncertain=pending
        )
        c = put_step(c, failed)
    return dataclasses.replace(c, status=Status.COMPENSATING, failure=failure, hold_expires_at=None, updated_at=now)


def finish(c: Checkout, now: datetime) -> Checkout:
    status = Status.FAILED if c.status is Status.COMPENSATING else Status.COMPLETED
    return dataclasses.replace(c, status=status, finished_at=now, updated_at=now, hold_expires_at=None)


def put_step(c: Checkout, step: Step) -> Checkout:
    """Replace the step of its kind, or append it (steps are listed in the order they ran)."""
    steps = list(c.steps)
    for index, existing in enumerate(steps):
        if existing.kind is step.kind:
            steps[index] = step
            return dataclasses.replace(c, steps=tuple(steps))
    return dataclasses.replace(c, steps=(*steps, step))


def running_step(c: Checkout, kind: StepKind) -> Step:
    step = c.step(kind)
    return step if step is not None else Step(kind, StepState.RUNNING, attempts=1)


def fail_step(
    c: Checkout,
    kind: StepKind,
    code: FailureCode,
    message: str,
    now: datetime,
    *,
    uncertain: bool = False,
    error: str = "",
) -> Checkout:
    step = dataclasses.replace(
        running_step(c, kind), state=StepState.FAILED, error=error or message, finished_at=now, uncertain=uncertain
    )
    return abort(put_step(c, step), Failure(code, kind, message), now)
