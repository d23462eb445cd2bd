"""The saga as a pure state machine.

`next_action` says what a runner must do with a checkout now; `apply` folds the outcome of doing it
into a new checkout; the `on_*` functions fold in decisions that arrive by event. The runner
persists every new version before it acts on it, so a process that dies anywhere resumes from
the last persisted version by calling `next_action` again: a RUNNING step is simply run again
(every call is idempotent by a key derived from the checkout id).

Forward or backward, never both: a checkout goes forward while RUNNING; the first definitive
failure (or a rejection, cancellation or expiry) turns it COMPENSATING, and from then on it only
undoes, in reverse order, the steps that may have had an effect, then ends FAILED.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from shop_checkout.domain.model import (
    HELD,
    STEP_ORDER,
    TERMINAL,
    ApprovalChain,
    ApprovalStep,
    Authorisation,
    CancelReason,
    CardDetails,
    Checkout,
    Decision,
    Failure,
    FailureCode,
    FraudResult,
    InvoicePayment,
    NextAction,
    OrderRef,
    OrderStatus,
    PaymentAttempt,
    Quote,
    ReviewDecision,
    Status,
    Step,
    StepKind,
    StepState,
)
from shop_checkout.domain.rules import SPENDING_LIMIT_STEP, needs_approval
from shopkit.money import Money

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


# --- step results (what a successful call returned) ------------------------------------------------


@dataclass(frozen=True)
class Quoted:
    quote: Quote
    unpriced_skus: tuple[str, ...] = ()
    coupon_applied: bool = False
    coupon_reason: str = ""
    spent_in_period: Money | None = None  # the buyer's spending in the approval period before this checkout
    approval_chain: ApprovalChain | None = None  # B2B: what the account's rules ask for (None: no company)


@dataclass(frozen=True)
class Assessed:
    fraud: FraudResult
    card: CardDetails | None = None


@dataclass(frozen=True)
class Reserved:
    expires_at: datetime


@dataclass(frozen=True)
class CouponRedeemed:
    pass


@dataclass(frozen=True)
class SalesQuoteRedeemed:
    pass


@dataclass(frozen=True)
class AuthorisationAnswered:
    attempt: PaymentAttempt
    approved: bool
    authorisation_id: str = ""
    decline_code: str = ""
    message: str = ""


@dataclass(frozen=True)
class ActionRequired:
    """The provider holds the authorisation until the customer completes an action (3-D Secure)."""

    attempt: PaymentAttempt
    action: NextAction


@dataclass(frozen=True)
class OrderCreated:
    order: OrderRef


@dataclass(frozen=True)
class HoldReleased:
    order_status: OrderStatus


@dataclass(frozen=True)
class StockCommitted:
    pass


@dataclass(frozen=True)
class PaymentCaptured:
    pass


@dataclass(frozen=True)
class CartCleared:
    note: str = ""  # why the cart was left as it was (e.g. it expired meanwhile)


StepResult = (
    Quoted
    | Assessed
    | Reserved
    | CouponRedeemed
    | SalesQuoteRedeemed
    | AuthorisationAnswered
    | ActionRequired
    | OrderCreated
    | HoldReleased
    | StockCommitted
    | PaymentCaptured
    | CartCleared
)

# --- outcomes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    kind: StepKind


@dataclass(frozen=True)
class Succeeded:
    kind: StepKind
    result: StepResult


@dataclass(frozen=True)
class Skipped:
    kind: StepKind
    reason: str


@dataclass(frozen=True)
class Failed:
    """A definitive failure: the call answered no (declined, out of stock, ...)."""

    kind: StepKind
    code: FailureCode
    message: str  # for the customer
    uncertain: bool = False
    error: str = ""  # for operations, on the step (default: the message)


@dataclass(frozen=True)
class Transient:
    """The call failed in a way that may pass (unavailable, deadline); its effect is unknown."""

    kind: StepKind
    error: str


@dataclass(frozen=True)
class Compensated:
    kind: StepKind
    note: str = ""
    attempt: PaymentAttempt | None = None


@dataclass(frozen=True)
class CompensationFailed:
    """An undo failed transiently; it is retried."""

    kind: StepKind
    error: str


Outcome = Started | Succeeded | Skipped | Failed | Transient | Compensated | CompensationFailed

# --- actions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    kind: StepKind


@dataclass(frozen=True)
class Skip:
    kind: StepKind
    reason: str


@dataclass(frozen=True)
class Compensate:
    kind: StepKind


@dataclass(frozen=True)
class Abort:
    failure: Failure


@dataclass(frozen=True)
class Finish:
    pass


@dataclass(frozen=True)
class Wait:
    pass


@dataclass(frozen=True)
class Done:
    pass


Action = Run | Skip | Compensate | Abort | Finish | Wait | Done


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


def approval_hold(c: Checkout, policy: Policy) -> timedelta:
    """How long the order may wait for its approvals: the chain's hold_days, else the default."""
    days = c.approval_chain.hold_days if c.approval_chain is not None else 0
    return timedelta(days=days) if days > 0 else policy.approval_hold


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


