"""What the order owes the payment provider: capture, void and refund of the authorisation checkout
handed over, as Outcomes the effect worker records.

An adapter over the payment port (`shop_payments`: the sandbox or Stripe as PAYMENT_PROVIDER says),
like checkout's `shop_checkout.payments`. Each call is made once (the adapters' own retries are off):
retrying is the effect worker's job, always with the same idempotency key, so a retry never applies
an operation twice at the provider. With TLS_CERT_FILE/TLS_KEY_FILE/TLS_CA_FILE set, the sandbox is
reached over mutual TLS: order trusts the shop's CA and presents its certificate (`shopkit.httptls`).
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

from shop_order.settings import OrderSettings
from shop_payments import port
from shop_payments.sandbox.adapter import SandboxProvider
from shop_payments.sandbox.client import SandboxClient
from shop_payments.settings import connect
from shopkit import httptls

log = logging.getLogger("shop_order.payments")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call achieved: done (with the provider's reference), or failed (retryable or not)."""

    done: bool
    reference: str = ""
    amount: int = 0
    retryable: bool = False
    error: str = ""


def _failed(error: port.PaymentError) -> Outcome:
    # 5xx, unreachable, a concurrent request with the same key: try again later; the rest is final.
    retryable = error.retryable
    if retryable:
        log.warning("payment provider failed", extra={"status": error.status, "error": error.message})
    return Outcome(False, retryable=retryable, error=f"{error.status} {error.code}: {error.message}"[:500])


class PaymentProvider:
    def __init__(
        self, provider: port.PaymentProvider | str, timeout: float = 5.0, *, ssl_context: ssl.SSLContext | None = None
    ):
        """`provider`: the port, or the payment sandbox's base URL (then its adapter, calls made once)."""
        if isinstance(provider, str):
            provider = SandboxProvider(
                SandboxClient(provider, timeout=timeout, max_attempts=1, ssl_context=ssl_context)
            )
        self.provider = provider

    @classmethod
    def from_settings(cls, settings: OrderSettings) -> PaymentProvider:
        """The provider PAYMENT_PROVIDER names; the sandbox over mutual TLS as `order` with the TLS files set."""
        context = httptls.client_context(settings)
        timeout = settings.payment_provider_timeout_seconds
        return cls(connect(settings, timeout=timeout, ssl_context=context, max_attempts=1))

    async def close(self) -> None:
        await self.provider.close()

    async def capture(self, authorisation_id: str, amount: int, key: str) -> Outcome:
        try:
            auth = await self.provider.capture(authorisation_id, idempotency_key=key, amount=amount)
        except port.Conflict as error:
            if error.authorisation_status == "captured":
                # Captured earlier (e.g. by an operator in the provider's console): take what was captured.
                return await self._already_captured(authorisation_id)
            return _failed(error)
        except port.PaymentError as error:
            return _failed(error)
        reference = auth.capture_id or auth.id
        return Outcome(True, reference=reference, amount=auth.amount_captured)

    async def void(self, authorisation_id: str, key: str) -> Outcome:
        try:
            await self.provider.void(authorisation_id, idempotency_key=key)
        except port.Conflict as error:
            if error.authorisation_status != "voided":
                return _failed(error)
        except port.PaymentError as error:
            return _failed(error)
        return Outcome(True, reference=authorisation_id)

    async def refund(self, authorisation_id: str, amount: int, key: str) -> Outcome:
        try:
            refund = await self.provider.refund(authorisation_id, idempotency_key=key, amount=amount)
        except port.PaymentError as error:
            return _failed(error)
        return Outcome(True, reference=refund.id, amount=refund.amount)

    async def _already_captured(self, authorisation_id: str) -> Outcome:
        try:
            auth = await self.provider.authorisation(authorisation_id)
        except port.PaymentError as error:
            return _failed(error)
        return Outcome(True, reference=authorisation_id, amount=auth.amount_captured)
