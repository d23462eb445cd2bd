"""Answers of the back-office routes: the services' messages in the API's JSON (see `app.backoffice.protojson`:
lower-case enum names, integer money and counts, RFC 3339 times, the proto field names)."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message
from pydantic import BaseModel, Field

from shop_gateway.app.backoffice import protojson

V = TypeVar("V", bound="View")


class View(BaseModel):
    @classmethod
    def of(cls: type[V], message: Message) -> V:
        return cls.model_validate(protojson.to_plain(message))


class MoneyView(View):
    amount: int = Field(description="integer minor units")
    currency: str


# --- orders ---------------------------------------------------------------------------------------


class OrderLineView(View):
    line_id: str
    sku: str
    name: str
    quantity: int
    unit_price: MoneyView | None
    line_total: MoneyView | None
    fulfilled_quantity: int
    refunded_quantity: int


class TotalsView(View):
    subtotal: MoneyView | None
    discount_total: MoneyView | None
    shipping_total: MoneyView | None
    tax_total: MoneyView | None
    total: MoneyView | None


class LineQuantityView(View):
    line_id: str
    quantity: int


class FulfilmentView(View):
    fulfilment_id: str = Field(description="the Idempotency-Key of the request that recorded it")
    lines: list[LineQuantityView]
    location_id: str
    carrier: str
    tracking_number: str
    fulfilled_at: str | None


class RefundView(View):
    refund_id: str = Field(description="the Idempotency-Key of the request that recorded it")
    amount: MoneyView | None
    lines: list[LineQuantityView]
    reason: str
    provider_refund_id: str
    refunded_at: str | None


class PaymentView(View):
    kind: str
    authorised_amount: MoneyView | None
    captured_amount: MoneyView | None
    refunded_amount: MoneyView | None


class HistoryEntryView(View):
    sequence: int
    change: str
    status: str
    payment_status: str
    fulfilment_status: str
    reason: str
    note: str
    occurred_at: str | None


class StaffOrder(View):
    """An order as staff see it: every customer's, with fulfilments, refunds and (one order) its history."""

    order_id: str
    number: str
    customer_id: str
    account_id: str
    email: str
    channel: str
    status: str
    payment_status: str
    fulfilment_status: str
    currency: str
    lines: list[OrderLineView]
    totals: TotalsView | None
    payment: PaymentView | None
    fulfilments: list[FulfilmentView]
    refunds: list[RefundView]
    history: list[HistoryEntryView] = Field(description="oldest first; only on GET of one order")
    version: int
    created_at: str | None
    updated_at: str | None


class StaffOrderPage(BaseModel):
    orders: list[StaffOrder]
    next_page_token: str = Field(description="empty at the end; a page may be short before the end")


class FulfilmentResult(BaseModel):
    order: StaffOrder
    fulfilment: FulfilmentView


class RefundResult(BaseModel):
    order: StaffOrder
    refund: RefundView


# --- inventory ------------------------------------------------------------------------------------


class AddressView(View):
    name: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str


class LocationView(View):
    location_id: str
    type: str = Field(description="warehouse or store")
    name: str
    country: str
    address: AddressView | None
    priority: int
    click_and_collect: bool
    active: bool
    created_at: str | None
    updated_at: str | None


class LocationPage(BaseModel):
    locations: list[LocationView]
    next_page_token: str


class StockLevelView(View):
    sku: str
    location_id: str
    on_hand: int
    reserved: int
    available: int


class StockLevelList(BaseModel):
    stock: list[StockLevelView]


# --- fraud reviews --------------------------------------------------------------------------------


class ReasonView(View):
    code: str = Field(description="e.g. high_risk_country, ip_velocity")
    weight: int = Field(description="points it added to the rule score")
    detail: str


class AssessedLineView(View):
    sku: str
    quantity: int
    unit_price: MoneyView | None


class SignalsView(View):
    """What the score was computed from."""

    customer_id: str
    account_id: str
    email: str
    account_created_at: str | None
    amount: MoneyView | None
    ip: str
    ip_country: str
    device_id: str
    card_country: str
    billing_country: str
    shipping_country: str
    channel: str
    lines: list[AssessedLineView]


class AssessmentView(View):
    assessment_id: str
    checkout_id: str
    score: int = Field(description="0 to 100: rule_score and model_score blended")
    rule_score: int
    model_score: int
    decision: str
    reasons: list[ReasonView] = Field(description="highest weight first")
    model_version: str
    context: SignalsView | None
    assessed_at: str | None


class ReviewDetail(View):
    review_id: str
    status: str = Field(description="open, approved, rejected or cancelled")
    assessment: AssessmentView | None
    decided_by: str
    note: str
    created_at: str | None
    decided_at: str | None
