"""The payment provider as the saga sees it: card details for fraud, authorise, void.

An adapter over the payment port (`shop_payments`, the sandbox or Stripe as PAYMENT_PROVIDER says)
that turns its answers into the few outcomes the saga distinguishes. Every call that moves money
carries an idempotency key derived from the checkout id, so repeating it (after a crash, a timeout)
never authorises twice. With TLS_CERT_FILE/TLS_KEY_FILE/TLS_CA_FILE set, the sandbox is reached over
mutual TLS: checkout trusts the shop's CA and presents its certificate (`shopkit.httptls`).
"""

from __future__ import annotations

from dataclasses import dataclass

from shop_checkout.domain.model import CardDetails, NextAction
from shop_checkout.settings import CheckoutSettings
from shop_payments import port
from shop_payments.settings import connect
from shopkit import httptls
from shopkit.money import Money


class PaymentUnavailable(Exception):
    """The provider failed in a way that may pass; the effect of the call is unknown unless
    `nothing_held` (the provider recorded the attempt as failed: no money is held)."""

    def __init__(self, message: str, *, nothing_held: bool = False):
        super().__init__(message)
        self.nothing_held = nothing_held


class PaymentMethodUnknown(Exception):
    """The payment method does not exist at the provider."""


class PaymentRejected(Exception):
    """The provider refused the request for good (bad request, state conflict)."""


@dataclass(frozen=True)
class AuthorisationReply:
    approved: bool
    authorisation_id: str = ""
    decline_code: str = ""
    action: NextAction | None = None  # not approved yet: the customer must complete this first


class Payments:
    def __init__(self, provider: port.PaymentProvider):
        self.provider = provider

    @classmethod
    def from_settings(cls, settings: CheckoutSettings) -> Payments:
        """The provider PAYMENT_PROVIDER names; the sandbox over mutual TLS as `checkout` with the TLS files set."""
        timeout = settings.default_call_timeout_seconds
        return cls(connect(settings, timeout=timeout, ssl_context=httptls.client_context(settings)))

    async def card_details(self, payment_method_id: str) -> CardDetails:
        try:
            card = await self.provider.payment_method(payment_method_id)
        except port.NotFound as exc:
            raise PaymentMethodUnknown(str(exc)) from exc
        except port.Unavailable as exc:
            raise PaymentUnavailable(exc.message) from exc
        except port.PaymentError as exc:
            raise PaymentRejected(exc.message) from exc
        return CardDetails(fingerprint=card.fingerprint, country=card.country)

    async def authorise(
        self, payment_method_id: str, amount: Money, *, idempotency_key: str, checkout_id: str
    ) -> AuthorisationReply:
        try:
            auth = await self.provider.authorise(
                payment_method_id, amount, idempotency_key=idempotency_key, metadata={"checkout_id": checkout_id}
            )
        except port.Declined as exc:
            return AuthorisationReply(False, exc.authorisation.id if exc.authorisation else "", exc.decline_code)
        except port.Unavailable as exc:
            raise PaymentUnavailable(exc.message, nothing_held=exc.nothing_held) from exc
        except port.NotFound as exc:
            raise PaymentMethodUnknown(exc.message) from exc
        except port.PaymentError as exc:
            raise PaymentRejected(f"{exc.code or exc.status}: {exc.message}") from exc
        return _reply(auth)

    async def authorisation(self, authorisation_id: str) -> AuthorisationReply:
        """The authorisation as the provider holds it now: whether the customer's action authorised it."""
        try:
            auth = await self.provider.authorisation(authorisation_id)
        except port.Unavailable as exc:
            raise PaymentUnavailable(exc.message) from exc
        except port.PaymentError as exc:
            raise PaymentRejected(f"{exc.code or exc.status}: {exc.message}") from exc
        return _reply(auth)

    async def void(self, authorisation_id: str, *, idempotency_key: str) -> str:
        """Release the hold; returns what became of the authorisation (voided, or already captured)."""
        try:
            auth = await self.provider.void(authorisation_id, idempotency_key=idempotency_key)
        except port.Conflict as exc:
            return exc.authorisation_status or "not voidable"
        except port.NotFound:
            return "unknown to the provider"
        except port.Unavailable as exc:
            raise PaymentUnavailable(exc.message) from exc
        except port.PaymentError as exc:
            raise PaymentRejected(f"{exc.code or exc.status}: {exc.message}") from exc
        return auth.status

    async def close(self) -> None:
        await self.provider.close()


def _reply(auth: port.Authorisation) -> AuthorisationReply:
    if auth.status in ("authorized", "captured"):
        return AuthorisationReply(True, auth.id)
    if auth.status == "requires_action" and auth.next_action is not None:
        step = auth.next_action
        return AuthorisationReply(False, auth.id, action=NextAction(auth.id, step.type, step.url, step.client_secret))
    return AuthorisationReply(False, auth.id, auth.decline_code or auth.failure_code or auth.status)
