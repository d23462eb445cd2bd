"""The payment port over Stripe: PaymentIntents with manual capture, through the official SDK.

- authorise = create and confirm a PaymentIntent (`capture_method=manual`, card only) with the
  idempotency key; requires_action (3-D Secure) is the port's next action: the redirect URL when Stripe
  gives one, and the intent's client secret for Stripe.js (`handleNextAction`).
- capture (`amount_to_capture`), void (= cancel), refund (`amount`): each with the caller's idempotency
  key, so a repeat is answered from Stripe's idempotency store and applies nothing twice.
- Errors: CardError is a decline (its decline code); 404/resource_missing is NotFound; a state Stripe
  refuses (`payment_intent_unexpected_state`, or any 400 on capture/cancel/refund) is re-read and is a
  Conflict naming the intent's state; connection errors, 5xx and rate limits are Unavailable
  (retryable); a reused idempotency key with other parameters is InvalidRequest.

Async all the way: `StripeClient(http_client=stripe.HTTPXClient())` and the SDK's `*_async` methods.
`api_base` points the SDK elsewhere than api.stripe.com (localstripe in tests and `make run
PAYMENTS=stripe`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import stripe
from stripe.params import PaymentIntentCaptureParams, PaymentIntentCreateParams, RefundCreateParams

from shop_payments import port
from shopkit.money import Money

# PaymentIntent status -> the port's authorisation status.
_STATUS: dict[str, port.AuthorisationStatus] = {
    "requires_action": "requires_action",
    "requires_capture": "authorized",
    "succeeded": "captured",
    "canceled": "voided",
    "requires_payment_method": "declined",  # a confirmation failed (declined, or 3-D Secure failed)
    "requires_confirmation": "failed",
    "processing": "failed",
}
# What each state-changing call needs the intent to be in; anything else is a Conflict.
_CAPTURABLE = ("requires_capture",)
_VOIDABLE = ("requires_capture", "requires_action", "requires_confirmation", "requires_payment_method")
_REFUNDABLE = ("succeeded",)


class StripeProvider:
    def __init__(self, secret_key: str, *, api_base: str = "", timeout: float = 10.0, max_network_retries: int = 2):
        """`max_network_retries`: the SDK's own retries (it sends the same idempotency key each time)."""
        self._http = stripe.HTTPXClient(timeout=timeout)
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def payment_method(self, payment_method_id: str) -> port.Card:
        async with _mapped():
            method = await self.client.v1.payment_methods.retrieve_async(payment_method_id)
        card = method.card
        if card is None:
            raise port.InvalidRequest("not a card payment method", code="payment_method_not_a_card", status=400)
        return port.Card(
            card.brand, card.last4, card.exp_month, card.exp_year, card.fingerprint or "", card.country or ""
        )

    async def authorise(
        self, payment_method_id: str, amount: Money, *, idempotency_key: str, metadata: Mapping[str, str] | None = None
    ) -> port.Authorisation:
        params: PaymentIntentCreateParams = {
            "amount": amount.amount,
            "currency": amount.currency.lower(),
            "payment_method": payment_method_id,
            # Cards only, so no redirect-based method needs a return_url (the SDK's API version names
            # it allowed_payment_method_types; older ones payment_method_types).
            "allowed_payment_method_types": ["card"],
            "capture_method": "manual",
            "confirm": True,
            "metadata": dict(metadata or {}),
        }
        async with _mapped():
            intent = await self.client.v1.payment_intents.create_async(
                params,
                {"idempotency_key": idempotency_key},
            )
        return _authorisation(intent)

    async def authorisation(self, authorisation_id: str) -> port.Authorisation:
        async with _mapped():
            intent = await self.client.v1.payment_intents.retrieve_async(authorisation_id)
            refunded, released = await self._refunds(authorisation_id) if intent.status == "succeeded" else (0, 0)
        captured = getattr(intent, "amount_received", None)
        # localstripe has no amount_received: it records the uncaptured rest of a partial capture as a refund.
        return _authorisation(
            intent, captured=intent.amount - released if captured is None else captured, amount_refunded=refunded
        )

    async def capture(
        self, authorisation_id: str, *, idempotency_key: str, amount: int | None = None
    ) -> port.Authorisation:
        params: PaymentIntentCaptureParams = {} if amount is None else {"amount_to_capture": amount}
        async with self._state_checked(authorisation_id, _CAPTURABLE):
            intent = await self.client.v1.payment_intents.capture_async(
                authorisation_id,
                params,
                {"idempotency_key": idempotency_key},
            )
        return _authorisation(intent, captured=intent.amount if amount is None else amount)

    async def void(self, authorisation_id: str, *, idempotency_key: str) -> port.Authorisation:
        async with self._state_checked(authorisation_id, _VOIDABLE):
            intent = await self.client.v1.payment_intents.cancel_async(
                authorisation_id, None, {"idempotency_key": idempotency_key}
            )
        return _authorisation(intent)

    async def refund(self, authorisation_id: str, *, idempotency_key: str, amount: int | None = None) -> port.Refund:
        # The metadata marks the shop's own refunds: `authorisation` sums only these (localstripe records
        # the uncaptured rest of a partial capture as a refund too).
        params: RefundCreateParams = {"payment_intent": authorisation_id, "metadata": {"shop_refund": "1"}}
        if amount is not None:
            params["amount"] = amount
        async with self._state_checked(authorisation_id, _REFUNDABLE):
            refund = await self.client.v1.refunds.create_async(
                params,
                {"idempotency_key": idempotency_key},
            )
        return port.Refund(refund.id, refund.amount, refund.currency.upper())

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]  # untyped in the SDK

    async def _refunds(self, authorisation_id: str) -> tuple[int, int]:
        """(refunded by the shop, released otherwise) of a captured intent."""
        refunds = (await self.client.v1.refunds.list_async({"payment_intent": authorisation_id, "limit": 100})).data
        ours = sum(r.amount for r in refunds if getattr(r.metadata, "shop_refund", None))
        return ours, sum(r.amount for r in refunds) - ours

    @asynccontextmanager
    async def _state_checked(self, authorisation_id: str, allowed: tuple[str, ...]) -> AsyncIterator[None]:
        """Like `_mapped`, but a refusal (400) of an intent that is not in an `allowed` state is a
        Conflict with its state: Stripe says `payment_intent_unexpected_state`, localstripe only 400."""
        try:
            async with _mapped():
                yield
        except port.InvalidRequest as exc:
            if exc.status != 400:
                raise
            async with _mapped():
                intent = await self.client.v1.payment_intents.retrieve_async(authorisation_id)
            if intent.status in allowed and exc.code != "payment_intent_unexpected_state":
                raise
            status = _STATUS.get(intent.status, intent.status)
            raise port.Conflict(
                f"the payment intent is {intent.status}", authorisation_status=status, status=409, code=exc.code
            ) from exc


