"""The saga as a pure state machine.

`next_action` says what a runner must do with a checkout now (an `outcomes.Action`); `apply` folds
the outcome of doing it (an `outcomes.Outcome`) into a new checkout, entering the holds of
`domain.holds`, whose `on_*` functions fold in decisions that arrive by event. The runner
persists every new version before it acts on it, so a process that dies anywhere resumes from
the last persisted version by calling `next_action` again: a RUNNING step is simply run again
(every call is idempotent by a key derived from the checkout id).

Forward or backward, never both: a checkout goes forward while RUNNING; the first definitive
failure (or a rejection, cancellation or expiry) turns it COMPENSATING, and from then on it only
undoes, in reverse order, the steps that may have had an effect, then ends FAILED.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from shop_checkout.domain.holds import await_action, enter_holds
from shop_checkout.domain.model import (
    HELD,
    STEP_ORDER,
    TERMINAL,
    ApprovalChain,
    ApprovalStep,
    Authorisation,
    Checkout,
    Decision,
    Failure,
    FailureCode,
    InvoicePayment,
    OrderStatus,
    PaymentAttempt,
    ReviewDecision,
    Status,
    Step,
    StepKind,
    StepState,
)
from shop_checkout.domain.outcomes import (
    Abort,
    Action,
    ActionRequired,
    Assessed,
    AuthorisationAnswered,
    CartCleared,
    Compensate,
    Compensated,
    CompensationFailed,
    CouponRedeemed,
    Done,
    Failed,
    Finish,
    HoldReleased,
    OrderCreated,
    Outcome,
    PaymentCaptured,
    Quoted,
    Reserved,
    Run,
    SalesQuoteRedeemed,
    Skip,
    Skipped,
    Started,
    StepResult,
    StockCommitted,
    Succeeded,
    Transient,
    Wait,
)
from shop_checkout.domain.rules import SPENDING_LIMIT_STEP, needs_approval
from shop_checkout.domain.transitions import (
    MESSAGES,
    Policy,
    abort,
    approval_hold,
    fail_step,
    failure_code_for,
    finish,
    put_step,
    running_step,
)

# Steps that give up once transient errors outlast Policy.retry_budget (and at least max_attempts
# tries), and are then compensated: an outage shorter than the budget (a peer restarting) is waited
# out. From CREATE_ORDER on a step retries until it succeeds: the authorisation is being handed to an
# order, and compensating an order whose creation is in doubt is impossible (it cannot be found).
LIMITED = frozenset(
    {
        StepKind.QUOTE_PRICES,
        StepKind.ASSESS_FRAUD,
        StepKind.RESERVE_STOCK,
        StepKind.REDEEM_COUPON,
        StepKind.REDEEM_SALES_QUOTE,
        StepKind.AUTHORISE_PAYMENT,
    }
)
# Steps whose effect (if any) checkout itself undoes.
COMPENSABLE = frozenset(
    {
        StepKind.RESERVE_STOCK,
        StepKind.REDEEM_COUPON,
        StepKind.REDEEM_SALES_QUOTE,
        StepKind.AUTHORISE_PAYMENT,
        StepKind.CREATE_ORDER,
    }
)


# --- deciding -------------------------------------------------------------------------------------


def next_action(c: Checkout, policy: Policy) -> Action:
    if c.status in TERMINAL:
        return Done()
    if c.status in HELD:
        return Wait()
    if c.status is Status.COMPENSATING:
        for step in reversed(c.steps):
            if needs_compensation(c, step):
                return Compensate(step.kind)
        return Finish()
    last = c.current_step
    if last is not None and last.state is StepState.RUNNING:
        return Run(last.kind)
    if last is not None and last.state is StepState.WAITING:
        return Wait()
    failure = pending_abort(c)
    if failure is not None:
        return Abort(failure)
    kind = next_kind(c)
    if kind is None:
        return Finish()
    reason = skip_reason(c, kind, policy)
    return Skip(kind, reason) if reason else Run(kind)


def advance(c: Checkout, policy: Policy, now: datetime) -> Checkout:
    """Fold in what needs no call (skips, an abort, the finish) and start the next call, so that a
    runner persists one version per call. Afterwards `next_action` is Run (the call just started),
    Compensate, Wait or Done; a checkout with nothing to fold comes back as the same object."""
    while True:
        match next_action(c, policy):
            case Skip(kind, reason):
                c = apply(c, Skipped(kind, reason), now, policy)
            case Abort(failure):
                c = abort(c, failure, now)
            case Finish():
                return finish(c, now)
            case Run(kind):
                return apply(c, Started(kind), now, policy)
            case _:
                return c


def next_kind(c: Checkout) -> StepKind | None:
    last = c.current_step
    if last is None:
        return STEP_ORDER[0]
    index = STEP_ORDER.index(last.kind) + 1
    return STEP_ORDER[index] if index < len(STEP_ORDER) else None


def skip_reason(c: Checkout, kind: StepKind, policy: Policy) -> str:
    invoice = isinstance(c.request.payment, InvoicePayment)
    if kind is StepKind.REDEEM_COUPON and not (c.quote and c.quote.coupon_code):
        return "no coupon"
    if kind is StepKind.REDEEM_SALES_QUOTE and not c.request.sales_quote_id:
        return "no sales quote"
    if kind is StepKind.AUTHORISE_PAYMENT:
        if invoice:
            return "paid by invoice"
        if c.total is not None and c.total.amount == 0:
            return "nothing to pay"
    if kind is StepKind.CAPTURE_PAYMENT:
        if invoice:
            return "paid by invoice"
        if c.authorisation is None:
            return "nothing to pay"
        if not policy.capture_on_checkout:
            return "left authorised: captured at fulfilment"
    return ""


def needs_compensation(c: Checkout, step: Step) -> bool:
    if step.kind not in COMPENSABLE:
        return False
    if step.kind is StepKind.CREATE_ORDER:
        return step.state is StepState.SUCCEEDED and c.order is not None
    if step.kind is StepKind.AUTHORISE_PAYMENT and c.order is not None:
        return False  # the order owns the payment: cancelling it voids the authorisation
    might_have_effect = step.state in (StepState.SUCCEEDED, StepState.RUNNING) or (
        step.state is StepState.FAILED and step.uncertain
    )
    return might_have_effect


def pending_abort(c: Checkout) -> Failure | None:
    """A decision that arrived by event while the saga was running, to act on between steps."""
    at = c.current_step.kind if c.current_step else STEP_ORDER[0]
    if c.order_cancelled is not None and c.order is not None:
        code = failure_code_for(c.order_cancelled)
        return Failure(code, at, MESSAGES[code])
    if c.review_decision is ReviewDecision.REJECTED and c.order is None:
        return Failure(FailureCode.FRAUD_REJECTED, at, MESSAGES[FailureCode.FRAUD_REJECTED])
    return None


def reservation_ttl(c: Checkout, policy: Policy) -> timedelta:
    """Held checkouts keep their reservation through the holds they are going to wait in; an
    approval hold at most for approval_stock_hold (past it the stock is re-reserved at the approval)."""
    held = timedelta(0)
    if c.fraud is not None and c.fraud.decision is Decision.REVIEW:
        held += policy.review_hold
    if c.approval_required:
        held += min(approval_hold(c, policy), policy.approval_stock_hold)
    return held + policy.hold_margin if held else policy.reservation_ttl


def approval_chain(c: Checkout, quoted: Quoted) -> ApprovalChain:
    """The chain the order waits for: the account's rules' (customers resolved it after the quote);
    when they ask for none but the buyer's limits are exceeded, one step any approver decides."""
    chain = quoted.approval_chain or ApprovalChain()
    if not chain.steps and needs_approval(c.request, quoted.quote.totals.total, quoted.spent_in_period):
        return ApprovalChain((ApprovalStep(SPENDING_LIMIT_STEP),), chain.hold_days)
    return chain


