"""The JSON of the sandbox API: request and response models, shared by the server and the client.

Requests reject unknown fields and loose types (an amount must be a JSON integer in minor
units: `"100"`, `100.0` and `true` are refused). Responses ignore unknown fields, so clients keep
working when the API adds some.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    StrictStr,
    model_serializer,
)

from shopkit import problems

MAX_AMOUNT = 99_999_999_999  # minor units

Amount = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT, description="minor units of the currency, e.g. cents")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO-4217 code, e.g. EUR")]
# Ids are a prefix and hex digits (pm_..., auth_...); anything else cannot name an object.
OBJECT_ID_PATTERN = r"^[A-Za-z0-9_]{1,64}$"
ObjectId = Annotated[str, Field(pattern=OBJECT_ID_PATTERN, description="pm_..., auth_...")]


def _without_nul(text: str) -> str:
    # PostgreSQL text and JSONB cannot hold NUL; refused here rather than failing in the store.
    if "\x00" in text:
        raise ValueError("must not contain NUL")
    return text


Text = Annotated[StrictStr, AfterValidator(_without_nul)]
AuthorizationStatusName = Literal["requires_action", "authorized", "declined", "failed", "captured", "voided"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CardDetails(_Request):
    number: Text = Field(description="12-19 digits, spaces and dashes allowed; must pass the Luhn check")
    exp_month: StrictInt = Field(description="1-12")
    exp_year: StrictInt = Field(description="four digits; the card must not have expired")
    cvc: Text = Field(description="3 or 4 digits")


class PaymentMethodRequest(_Request):
    card: CardDetails
    billing_country: Text | None = Field(None, description="ISO-3166-1 alpha-2 code of the billing address")


class ThreeDSecure(_Request):
    authenticated: StrictBool | None = Field(
        None, description="the customer already passed 3-D Secure elsewhere: a card that needs it is authorised"
    )
    challenge: StrictBool | None = Field(
        None,
        description="the caller can take the customer through a challenge: a card that needs 3-D Secure (and was "
        "not authenticated) answers 201 with status requires_action and a next_action instead of a 402 decline",
    )

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Fields left out are not dumped: a stored request hash (Idempotency-Key) of a body from before
        # `challenge` existed stays the hash of that body.
        dumped: dict[str, Any] = handler(self)
        return {name: value for name, value in dumped.items() if value is not None}


class AuthorizationRequest(_Request):
    payment_method: ObjectId = Field(description="id of a payment method (pm_...)")
    amount: Amount
    currency: Currency
    capture: StrictBool = Field(False, description="capture the full amount right away when authorised")
    three_d_secure: ThreeDSecure | None = None
    metadata: dict[Text, Text] | None = Field(None, description="up to 20 keys of 1-40 chars, values <= 500")


class ChallengeRequest(_Request):
    client_secret: Text = Field(
        min_length=1, max_length=200, description="next_action.client_secret of the authorization"
    )
    authenticated: StrictBool = Field(
        description="true: the customer passed the challenge (the authorization becomes authorized); false: failed "
        "(declined, authentication_failed)"
    )


class CaptureRequest(_Request):
    amount: Amount | None = Field(None, description="at most the authorised amount; default: all of it")


class RefundRequest(_Request):
    authorization: ObjectId = Field(description="id of a captured authorization (auth_...)")
    amount: Amount | None = Field(None, description="default: everything captured and not yet refunded")


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


class Problem(problems.Problem, _Response):
    """application/problem+json (RFC 9457): the shape every HTTP process of the shop answers errors
    in (`shopkit.problems.Problem`), with the sandbox's own members."""

    decline_code: str | None = Field(None, description="card_declined: why")
    authorization: Authorization | None = Field(None, description="card_declined, processing_error: the record")
    authorization_status: str | None = Field(None, description="state conflicts: the authorization's status")
    retryable: bool | None = Field(None, description="true: retrying (with the same Idempotency-Key) may succeed")
    resource: str | None = None
    param: str | None = None


class Health(_Response):
    status: str
