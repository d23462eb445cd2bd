"""Cards, test-card behaviours and the rules of authorisations: plain data and pure functions.

A card number is read once, at tokenisation: what the sandbox needs later (brand, last four
digits, expiry, fingerprint, issuing country and the test behaviour) is derived then, and the
number itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from shop_sandbox.errors import ResourceMissing, StateConflict
from shopkit.errors import Violations
from shopkit.identifiers import check_country


class CardBehaviour(StrEnum):
    """What authorising a card does, fixed by its number (stored with the payment method)."""

    SUCCEED = "succeed"
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    REQUIRE_3DS = "require_3ds"
    PROCESSING_ERROR = "processing_error"


class AuthorizationStatus(StrEnum):
    REQUIRES_ACTION = "requires_action"  # the customer must pass a 3-D Secure challenge first (next_action)
    AUTHORIZED = "authorized"  # funds held, capturable
    DECLINED = "declined"  # the issuer said no (decline_code says why)
    FAILED = "failed"  # the provider failed to process it (failure_code); nothing held
    CAPTURED = "captured"  # funds taken (all or part of the authorised amount)
    VOIDED = "voided"  # the hold was released


# Decline codes (`decline_code` of a declined authorization).
CARD_DECLINED = "card_declined"
INSUFFICIENT_FUNDS = "insufficient_funds"
AUTHENTICATION_REQUIRED = "authentication_required"
AUTHENTICATION_FAILED = "authentication_failed"  # the customer failed the 3-D Secure challenge
EXPIRED_CARD = "expired_card"
# Failure code (`failure_code` of a failed authorization).
PROCESSING_ERROR = "processing_error"

# Test cards with a fixed outcome; every other valid number is authorised.
TEST_CARD_BEHAVIOURS: dict[str, CardBehaviour] = {
    "4242424242424242": CardBehaviour.SUCCEED,
    "4000000000000002": CardBehaviour.CARD_DECLINED,
    "4000000000009995": CardBehaviour.INSUFFICIENT_FUNDS,
    "4000000000003220": CardBehaviour.REQUIRE_3DS,
    "4000000000000119": CardBehaviour.PROCESSING_ERROR,
}

# Issuing country by BIN (the first nine digits: 400000 + the ISO-3166 numeric code, as the
# providers' country test cards do). Cards outside the table are US cards.
COUNTRY_BY_BIN: dict[str, str] = {
    "400000036": "AU",  # 4000000360000006
    "400000076": "BR",  # 4000000760000002
    "400000124": "CA",  # 4000001240000000
    "400000250": "FR",  # 4000002500000003
    "400000276": "DE",  # 4000002760000016
    "400000356": "IN",  # 4000003560000008
    "400000392": "JP",  # 4000003920000003
    "400000566": "NG",  # 4000005660000002
    "400000826": "GB",  # 4000008260000000
}
DEFAULT_COUNTRY = "US"
BIN_LENGTH = 9


# --- cards -----------------------------------------------------------------------------------


def normalise_number(raw: str) -> str:
    """Card numbers may be typed in groups: spaces and dashes are dropped."""
    return raw.replace(" ", "").replace("-", "")


def luhn_valid(number: str) -> bool:
    if not number.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _in_range(number: str, digits: int, low: int, high: int) -> bool:
    return len(number) >= digits and low <= int(number[:digits]) <= high


def card_brand(number: str) -> str:
    if number[:2] in ("34", "37"):
        return "amex"
    if number.startswith("4"):
        return "visa"
    if _in_range(number, 2, 51, 55) or _in_range(number, 4, 2221, 2720):
        return "mastercard"
    if number.startswith(("6011", "65")) or _in_range(number, 3, 644, 649):
        return "discover"
    if _in_range(number, 4, 3528, 3589):
        return "jcb"
    if number.startswith(("36", "38")) or _in_range(number, 3, 300, 305):
        return "diners"
    if number.startswith("62"):
        return "unionpay"
    return "unknown"


def card_country(number: str) -> str:
    return COUNTRY_BY_BIN.get(number[:BIN_LENGTH], DEFAULT_COUNTRY)


def card_behaviour(number: str) -> CardBehaviour:
    return TEST_CARD_BEHAVIOURS.get(number, CardBehaviour.SUCCEED)


def card_fingerprint(number: str, key: bytes) -> str:
    """Stable per card number and per key, and not reversible without the key (PANs are few)."""
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()[:16]


def is_expired(exp_month: int, exp_year: int, today: date) -> bool:
    """A card is valid through the last day of its expiry month."""
    return (exp_year, exp_month) < (today.year, today.month)


def check_card(
    violations: Violations,
    *,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str,
    billing_country: str | None,
    today: date,
) -> None:
    """Collect every problem of a card (field paths as in the request body)."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        violations.add("card.number", "must be 12-19 digits (spaces and dashes allowed)")
    elif not luhn_valid(number):
        violations.add("card.number", "is not a valid card number (Luhn check failed)")
    month_ok = 1 <= exp_month <= 12
    year_ok = 2000 <= exp_year <= 2099
    violations.check(month_ok, "card.exp_month", "must be 1-12")
    violations.check(year_ok, "card.exp_year", "must be a four-digit year")
    if month_ok and year_ok and is_expired(exp_month, exp_year, today):
        violations.add("card.exp_year", f"the card expired in {exp_month:02d}/{exp_year}")
    violations.check(cvc.isdigit() and 3 <= len(cvc) <= 4, "card.cvc", "must be 3 or 4 digits")
    if billing_country is not None:
        check_country(violations, billing_country, "billing_country")