def _authorisation(
    intent: stripe.PaymentIntent, *, captured: int | None = None, amount_refunded: int = 0
) -> port.Authorisation:
    status = _STATUS.get(intent.status, "failed")
    error = intent.last_payment_error
    if captured is None:
        # amount_received is what was captured; localstripe omits it (then: all, once succeeded).
        received = getattr(intent, "amount_received", None)
        captured = received if received is not None else (intent.amount if status == "captured" else 0)
    charge = getattr(intent, "latest_charge", None)
    return port.Authorisation(
        id=intent.id,
        status=status,
        amount=intent.amount,
        currency=intent.currency.upper(),
        amount_captured=captured if status == "captured" else 0,
        amount_refunded=amount_refunded,
        decline_code=_decline_code(error) if status == "declined" else "",
        next_action=_next_action(intent) if status == "requires_action" else None,
        capture_id=(charge if isinstance(charge, str) else getattr(charge, "id", "")) if status == "captured" else "",
    )


def _decline_code(error: object) -> str:
    # localstripe's last_payment_error has a code only (payment_intent_authentication_failure, ...).
    return str(getattr(error, "decline_code", None) or getattr(error, "code", None) or "card_declined")


def _next_action(intent: stripe.PaymentIntent) -> port.NextAction:
    action = intent.next_action
    redirect = getattr(action, "redirect_to_url", None)
    url = str(getattr(redirect, "url", "") or "")
    return port.NextAction("three_d_secure", url, intent.client_secret or "")


@asynccontextmanager
async def _mapped() -> AsyncIterator[None]:
    """Stripe's errors as the port's."""
    try:
        yield
    except stripe.StripeError as exc:
        raise _port_error(exc) from exc


def _port_error(exc: stripe.StripeError) -> port.PaymentError:
    body = exc.json_body.get("error", {}) if isinstance(exc.json_body, dict) else {}
    status = exc.http_status or 0
    code = str(body.get("code") or exc.code or "")
    message = str(body.get("message") or exc.user_message or type(exc).__name__)
    common: dict[str, Any] = {"status": status, "code": code, "detail": body}
    if isinstance(exc, stripe.CardError) or status == 402:
        intent = body.get("payment_intent")
        recorded = _authorisation(stripe.PaymentIntent.construct_from(intent, "")) if isinstance(intent, dict) else None
        return port.Declined(str(body.get("decline_code") or code or "card_declined"), recorded, detail=body)
    if isinstance(exc, stripe.IdempotencyError):
        return port.InvalidRequest(message, **common)
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or status >= 500 or status == 429:
        return port.Unavailable(message, retryable=True, **common)
    if status == 404 or code == "resource_missing":
        return port.NotFound(message, **common)
    if isinstance(exc, stripe.InvalidRequestError) or status in (400, 422):
        param = body.get("param")
        return port.InvalidRequest(message, errors={str(param): message} if param else None, **common)
    if isinstance(exc, stripe.APIError):
        return port.Unavailable(message, retryable=True, **common)
    return port.PaymentError(message, **common)
