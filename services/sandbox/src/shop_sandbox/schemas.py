"""The JSON of the sandbox API: the request models (the response models live with the client library,
`shop_payments.sandbox.schemas`, and are re-exported here for the server).

Requests reject unknown fields and loose types (an amount must be a JSON integer in minor
units: `"100"`, `100.0` and `true` are refused). Responses ignore unknown fields, so clients keep
working when the API adds some.
"""

from __future__ import annotations

from typing import Annotated, Any

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

from shop_payments.sandbox.schemas import (
    Authorization,
    AuthorizationStatusName,
    Capture,
    Card,
    NextAction,
    PaymentMethod,
    Refund,
    ThreeDSecureResult,
    _Response,
)
from shopkit import problems

__all__ = [
    "Authorization",
    "AuthorizationStatusName",
    "Capture",
    "Card",
    "NextAction",
    "PaymentMethod",
    "Refund",
    "ThreeDSecureResult",
]

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