# --- applying outcomes ----------------------------------------------------------------------------


def apply(c: Checkout, outcome: Outcome, now: datetime, policy: Policy) -> Checkout:
    c = dataclasses.replace(c, updated_at=now)
    match outcome:
        case Started(kind):
            step = c.step(kind)
            if step is not None and step.state is StepState.RUNNING:
                return put_step(c, dataclasses.replace(step, attempts=step.attempts + 1))
            return put_step(c, Step(kind, StepState.RUNNING, attempts=1, started_at=now))
        case Skipped(kind, reason):
            return put_step(c, Step(kind, StepState.SKIPPED, error=reason, started_at=now, finished_at=now))
        case Failed(kind, code, message, uncertain, error):
            return fail_step(c, kind, code, message, now, uncertain=uncertain, error=error)
        case Transient(kind, error):
            step = running_step(c, kind)
            if kind in LIMITED and _retries_exhausted(step, now, policy):
                code = FailureCode.UNAVAILABLE
                uncertain = kind in COMPENSABLE
                return fail_step(c, kind, code, MESSAGES[code], now, uncertain=uncertain, error=error)
            return put_step(c, dataclasses.replace(step, error=error))
        case Succeeded(kind, result):
            return _succeeded(c, kind, result, now, policy)
        case Compensated(kind, note, attempt):
            return _compensated(c, kind, note, attempt, now)
        case CompensationFailed(kind, error):
            step = c.step(kind)
            assert step is not None
            return put_step(c, dataclasses.replace(step, error=f"undo failed: {error}"))
    raise AssertionError(f"unknown outcome {outcome!r}")


