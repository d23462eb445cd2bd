"""The checkout aggregate: what a PlaceOrder asked for, what each saga step produced, where it stands.

Plain frozen dataclasses; the saga (`domain.saga`) derives new versions of a Checkout from
outcomes and events. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from shopkit.money import Money


class Status(StrEnum):
    RUNNING = "running"
    PENDING_REVIEW = "pending_review"
    PENDING_APPROVAL = "pending_approval"
    ACTION_REQUIRED = "action_required"  # the customer must complete the payment's authentication (3-D Secure)
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    FAILED = "failed"


# Waiting for a person (an analyst, an approver, the customer) until hold_expires_at.
HELD = frozenset({Status.PENDING_REVIEW, Status.PENDING_APPROVAL, Status.ACTION_REQUIRED})
# A runner works on these (under a lease); the others wait for an event or are over.
ACTIVE = frozenset({Status.RUNNING, Status.COMPENSATING})
TERMINAL = frozenset({Status.COMPLETED, Status.FAILED})


class StepKind(StrEnum):
    QUOTE_PRICES = "quote_prices"
    ASSESS_FRAUD = "assess_fraud"
    RESERVE_STOCK = "reserve_stock"
    REDEEM_COUPON = "redeem_coupon"
    REDEEM_SALES_QUOTE = "redeem_sales_quote"
    AUTHORISE_PAYMENT = "authorise_payment"
    CREATE_ORDER = "create_order"
    AWAIT_FRAUD_REVIEW = "await_fraud_review"
    AWAIT_APPROVAL = "await_approval"
    COMMIT_STOCK = "commit_stock"
    CAPTURE_PAYMENT = "capture_payment"
    CLEAR_CART = "clear_cart"


STEP_ORDER: tuple[StepKind, ...] = tuple(StepKind)


class StepState(StrEnum):
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"
    COMPENSATED = "compensated"


class FailureCode(StrEnum):
    CART_NOT_CHECKOUTABLE = "cart_not_checkoutable"
    FRAUD_BLOCKED = "fraud_blocked"
    OUT_OF_STOCK = "out_of_stock"
    COUPON_UNAVAILABLE = "coupon_unavailable"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_ERROR = "payment_error"
    FRAUD_REJECTED = "fraud_rejected"
    APPROVAL_REJECTED = "approval_rejected"
    ORDER_CANCELLED = "order_cancelled"
    HOLD_EXPIRED = "hold_expired"
    STOCK_COMMIT_FAILED = "stock_commit_failed"
    INTERNAL = "internal"
    PAYMENT_METHOD_INVALID = "payment_method_invalid"
    PICKUP_UNAVAILABLE = "pickup_unavailable"
    UNAVAILABLE = "unavailable"  # a service or the provider stayed unreachable past the retry budget
    ACTION_EXPIRED = "action_expired"  # the customer did not complete the payment's authentication in time
    CREDIT_LIMIT_EXCEEDED = "credit_limit_exceeded"  # invoice: open invoices plus this order exceed the credit limit
    INVOICES_OVERDUE = "invoices_overdue"  # invoice: the account has an overdue invoice
    QUOTE_UNAVAILABLE = "quote_unavailable"  # the sales quote cannot be ordered (not accepted, expired, taken, differs)


class ApprovalPeriod(StrEnum):
    ORDER = "order"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Decision(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


class ReviewDecision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class OrderStatus(StrEnum):
    PENDING_REVIEW = "pending_review"
    PENDING_APPROVAL = "pending_approval"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    OTHER = "other"  # fulfilled and beyond: the order went ahead


class CancelReason(StrEnum):
    CUSTOMER_REQUEST = "customer_request"
    MERCHANT = "merchant"
    FRAUD_REJECTED = "fraud_rejected"
    APPROVAL_REJECTED = "approval_rejected"
    HOLD_EXPIRED = "hold_expired"
    CHECKOUT_FAILED = "checkout_failed"


# --- what PlaceOrder asked for ------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    name: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Customer:
    customer_id: str = ""
    customer_group: str = ""
    account_id: str = ""
    channel: str = ""
    country: str = ""
    currency: str = ""


@dataclass(frozen=True)
class CardPayment:
    payment_method_id: str
    kind: Literal["card"] = "card"


@dataclass(frozen=True)
class InvoicePayment:
    purchase_order_number: str = ""
    kind: Literal["invoice"] = "invoice"


Payment = CardPayment | InvoicePayment


@dataclass(frozen=True)
class Ship:
    address: Address
    kind: Literal["ship"] = "ship"


@dataclass(frozen=True)
class Pickup:
    store_id: str
    kind: Literal["pickup"] = "pickup"


Fulfilment = Ship | Pickup


@dataclass(frozen=True)
class PlaceOrder:
    """A PlaceOrder request as validated at the edge."""

    cart_id: str
    idempotency_key: str
    payment: Payment
    fulfilment: Fulfilment
    billing_address: Address
    customer: Customer
    email: str
    client_ip: str
    client_ip_country: str = ""
    device_id: str = ""
    customer_since: datetime | None = None
    approval_limit: Money | None = None
    approval_period: ApprovalPeriod = ApprovalPeriod.ORDER
    cart_version: int = 0
    payment_terms_days: int = 0
    shipping_method: str = ""  # empty: the cheapest option pricing offers the ship-to address
    tax_id: str = ""  # the B2B account's tax id, from the gateway
    credit_limit: Money | None = None  # invoice orders: the company's credit limit, from the gateway; None: no limit
    sales_quote_id: str = ""  # B2B: an accepted sales quote whose prices the order carries (pricing)
    cost_centre: str = ""  # B2B: the buyer's cost centre, from the gateway (approval rules may depend on it)
    order_limit: Money | None = None  # B2B: the buyer's per-order limit, counted beside approval_limit


@dataclass(frozen=True)
class CartLine:
    sku: str
    quantity: int
    product_id: str = ""
    name: str = ""
    weight_grams: int = 0


@dataclass(frozen=True)
class CartSnapshot:
    """The cart as it was when the checkout started; the saga never reads the cart again."""

    lines: tuple[CartLine, ...]
    currency: str
    coupon_code: str = ""
    coupon_applied: bool = False
    version: int = 0


# --- what the steps produced -------------------------------------------------------------------


@dataclass(frozen=True)
class QuotedLine:
    sku: str
    quantity: int
    unit_price: Money
    discount: Money
    line_total: Money
    product_id: str = ""
    name: str = ""
    tax: Money | None = None  # None: quoted before tax existed (read as 0)


@dataclass(frozen=True)
class Totals:
    subtotal: Money
    discount_total: Money
    shipping_total: Money
    tax_total: Money
    total: Money
    tax_included: bool = False  # prices include the tax: tax_total is part of total, not added to it


@dataclass(frozen=True)
class Quote:
    lines: tuple[QuotedLine, ...]
    totals: Totals
    coupon_code: str = ""  # the coupon that discounted the quote; empty when none did
    shipping_method: str = ""  # the code of the shipping pricing chose; empty for a pickup or none


@dataclass(frozen=True)
class CardDetails:
    fingerprint: str = ""
    country: str = ""


@dataclass(frozen=True)
class FraudResult:
    assessment_id: str
    decision: Decision
    review_id: str = ""
    score: int = 0


@dataclass(frozen=True)
class Authorisation:
    authorisation_id: str
    amount: Money


@dataclass(frozen=True)
class NextAction:
    """What the customer must do before the provider authorises the payment (its `next_action`), and
    until when the checkout waits for it."""

    authorisation_id: str  # the provider's authorisation that waits for it
    type: str  # three_d_secure
    url: str  # where the customer's client completes it (the provider's public face)
    client_secret: str
    expires_at: datetime | None = None  # set by the saga when the checkout starts waiting


@dataclass(frozen=True)
class OrderRef:
    order_id: str
    number: str
    status: OrderStatus


@dataclass(frozen=True)
class PaymentAttempt:
    attempt_id: str  # also the provider's idempotency key
    operation: Literal["authorise", "void"]
    succeeded: bool
    amount: Money
    attempted_at: datetime
    provider_reference: str = ""
    decline_code: str = ""


@dataclass(frozen=True)
class Step:
    kind: StepKind
    state: StepState
    attempts: int = 0
    error: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # The step failed without knowing whether its effect happened (transient errors until the
    # attempts ran out): compensation must undo it just in case.
    uncertain: bool = False


@dataclass(frozen=True)
class Failure:
    code: FailureCode
    step: StepKind
    message: str


@dataclass(frozen=True)
class ApprovalStep:
    """One step of an order's approval chain as the account's rules gave it (customers)."""

    name: str
    rule_id: str = ""
    approvers: tuple[str, ...] = ()  # empty: any approver of the account other than the buyer
    quorum: int = 1


@dataclass(frozen=True)
class ApprovalChain:
    """The approvals the order needs: steps in order (none: no approval), how long it may wait."""

    steps: tuple[ApprovalStep, ...] = ()
    hold_days: int = 0  # 0: the service's APPROVAL_HOLD_SECONDS


@dataclass(frozen=True)
class Checkout:
    checkout_id: str
    customer_key: str  # the idempotency scope: the customer id, or "guest:<cart id>"
    fingerprint: str
    request: PlaceOrder
    cart: CartSnapshot
    created_at: datetime
    updated_at: datetime
    status: Status = Status.RUNNING
    steps: tuple[Step, ...] = ()
    failure: Failure | None = None
    quote: Quote | None = None
    approval_required: bool = False
    approval_chain: ApprovalChain | None = None  # B2B: resolved after the quote; sent to CreateOrder
    card: CardDetails | None = None
    fraud: FraudResult | None = None
    reservation_expires_at: datetime | None = None
    authorisation: Authorisation | None = None
    # The payment's action for the customer, once the provider asked for one (kept after it was answered).
    action: NextAction | None = None
    order: OrderRef | None = None
    captured: bool = False
    hold_expires_at: datetime | None = None
    finished_at: datetime | None = None
    payment_attempts: tuple[PaymentAttempt, ...] = ()
    # Decisions that arrived by event; applied when the saga gets to them.
    review_decision: ReviewDecision | None = None
    order_confirmed: bool = False
    order_cancelled: CancelReason | None = None
    # 1; 2, 3, ... when the same idempotency key ran again after a retryable failure (a new checkout
    # id, so every call of the new attempt has keys of its own).
    attempt: int = 1

    @property
    def customer_id(self) -> str:
        return self.request.customer.customer_id

    @property
    def current_step(self) -> Step | None:
        return self.steps[-1] if self.steps else None

    def step(self, kind: StepKind) -> Step | None:
        for step in self.steps:
            if step.kind is kind:
                return step
        return None

    @property
    def total(self) -> Money | None:
        return self.quote.totals.total if self.quote else None


@dataclass(frozen=True)
class Page:
    """A page of checkouts and the cursor of the next one."""

    checkouts: list[Checkout] = field(default_factory=list)
    next_cursor: tuple[datetime, str] | None = None
