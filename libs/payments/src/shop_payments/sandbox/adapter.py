"""The payment port over the project's payment sandbox (its HTTP client library, `.client`).

The sandbox speaks the port's language almost word for word (authorizations, captures, refunds,
Idempotency-Key); this adapter turns its models into the port's dataclasses and its errors into the
port's. It asks for 3-D Secure challenges (`three_d_secure.challenge`): a card that needs it comes back
requires_action with the next action instead of a decline, as Stripe's PaymentIntents do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from shop_payments import port
from shop_payments.sandbox import client as sandbox
from shop_payments.sandbox.client import SandboxClient
from shopkit.money import Money


class SandboxProvider:
    def __init__(self, client: SandboxClient):
        self.client = client

    async def payment_method(self, payment_method_id: str) -> port.Card:
        with _mapped():
            method = await self.client.get_payment_method(payment_method_id)
        card = method.card
        return port.Card(card.brand, card.last4, card.exp_month, card.exp_year, card.fingerprint, card.country)

    async def authorise(
        self, payment_method_id: str, amount: Money, *, idempotency_key: str, metadata: Mapping[str, str] | None = None
    ) -> port.Authorisation:
        with _mapped():
            auth = await self.client.authorize(
                payment_method_id,
                amount.amount,
                amount.currency,
                idempotency_key=idempotency_key,
                three_d_secure_challenge=True,  # the storefront takes the customer through it (next_action)
                metadata=metadata,
            )
        return authorisation_of(auth)

    async def authorisation(self, authorisation_id: str) -> port.Authorisation:
        with _mapped():
            return authorisation_of(await self.client.get_authorization(authorisation_id))

    async def capture(
        self, authorisation_id: str, *, idempotency_key: str, amount: int | None = None
    ) -> port.Authorisation:
        with _mapped():
            auth = await self.client.capture(authorisation_id, idempotency_key=idempotency_key, amount=amount)
        return authorisation_of(auth)

    async def void(self, authorisation_id: str, *, idempotency_key: str) -> port.Authorisation:
        with _mapped():
            return authorisation_of(await self.client.void(authorisation_id, idempotency_key=idempotency_key))

    async def refund(self, authorisation_id: str, *, idempotency_key: str, amount: int | None = None) -> port.Refund:
        with _mapped():
            refund = await self.client.refund(authorisation_id, idempotency_key=idempotency_key, amount=amount)
        return port.Refund(refund.id, refund.amount, refund.currency)

    async def close(self) -> None:
        await self.client.aclose()


def authorisation_of(auth: sandbox.Authorization) -> port.Authorisation:
    step = auth.next_action
    return port.Authorisation(
        id=auth.id,
        status=auth.status,
        amount=auth.amount,
        currency=auth.currency,
        amount_captured=auth.amount_captured,
        amount_refunded=auth.amount_refunded,
        decline_code=auth.decline_code or "",
        failure_code=auth.failure_code or "",
        next_action=port.NextAction(step.type, step.url, step.client_secret) if step is not None else None,
        capture_id=auth.captures[-1].id if auth.captures else "",
    )


@contextmanager
def _mapped() -> Iterator[None]:
    """The client's errors as the port's (same message, HTTP status and code)."""
    try:
        yield
    except sandbox.PaymentError as exc:
        raise _port_error(exc) from exc


def _port_error(exc: sandbox.PaymentError) -> port.PaymentError:
    common: dict[str, Any] = {"status": exc.status, "code": exc.code, "detail": exc.problem}
    if isinstance(exc, sandbox.Declined):
        recorded = authorisation_of(exc.authorization) if exc.authorization is not None else None
        return port.Declined(exc.code, recorded, status=exc.status, detail=exc.problem)
    if isinstance(exc, sandbox.ProviderError):
        failed = exc.authorization is not None and exc.authorization.status == "failed"
        return port.Unavailable(exc.message, retryable=exc.retryable, nothing_held=failed, **common)
    if isinstance(exc, sandbox.NotFound):
        return port.NotFound(exc.message, **common)
    if isinstance(exc, sandbox.Conflict):
        return port.Conflict(exc.message, authorisation_status=exc.authorization_status, **common)
    if isinstance(exc, sandbox.InvalidRequest):
        return port.InvalidRequest(exc.message, errors=exc.errors, **common)
    return port.PaymentError(exc.message, **common)
