"""The saga's vocabulary, as plain frozen dataclasses without logic: what a successful step call
returned (a `StepResult`), the `Outcome` a runner reports after a call or an undo, and the `Action`
that `saga.next_action` asks of a runner. The saga (`domain.saga`) folds outcomes into a checkout;
the step calls (`shop_checkout.steps`) produce them from the peers' answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shop_checkout.domain.model import (
    ApprovalChain,
    CardDetails,
    Failure,
    FailureCode,
    FraudResult,
    NextAction,
    OrderRef,
    OrderStatus,
    PaymentAttempt,
    Quote,
    StepKind,
)
from shopkit.money import Money

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
