"""Orders as plain data: statuses, lines, money, payment, approval, fulfilments, refunds, history."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shop_order.domain.chain import ApprovalChain
from shopkit.money import Money


class OrderStatus(StrEnum):
    PENDING_REVIEW = "pending_review"
    PENDING_APPROVAL = "pending_approval"
    CONFIRMED = "confirmed"
    PARTIALLY_FULFILLED = "partially_fulfilled"
    FULFILLED = "fulfilled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class PaymentStatus(StrEnum):
    AUTHORISED = "authorised"
    CAPTURED = "captured"
    VOIDED = "voided"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    INVOICED = "invoiced"


class FulfilmentStatus(StrEnum):
    UNFULFILLED = "unfulfilled"
    PARTIALLY_FULFILLED = "partially_fulfilled"
    FULFILLED = "fulfilled"
    NOT_REQUIRED = "not_required"


class PaymentKind(StrEnum):
    CARD = "card"
    INVOICE = "invoice"


class ApprovalStatus(StrEnum):
    NOT_REQUIRED = "not_required"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class CancellationReason(StrEnum):
    CUSTOMER_REQUEST = "customer_request"
    MERCHANT = "merchant"
    FRAUD_REJECTED = "fraud_rejected"
    APPROVAL_REJECTED = "approval_rejected"
    HOLD_EXPIRED = "hold_expired"
    CHECKOUT_FAILED = "checkout_failed"


class Change(StrEnum):
    """What a history entry records."""

    CREATED = "created"
    FRAUD_HOLD_RELEASED = "fraud_hold_released"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    PAYMENT_CAPTURED = "payment_captured"
    PAYMENT_VOIDED = "payment_voided"
    FULFILLED = "fulfilled"
    REFUNDED = "refunded"
    COMPLETED = "completed"
    RETURN_REQUESTED = "return_requested"
    RETURN_RECEIVED = "return_received"
    RETURN_INSPECTED = "return_inspected"
    EXCHANGED = "exchanged"
    APPROVAL_DECIDED = "approval_decided"  # an approver's decision that did not end the approval chain


class EffectKind(StrEnum):
    """Calls to other systems that a committed decision owes (performed after commit, with retries)."""

    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"
    RELEASE_STOCK = "release_stock"
    RESTOCK = "restock"  # accepted sellable units of a return, at its receiving location
    RESERVE_STOCK = "reserve_stock"  # an exchange's replacement order: reserve and commit its stock

    @property
    def target(self) -> str:
        """Effects on one target run in the order they were recorded (a refund after its capture)."""
        return "payment" if self in (EffectKind.CAPTURE, EffectKind.VOID, EffectKind.REFUND) else "inventory"


# ErrorInfo reasons callers can branch on.
ORDER_NOT_CANCELLABLE = "ORDER_NOT_CANCELLABLE"
ORDER_NOT_PENDING_APPROVAL = "ORDER_NOT_PENDING_APPROVAL"
ORDER_NOT_PENDING_REVIEW = "ORDER_NOT_PENDING_REVIEW"
FRAUD_REVIEW_MISMATCH = "FRAUD_REVIEW_MISMATCH"
PAYMENT_NOT_CAPTURABLE = "PAYMENT_NOT_CAPTURABLE"
ORDER_NOT_FULFILLABLE = "ORDER_NOT_FULFILLABLE"
ORDER_NOT_REFUNDABLE = "ORDER_NOT_REFUNDABLE"
REFUND_EXCEEDS_CAPTURED = "REFUND_EXCEEDS_CAPTURED"
INVALID_TRANSITION = "INVALID_TRANSITION"
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
CHECKOUT_ORDER_DIFFERS = "CHECKOUT_ORDER_DIFFERS"
NOT_APPROVER = "NOT_APPROVER"
NOT_ORDER_OWNER = "NOT_ORDER_OWNER"


@dataclass(frozen=True, slots=True)
class Address:
    name: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class FulfilmentMethod:
    """Ship to `ship_to`, or pick up at the store `store_id` (exactly one is set)."""

    ship_to: Address | None = None
    store_id: str = ""

    @property
    def is_pickup(self) -> bool:
        return bool(self.store_id)


@dataclass(frozen=True, slots=True)
class Line:
    line_id: str
    sku: str
    product_id: str
    name: str
    quantity: int
    unit_price: Money
    discount: Money
    line_total: Money
    fulfilled_quantity: int = 0
    refunded_quantity: int = 0
    tax: int = 0  # the line's tax in minor units: added to the total, or contained in line_total (tax_included)

    @property
    def unfulfilled(self) -> int:
        return self.quantity - self.fulfilled_quantity

    @property
    def returnable(self) -> int:
        return self.fulfilled_quantity - self.refunded_quantity


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Money
    discount_total: Money
    shipping_total: Money
    tax_total: Money
    total: Money
    tax_included: bool = False  # prices include the tax (EU VAT): tax_total is part of total, not added to it


@dataclass(frozen=True, slots=True)
class Payment:
    kind: PaymentKind
    authorised_amount: Money
    payment_method_id: str = ""
    authorisation_id: str = ""
    purchase_order_number: str = ""
    captured_amount: int = 0
    refunded_amount: int = 0


@dataclass(frozen=True, slots=True)
class Approval:
    status: ApprovalStatus = ApprovalStatus.NOT_REQUIRED
    limit: Money | None = None
    decided_by: str = ""
    note: str = ""
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: the caller's role and ids (customer id for people, empty for services)."""

    role: str
    id: str = ""
    account_id: str = ""

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "service")