def _retries_exhausted(step: Step, now: datetime, policy: Policy) -> bool:
    """Tried often enough, and failing for longer than the budget since the step first started."""
    failing_for = now - step.started_at if step.started_at is not None else timedelta(0)
    return step.attempts >= policy.max_attempts and failing_for >= policy.retry_budget


def _succeeded(c: Checkout, kind: StepKind, result: StepResult, now: datetime, policy: Policy) -> Checkout:
    done = dataclasses.replace(running_step(c, kind), state=StepState.SUCCEEDED, error="", finished_at=now)
    match result:
        case Quoted():
            if result.unpriced_skus:
                message = f"Some items cannot be sold now: {', '.join(result.unpriced_skus)}."
                return fail_step(c, kind, FailureCode.CART_NOT_CHECKOUTABLE, message, now)
            # A sales quote's prices are the whole deal: the cart's coupon is not applied on top.
            if c.cart.coupon_applied and not result.coupon_applied and not c.request.sales_quote_id:
                why = f" ({result.coupon_reason.lower().replace('_', ' ')})" if result.coupon_reason else ""
                message = f"The coupon {c.cart.coupon_code} can no longer be used{why}."
                return fail_step(c, kind, FailureCode.COUPON_UNAVAILABLE, message, now)
            chain = approval_chain(c, result)
            return dataclasses.replace(
                put_step(c, done), quote=result.quote, approval_required=bool(chain.steps), approval_chain=chain
            )
        case Assessed(fraud, card):
            if fraud.decision is Decision.BLOCK:
                code = FailureCode.FRAUD_BLOCKED
                c = dataclasses.replace(c, fraud=fraud, card=card)
                return fail_step(c, kind, code, MESSAGES[code], now, error=f"blocked with score {fraud.score}")
            return dataclasses.replace(put_step(c, done), fraud=fraud, card=card)
        case Reserved(expires_at):
            return dataclasses.replace(put_step(c, done), reservation_expires_at=expires_at)
        case AuthorisationAnswered():
            c = _record_attempt(c, result.attempt)
            if not result.approved:
                decline = result.decline_code or "declined"
                message = result.message or f"The card was declined ({decline})."
                return fail_step(c, kind, FailureCode.PAYMENT_DECLINED, message, now, error=f"declined: {decline}")
            amount = result.attempt.amount
            authorised = Authorisation(result.authorisation_id, amount)
            return dataclasses.replace(put_step(c, done), authorisation=authorised, hold_expires_at=None)
        case ActionRequired(attempt, action):
            return await_action(_record_attempt(c, attempt), action, now, policy)
        case OrderCreated(order):
            c = dataclasses.replace(put_step(c, done), order=order)
            if order.status is OrderStatus.CONFIRMED:
                c = dataclasses.replace(c, order_confirmed=True)
            return enter_holds(c, now, policy)
        case HoldReleased(order_status):
            assert c.order is not None
            c = dataclasses.replace(c, order=dataclasses.replace(c.order, status=order_status))
            return enter_holds(c, now, policy)
        case PaymentCaptured():
            return dataclasses.replace(put_step(c, done), captured=True)
        case CartCleared(note):
            return put_step(c, dataclasses.replace(done, error=note))
        case StockCommitted() | CouponRedeemed() | SalesQuoteRedeemed():
            return put_step(c, done)
    raise AssertionError(f"unknown result {result!r}")


def _record_attempt(c: Checkout, attempt: PaymentAttempt) -> Checkout:
    kept = tuple(a for a in c.payment_attempts if a.attempt_id != attempt.attempt_id)
    return dataclasses.replace(c, payment_attempts=(*kept, attempt))


def _compensated(c: Checkout, kind: StepKind, note: str, attempt: PaymentAttempt | None, now: datetime) -> Checkout:
    step = c.step(kind)
    assert step is not None
    if step.state is StepState.FAILED:  # an uncertain failure: undone just in case
        undone = dataclasses.replace(step, uncertain=False, error=f"{step.error}; {note}" if note else step.error)
    else:
        undone = dataclasses.replace(step, state=StepState.COMPENSATED, error=note, finished_at=now)
    c = put_step(c, undone)
    if attempt is not None:
        c = _record_attempt(c, attempt)
    if kind is StepKind.CREATE_ORDER:
        authorise = c.step(StepKind.AUTHORISE_PAYMENT)
        if authorise is not None and authorise.state is StepState.SUCCEEDED:
            voided = "voided by the order's cancellation"
            c = put_step(c, dataclasses.replace(authorise, state=StepState.COMPENSATED, error=voided, finished_at=now))
    return c
