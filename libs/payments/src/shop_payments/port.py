"""The payment port: what checkout, order and customers ask of a card payment provider, whichever it is.

Two adapters implement it: the project's payment sandbox (`shop_payments.sandbox.adapter`) and Stripe
(`shop_payments.stripe_adapter`, PaymentIntents with manual capture). The services depend on this
module only; `shop_payments.connect` picks the adapter from PAYMENT_PROVIDER.

Every call that moves money takes an idempotency key: repeating it with the same key (after a crash, a
timeout) returns the first call's result and never applies the operation twice. Outcomes other than
success are the exceptions below; their `status` and `code` are the provider's (HTTP status, error code)
for logs and operators.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from shopkit.money import Money

# The states of an authorisation, named as both providers' hold lifecycle goes (Stripe's PaymentIntent
# states are mapped onto them): requires_action (3-D Secure pending), authorized (held), declined,
# failed (the provider failed; nothing held), captured (some or all taken), voided (hold released).
AuthorisationStatus = Literal["requires_action", "authorized", "declined", "failed", "captured", "voided"]


@dataclass(frozen=True, slots=True)
class Card:
    """What the provider tells about a card payment method (for fraud scoring and saved cards)."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str  # the same for every tokenisation of one card number
    country: str  # issuing country, ISO-3166-1 alpha-2


@dataclass(frozen=True, slots=True)
class NextAction:
    """What the customer must do before the authorisation goes on: a 3-D Secure challenge."""

    type: str  # "three_d_secure"
    url: str  # where the customer's client completes it ("" when the provider's own JS drives it)
    client_secret: str  # give it to the customer's client only


@dataclass(frozen=True, slots=True)
class Authorisation:
    id: str
    status: AuthorisationStatus
    amount: int  # minor units of `currency`
    currency: str
    amount_captured: int = 0
    amount_refunded: int = 0
    decline_code: str = ""
    failure_code: str = ""
    next_action: NextAction | None = None  # set while requires_action
    capture_id: str = ""  # the provider's reference of the latest capture ("" before any)


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    amount: int
    currency: str


class PaymentError(Exception):
    """Base of every outcome other than success. Plain PaymentError: refused for good (not allowed,
    misconfigured credentials)."""

    retryable = False

    def __init__(self, message: str, *, status: int = 0, code: str = "", detail: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.detail: Mapping[str, Any] = detail or {}


class Unavailable(PaymentError):
    """The provider failed or was not reached. `retryable`: trying again later with the same key may
    succeed and will not duplicate the effect. The effect of the call is unknown unless `nothing_held`
    (the provider recorded the authorisation as failed: no money is held)."""

    def __init__(self, message: str, *, retryable: bool = True, nothing_held: bool = False, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retryable = retryable
        self.nothing_held = nothing_held


class NotFound(PaymentError):
    """No such payment method or authorisation at the provider."""


class Declined(PaymentError):
    """The card was declined; `decline_code` says why (card_declined, insufficient_funds,
    authentication_required, authentication_failed, expired_card, ...). The declined authorisation,
    when the provider recorded one, is `authorisation`."""

    def __init__(self, decline_code: str, authorisation: Authorisation | None = None, **kwargs: Any):
        kwargs.setdefault("status", 402)
        super().__init__(f"card declined: {decline_code}", code=decline_code, **kwargs)
        self.decline_code = decline_code
        self.authorisation = authorisation


class Conflict(PaymentError):
    """The authorisation's state forbids the operation (capture of a voided one, void of a captured one,
    a refund above what was captured); `authorisation_status` is its state now."""

    def __init__(self, message: str, *, authorisation_status: str = "", **kwargs: Any):
        super().__init__(message, **kwargs)
        self.authorisation_status = authorisation_status


class InvalidRequest(PaymentError):
    """The provider refused the request as malformed (an id it cannot read, an amount out of range, an
    idempotency key reused with other parameters); `errors`: field -> message where it said."""

    def __init__(self, message: str, *, errors: Mapping[str, str] | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.errors: dict[str, str] = dict(errors or {})


class PaymentProvider(Protocol):
    """The port. Amounts are integer minor units of the authorisation's currency."""

    async def payment_method(self, payment_method_id: str) -> Card:
        """The card behind a payment method id. NotFound, InvalidRequest, Unavailable."""
        ...

    async def authorise(
        self, payment_method_id: str, amount: Money, *, idempotency_key: str, metadata: Mapping[str, str] | None = None
    ) -> Authorisation:
        """Hold `amount` on the card. A card that needs 3-D Secure comes back requires_action with a
        next_action for the customer. Declined, NotFound (method), Unavailable, InvalidRequest."""
        ...

    async def authorisation(self, authorisation_id: str) -> Authorisation:
        """The authorisation as the provider holds it now (e.g. after the customer's 3-D Secure step)."""
        ...

    async def capture(self, authorisation_id: str, *, idempotency_key: str, amount: int | None = None) -> Authorisation:
        """Take all (default) or part of the held amount, once. Conflict when it is not capturable."""
        ...

    async def void(self, authorisation_id: str, *, idempotency_key: str) -> Authorisation:
        """Release the hold of an uncaptured authorisation. Conflict when it is captured or voided."""
        ...

    async def refund(self, authorisation_id: str, *, idempotency_key: str, amount: int | None = None) -> Refund:
        """Give back part or (default) all of what was captured and not yet refunded."""
        ...

    async def close(self) -> None: ...
