"""The payment provider as the saga sees it: card details for fraud, authorise, void.

An adapter over the payment provider's client library (`shop_sandbox.client`, which order uses too)
that turns its answers into the few outcomes the saga distinguishes. Every call that moves money
carries an Idempotency-Key derived from the checkout id, so repeating it (after a crash, a timeout)
never authorises twice. With TLS_CERT_FILE/TLS_KEY_FILE/TLS_CA_FILE set, the client speaks mutual TLS:
it trusts the shop's CA and presents checkout's certificate (`shopkit.httptls`).
"""

from __future__ import annotations

from dataclasses import dataclass

from shop_checkout.domain.model import CardDetails, NextAction
from shop_checkout.settings import CheckoutSettings
from shop_sandbox import client as sandbox
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
    def __init__(self, client: sandbox.SandboxClient):
        self.client = client

    @classmethod
    def from_settings(cls, settings: CheckoutSettings) -> Payments:
        """The provider at PAYMENT_PROVIDER_URL; with the TLS files set, over mutual TLS as `checkout`."""
        client = sandbox.SandboxClient(
            settings.payment_provider_url,
            timeout=settings.default_call_timeout_seconds,
            ssl_context=httptls.client_context(settings),
        )
        return cls(client)

    async def card_details(self, payment_method_id: str) -> CardDetails:
        try:
            method = await self.client.get_payment_method(payment_method_id)
        except sandbox.NotFound as exc:
            raise PaymentMethodUnknown(str(exc)) from exc
        except sandbox.ProviderError as exc:
            raise PaymentUnavailable(exc.message) from exc
        except sandbox.PaymentError as exc:
            raise PaymentRejected(exc.message) from exc
        return CardDetails(fingerprint=method.card.fingerprint, country=method.card.country)

    async def authorise(
        self, payment_method_id: str, amount: Money, *, idempotency_key: str, checkout_id: str
    ) -> AuthorisationReply:
        try:
            auth = await self.client.authorize(
                payment_method_id,
                amount.amount,
                amount.currency,
                idempotency_key=idempotency_key,
                three_d_secure_challenge=True,  # the client takes the customer through it (next_action)
                metadata={"checkout_id": checkout_id},
            )
        except sandbox.Declined as exc:
            return AuthorisationReply(False, exc.authorization.id if exc.authorization else "", exc.code)
        except sandbox.ProviderError as exc:
            failed = exc.authorization is not None and exc.authorization.status == "failed"
            raise PaymentUnavailable(exc.message, nothing_held=failed) from exc
        except sandbox.NotFound as exc:
            raise PaymentMethodUnknown(exc.message) from exc
        except sandbox.PaymentError as exc:
            raise PaymentRejected(f"{exc.code or exc.status}: {exc.message}") from exc
        return _reply(auth)

    async def authorisation(self, authorisation_id: str) -> AuthorisationReply:
        """The authorisation as the provider holds it now: whether the customer's action authorised it."""
        try:
            auth = await self.client.get_authorization(authorisation_id)
        except sandbox.ProviderError as exc:
            raise PaymentUnavailable(exc.message) from exc
        except sandbox.PaymentError as exc:
            raise PaymentRejected(f"{exc.code or exc.status}: {exc.message}") from exc
        return _reply(auth)

    async def void(self, authorisation_id: str, *, idempotency_key: str) -> str:
        """Release the hold; returns what became of the authorisation (voided, or already captured)."""
        try:
            auth = await self.client.void(authorisation_id, idempotency_key=idempotency_key)
        except sandbox.Conflict as exc:
            return exc.authorization_status or "not voidable"
        except sandbox.NotFound:
            return "unknown to the provider"
        except sandbox.ProviderError as exc:
            raise PaymentUnavailable(exc.message) from exc
        except sandbox.PaymentError as exc:
            raise PaymentRejected(f"{exc.code or exc.status}: {exc.message}") from exc
        return auth.status

    async def close(self) -> None:
        await self.client.aclose()


def _reply(auth: sandbox.Authorization) -> AuthorisationReply:
    if auth.status in ("authorized", "captured"):
        return AuthorisationReply(True, auth.id)
    if auth.status == "requires_action" and auth.next_action is not None:
        step = auth.next_action
        return AuthorisationReply(False, auth.id, action=NextAction(auth.id, step.type, step.url, step.client_secret))
    return AuthorisationReply(False, auth.id, auth.decline_code or auth.failure_code or auth.status)
