"""The JSON the payment sandbox answers with: its response models, shared by the sandbox's server
(`shop_sandbox.schemas` re-exports them) and the client library (`shop_payments.sandbox.client`).

Responses ignore unknown fields, so clients keep working when the API adds some.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AuthorizationStatusName = Literal["requires_action", "authorized", "declined", "failed", "captured", "voided"]


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Card(_Response):
    brand: str = Field(description="visa, mastercard, amex, discover, jcb, diners, unionpay or unknown")
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str = Field(description="the same for every tokenisation of the same card number")
    country: str = Field(description="issuing country, ISO-3166-1 alpha-2")


class PaymentMethod(_Response):
    id: str
    object: Literal["payment_method"] = "payment_method"
    card: Card
    billing_country: str | None = None
    created_at: datetime


class Capture(_Response):
    id: str
    amount: int
    currency: str
    created_at: datetime


class Refund(_Response):
    id: str
    object: Literal["refund"] = "refund"
    authorization: str
    amount: int
    currency: str
    status: Literal["succeeded"] = "succeeded"
    created_at: datetime


class ThreeDSecureResult(_Response):
    authenticated: bool


class NextAction(_Response):
    """What the customer must do before the authorization can go on (status requires_action)."""

    type: Literal["three_d_secure"] = "three_d_secure"
    url: str = Field(description="POST here, on the public face, with the client_secret to complete the challenge")
    client_secret: str = Field(description="the challenge's secret: give it to the customer's client only")


class Authorization(_Response):
    id: str
    object: Literal["authorization"] = "authorization"
    status: AuthorizationStatusName
    payment_method: str
    amount: int
    currency: str
    amount_captured: int = 0
    amount_refunded: int = 0
    decline_code: str | None = Field(
        None,
        description="when declined: card_declined, insufficient_funds, authentication_required, "
        "authentication_failed, expired_card",
    )
    failure_code: str | None = Field(None, description="when failed: processing_error")
    three_d_secure: ThreeDSecureResult | None = None
    next_action: NextAction | None = Field(None, description="set while requires_action")
    metadata: dict[str, str] = Field(default_factory=dict)
    captures: list[Capture] = Field(default_factory=list)
    refunds: list[Refund] = Field(default_factory=list)
    created_at: datetime