SYSTEM = Actor("service", "order")


@dataclass(frozen=True, slots=True)
class LineQuantity:
    line_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class FulfilmentRecord:
    fulfilment_id: str
    lines: tuple[LineQuantity, ...]
    location_id: str = ""
    carrier: str = ""
    tracking_number: str = ""
    fulfilled_at: datetime | None = None
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class RefundRecord:
    refund_id: str
    amount: Money
    lines: tuple[LineQuantity, ...] = ()
    reason: str = ""
    provider_refund_id: str = ""
    refunded_at: datetime | None = None
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    sequence: int  # 0 until stored
    change: Change
    status: OrderStatus
    previous_status: OrderStatus | None
    payment_status: PaymentStatus
    fulfilment_status: FulfilmentStatus
    actor: Actor
    reason: str = ""
    note: str = ""
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    number: str
    checkout_id: str
    customer_id: str
    account_id: str
    email: str
    channel: str
    status: OrderStatus
    payment_status: PaymentStatus
    fulfilment_status: FulfilmentStatus
    currency: str
    lines: tuple[Line, ...]
    totals: Totals
    fulfilment_method: FulfilmentMethod
    billing_address: Address
    payment: Payment
    coupon_code: str = ""
    sales_quote_id: str = ""  # the accepted sales quote (pricing) whose prices the lines carry
    approval: Approval = field(default_factory=Approval)
    chain: ApprovalChain = field(default_factory=ApprovalChain)  # the approval chain and its decisions
    fraud_review_id: str = ""
    fraud_hold_released: bool = False
    cancellation_reason: CancellationReason | None = None
    reservation_id: str = ""
    fingerprint: str = ""
    fulfilments: tuple[FulfilmentRecord, ...] = ()
    refunds: tuple[RefundRecord, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    fulfilled_at: datetime | None = None

    def line(self, line_id: str) -> Line | None:
        return next((line for line in self.lines if line.line_id == line_id), None)

    def fulfilment(self, fulfilment_id: str) -> FulfilmentRecord | None:
        return next((f for f in self.fulfilments if f.fulfilment_id == fulfilment_id), None)

    def refund(self, refund_id: str) -> RefundRecord | None:
        return next((r for r in self.refunds if r.refund_id == refund_id), None)

    @property
    def refund_base(self) -> int:
        """What refunds may add up to: the captured amount, or the total of an invoiced order."""
        return self.totals.total.amount if self.payment.kind is PaymentKind.INVOICE else self.payment.captured_amount

    @property
    def refundable(self) -> int:
        """Money that refunds may still give back (0 while nothing was captured)."""
        if self.payment_status not in REFUNDABLE_PAYMENTS:
            return 0
        return self.refund_base - self.payment.refunded_amount


REFUNDABLE_PAYMENTS = frozenset({PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.INVOICED})


@dataclass(frozen=True, slots=True)
class Effect:
    """A call another system owes for a committed decision; `key` is its idempotency key."""

    kind: EffectKind
    key: str
    amount: int = 0
    refund_id: str = ""


def fingerprint(payload: object) -> str:
    """A stable digest of a request, to tell a repeat from a different request with the same id."""
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(raw).hexdigest()


def order_fingerprint(currency: str, lines: tuple[Line, ...], totals: Totals) -> str:
    """What must match for a repeated CreateOrder to be the same order: lines and totals."""
    return fingerprint(
        {
            "currency": currency,
            "lines": [
                (line.sku, line.quantity, line.unit_price.amount, line.discount.amount, line.line_total.amount)
                for line in lines
            ],
            "totals": [
                totals.subtotal.amount,
                totals.discount_total.amount,
                totals.shipping_total.amount,
                totals.tax_total.amount,
                totals.total.amount,
                # Only when set: orders placed before tax existed keep their fingerprints.
                *([True] if totals.tax_included else []),
                *([[line.tax for line in lines]] if any(line.tax for line in lines) else []),
            ],
        }
    )