# --- applying outcomes ----------------------------------------------------------------------------


def apply(c: Checkout, outcome: Outcome, now: datetime, policy: Policy) -> Checkout:
    c = dataclasses.replace(c, updated_at=now)
    match outcome:
        case Started(kind):
            step = c.step(kind)
            if step is not None and step.state is StepState.RUNNING:
                return _put(c, dataclasses.replace(step, attempts=step.attempts + 1))
            return _put(c, Step(kind, StepState.RUNNING, attempts=1, started_at=now))
        case Skipped(kind, reason):
            return _put(c, Step(kind, StepState.SKIPPED, error=reason, started_at=now, finished_at=now))
        case Failed(kind, code, message, uncertain, error):
            return _fail(c, kind, code, message, now, uncertain=uncertain, error=error)
        case Transient(kind, error):
            step = _running(c, kind)
            if kind in LIMITED and _retries_exhausted(step, now, policy):
                code = FailureCode.UNAVAILABLE
                uncertain = kind in COMPENSABLE
                return _fail(c, kind, code, MESSAGES[code], now, uncertain=uncertain, error=error)
            return _put(c, dataclasses.replace(step, error=error))
        case Succeeded(kind, result):
            return _succeeded(c, kind, result, now, policy)
        case Compensated(kind, note, attempt):
            return _compensated(c, kind, note, attempt, now)
        case CompensationFailed(kind, error):
            step = c.step(kind)
            assert step is not None
            return _put(c, dataclasses.replace(step, error=f"undo failed: {error}"))
    raise AssertionError(f"unknown outcome {outcome!r}")


def abort(c: Checkout, failure: Failure, now: datetime) -> Checkout:
    """Turn to compensation: a waiting step fails, nothing goes forward any more."""
    last = c.current_step
    if last is not None and last.state is StepState.WAITING:
        # An authorisation waiting for the customer's action may still pass: it is voided just in case.
        pending = last.kind is StepKind.AUTHORISE_PAYMENT
        failed = dataclasses.replace(
            last, state=StepState.FAILED, error=failure.message, finished_at=now, uncertain=pending
        )
        c = _put(c, failed)
    return dataclasses.replace(c, status=Status.COMPENSATING, failure=failure, hold_expires_at=None, updated_at=now)


def finish(c: Checkout, now: datetime) -> Checkout:
    status = Status.FAILED if c.status is Status.COMPENSATING else Status.COMPLETED
    return dataclasses.replace(c, status=status, finished_at=now, updated_at=now, hold_expires_at=None)


def _put(c: Checkout, step: Step) -> Checkout:
    """Replace the step of its kind, or append it (steps are listed in the order they ran)."""
    steps = list(c.steps)
    for index, existing in enumerate(steps):
        if existing.kind is step.kind:
            steps[index] = step
            return dataclasses.replace(c, steps=tuple(steps))
    return dataclasses.replace(c, steps=(*steps, step))


def _retries_exhausted(step: Step, now: datetime, policy: Policy) -> bool:
    """Tried often enough, and failing for longer than the budget since the step first started."""
    failing_for = now - step.started_at if step.started_at is not None else timedelta(0)
    return step.attempts >= policy.max_attempts and failing_for >= policy.retry_budget


def _running(c: Checkout, kind: StepKind) -> Step:
    step = c.step(kind)
    return step if step is not None else Step(kind, StepState.RUNNING, attempts=1)


def _fail(
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
        _running(c, kind), state=StepState.FAILED, error=error or message, finished_at=now, uncertain=uncertain
    )
    return abort(_put(c, step), Failure(code, kind, message), now)