# --- payment methods and authorizations -------------------------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass(frozen=True)
class PaymentMethod:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    country: str
    billing_country: str | None
    behaviour: CardBehaviour
    created_at: datetime | None = None


def tokenise(
    number: str, exp_month: int, exp_year: int, billing_country: str | None, fingerprint_key: bytes
) -> PaymentMethod:
    """The payment method of a validated card number."""
    return PaymentMethod(
        id=new_id("pm"),
        brand=card_brand(number),
        last4=number[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        fingerprint=card_fingerprint(number, fingerprint_key),
        country=card_country(number),
        billing_country=billing_country,
        behaviour=card_behaviour(number),
    )


@dataclass(frozen=True)
class Capture:
    id: str
    authorization_id: str
    amount: int
    created_at: datetime | None = None


@dataclass(frozen=True)
class Refund:
    id: str
    authorization_id: str
    amount: int
    currency: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class Authorization:
    id: str
    payment_method_id: str
    status: AuthorizationStatus
    amount: int
    currency: str
    amount_captured: int = 0
    amount_refunded: int = 0
    decline_code: str | None = None
    failure_code: str | None = None
    three_d_secure_authenticated: bool | None = None  # None: no 3-D Secure data was sent (or challenge pending)
    # While REQUIRES_ACTION: the secret the customer's client completes the challenge with, and
    # whether the authorisation is captured once the challenge is passed (`capture: true`).
    client_secret: str | None = None
    capture_when_authenticated: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    captures: tuple[Capture, ...] = ()
    refunds: tuple[Refund, ...] = ()

    @property
    def refundable(self) -> int:
        return self.amount_captured - self.amount_refunded if self.status is AuthorizationStatus.CAPTURED else 0


@dataclass(frozen=True)
class Decision:
    status: AuthorizationStatus
    decline_code: str | None = None
    failure_code: str | None = None


def decide(
    behaviour: CardBehaviour,
    *,
    card_expired: bool,
    authenticated: bool | None,
    provider_fault: bool,
    challenge: bool = False,
) -> Decision:
    """The outcome of authorising a card. An injected fault happens before the issuer is asked. A card
    that needs 3-D Secure and was not authenticated is declined, unless the caller can take the
    customer through a challenge (`challenge`): then it waits for it (REQUIRES_ACTION)."""
    if provider_fault or behaviour is CardBehaviour.PROCESSING_ERROR:
        return Decision(AuthorizationStatus.FAILED, failure_code=PROCESSING_ERROR)
    if card_expired:
        return Decision(AuthorizationStatus.DECLINED, decline_code=EXPIRED_CARD)
    if behaviour is CardBehaviour.CARD_DECLINED:
        return Decision(AuthorizationStatus.DECLINED, decline_code=CARD_DECLINED)
    if behaviour is CardBehaviour.INSUFFICIENT_FUNDS:
        return Decision(AuthorizationStatus.DECLINED, decline_code=INSUFFICIENT_FUNDS)
    if behaviour is CardBehaviour.REQUIRE_3DS and not authenticated:
        if challenge:
            return Decision(AuthorizationStatus.REQUIRES_ACTION)
        return Decision(AuthorizationStatus.DECLINED, decline_code=AUTHENTICATION_REQUIRED)
    return Decision(AuthorizationStatus.AUTHORIZED)


def capture_amount(authorization: Authorization, requested: int | None) -> int:
    """What a capture takes: once per authorization, at most the authorised amount (default: all
    of it); the rest of the hold is released."""
    status = authorization.status
    if status is not AuthorizationStatus.AUTHORIZED:
        raise StateConflict(
            "authorization_not_capturable",
            f"an authorization that is {status} cannot be captured",
            authorization_status=status,
        )
    amount = authorization.amount if requested is None else requested
    if amount > authorization.amount:
        raise StateConflict(
            "amount_too_large",
            f"cannot capture {amount}: the authorised amount is {authorization.amount}",
            authorization_status=status,
        )
    return amount


def new_client_secret(authorization_id: str) -> str:
    """The challenge's capability on the public face (as a provider's `<id>_secret_<random>`)."""
    return f"{authorization_id}_secret_{secrets.token_urlsafe(18)}"


def challenge_outcome(authorization: Authorization, client_secret: str, authenticated: bool) -> Decision:
    """What completing (or failing) the 3-D Secure challenge of an authorization does. A wrong secret
    is answered as an unknown authorization, so the public face tells nothing about ids."""
    expected = authorization.client_secret or ""
    if not (expected and hmac.compare_digest(expected.encode(), client_secret.encode())):
        raise ResourceMissing("authorization", authorization.id)
    _require(
        authorization,
        {AuthorizationStatus.REQUIRES_ACTION},
        "authorization_not_awaiting_challenge",
        "has no challenge to complete",
    )
    if not authenticated:
        return Decision(AuthorizationStatus.DECLINED, decline_code=AUTHENTICATION_FAILED)
    return Decision(AuthorizationStatus.AUTHORIZED)


def check_void(authorization: Authorization) -> None:
    """Void releases a hold, or cancels an authorization that still waits for its challenge."""
    voidable = {AuthorizationStatus.AUTHORIZED, AuthorizationStatus.REQUIRES_ACTION}
    _require(authorization, voidable, "authorization_not_voidable", "cannot be voided")


def _require(authorization: Authorization, allowed: set[AuthorizationStatus], code: str, refusal: str) -> None:
    """A state conflict (409 `code`) unless the authorization's status is one of `allowed`."""
    status = authorization.status
    if status not in allowed:
        raise StateConflict(code, f"an authorization that is {status} {refusal}", authorization_status=status)


def refund_amount(authorization: Authorization, requested: int | None) -> int:
    """What a refund returns: refunds need a capture, and all of them together stay within the
    captured amount (default: everything not refunded yet)."""
    status = authorization.status
    if status is not AuthorizationStatus.CAPTURED:
        raise StateConflict(
            "authorization_not_refundable",
            f"an authorization that is {status} has nothing captured to refund",
            authorization_status=status,
        )
    left = authorization.refundable
    amount = left if requested is None else requested
    if amount == 0 or amount > left:
        raise StateConflict(
            "amount_too_large",
            f"cannot refund {amount}: {left} of the captured {authorization.amount_captured} is left to refund",
            authorization_status=status,
        )
    return amount


# --- fault injection ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FailurePlan:
    """Which authorisations fail with an injected processing_error (SANDBOX_FAILURE_RATE).

    With a seed the outcome is a function of (seed, request key, attempt): a fault test replays
    exactly, and a retry with the same Idempotency-Key (the next attempt) draws anew.
    """

    rate: float = 0.0
    seed: int | None = None

    def fails(self, request_key: str, attempt: int) -> bool:
        if self.rate <= 0.0:
            return False
        if self.rate >= 1.0:
            return True
        if self.seed is None:
            return random.random() < self.rate
        digest = hashlib.sha256(f"{self.seed}:{request_key}:{attempt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.rate


def clean_metadata(violations: Violations, metadata: dict[str, Any] | None) -> dict[str, str]:
    """Free-form key/value pairs a caller attaches (e.g. the checkout or order id)."""
    if metadata is None:
        return {}
    violations.check(len(metadata) <= 20, "metadata", "at most 20 keys")
    for key, value in metadata.items():
        violations.check(0 < len(key) <= 40, f"metadata.{key}", "keys must be 1-40 characters")
        violations.check(len(str(value)) <= 500, f"metadata.{key}", "values must be at most 500 characters")
    return {key: str(value) for key, value in metadata.items()}