def _succeeded(c: Checkout, kind: StepKind, result: StepResult, now: datetime, policy: Policy) -> Checkout:
    done = dataclasses.replace(_running(c, kind), state=StepState.SUCCEEDED, error="", finished_at=now)
    match result:
        case Quoted():
            if result.unpriced_skus:
                message = f"Some items cannot be sold now: {', '.join(result.unpriced_skus)}."
                return _fail(c, kind, FailureCode.CART_NOT_CHECKOUTABLE, message, now)
            # A sales quote's prices are the whole deal: the cart's coupon is not applied on top.
            if c.cart.coupon_applied and not result.coupon_applied and not c.request.sales_quote_id:
                why = f" ({result.coupon_reason.lower().replace('_', ' ')})" if result.coupon_reason else ""
                message = f"The coupon {c.cart.coupon_code} can no longer be used{why}."
                return _fail(c, kind, FailureCode.COUPON_UNAVAILABLE, message, now)
            chain = approval_chain(c, result)
            return dataclasses.replace(
                _put(c, done), quote=result.quote, approval_required=bool(chain.steps), approval_chain=chain
            )
        case Assessed(fraud, card):
            if fraud.decision is Decision.BLOCK:
                code = FailureCode.FRAUD_BLOCKED
                c = dataclasses.replace(c, fraud=fraud, card=card)
                return _fail(c, kind, code, MESSAGES[code], now, error=f"blocked with score {fraud.score}")
            return dataclasses.replace(_put(c, done), fraud=fraud, card=card)
        case Reserved(expires_at):
            return dataclasses.replace(_put(c, done), reservation_expires_at=expires_at)
        case AuthorisationAnswered():
            c = _record_attempt(c, result.attempt)
            if not result.approved:
                decline = result.decline_code or "declined"
                message = result.message or f"The card was declined ({decline})."
                return _fail(c, kind, FailureCode.PAYMENT_DECLINED, message, now, error=f"declined: {decline}")
            amount = result.attempt.amount
            authorised = Authorisation(result.authorisation_id, amount)
            return dataclasses.replace(_put(c, done), authorisation=authorised, hold_expires_at=None)
        case ActionRequired(attempt, action):
            return _await_action(_record_attempt(c, attempt), action, now, policy)
        case OrderCreated(order):
            c = dataclasses.replace(_put(c, done), order=order)
            if order.status is OrderStatus.CONFIRMED:
                c = dataclasses.replace(c, order_confirmed=True)
            return _enter_holds(c, now, policy)
        case HoldReleased(order_status):
            assert c.order is not None
            c = dataclasses.replace(c, order=dataclasses.replace(c.order, status=order_status))
            return _enter_holds(c, now, policy)
        case PaymentCaptured():
            return dataclasses.replace(_put(c, done), captured=True)
        case CartCleared(note):
            return _put(c, dataclasses.replace(done, error=note))
        case StockCommitted() | CouponRedeemed() | SalesQuoteRedeemed():
            return _put(c, done)
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
    c = _put(c, undone)
    if attempt is not None:
        c = _record_attempt(c, attempt)
    if kind is StepKind.CREATE_ORDER:
        authorise = c.step(StepKind.AUTHORISE_PAYMENT)
        if authorise is not None and authorise.state is StepState.SUCCEEDED:
            voided = "voided by the order's cancellation"
            c = _put(c, dataclasses.replace(authorise, state=StepState.COMPENSATED, error=voided, finished_at=now))
    return c


# --- the customer's action (3-D Secure) -------------------------------------------------------------


def _await_action(c: Checkout, action: NextAction, now: datetime, policy: Policy) -> Checkout:
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
    return _fail(c, StepKind.AUTHORISE_PAYMENT, code, MESSAGES[code], now, uncertain=True, error=error)


def on_action_check(c: Checkout, now: datetime) -> Checkout:
    """Ask the provider again whether the customer completed the action (the client repeated PlaceOrder,
    or the poll came round): AUTHORISE_PAYMENT runs again and reads the authorisation. Its retry budget
    counts from this check, not from the first authorisation."""
    if c.status is not Status.ACTION_REQUIRED:
        return c
    step = c.step(StepKind.AUTHORISE_PAYMENT)
    assert step is not None
    checking = dataclasses.replace(step, state=StepState.RUNNING, attempts=0, started_at=now, finished_at=None)
    return dataclasses.replace(_put(c, checking), status=Status.RUNNING, hold_expires_at=None, updated_at=now)


# --- holds ----------------------------------------------------------------------------------------


def _set_state(c: Checkout, kind: StepKind, state: StepState, now: datetime) -> Checkout:
    step = c.step(kind)
    if step is None:
        return _put(c, Step(kind, state, started_at=now, finished_at=None if state is StepState.WAITING else now))
    if step.state is state:
        return c
    finished = None if state in (StepState.WAITING, StepState.RUNNING) else now
    return _put(c, dataclasses.replace(step, state=state, finished_at=finished))


def _enter_holds(c: Checkout, now: datetime, policy: Policy) -> Checkout:
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
        return _enter_holds(c, now, policy)
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
        return _enter_holds(c, now, policy)
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
