"""What the order owes the payment provider: capture, void and refund of the authorisation checkout
handed over, as Outcomes the effect worker records.

An adapter over the provider's client library (`shop_sandbox.client`, the one checkout uses too),
like checkout's `shop_checkout.payments`. Each call is made once (the client's own retries are off):
retrying is the effect worker's job, always with the same Idempotency-Key, so a retry never applies
an operation twice at the provider. With TLS_CERT_FILE/TLS_KEY_FILE/TLS_CA_FILE set, the client speaks
mutual TLS: it trusts the shop's CA and presents order's certificate (`shopkit.httptls`).
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

from shop_order.settings import OrderSettings
from shop_sandbox import client as provider
from shop_sandbox.client import SandboxClient
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


def _failed(error: provider.PaymentError) -> Outcome:
    # 5xx, unreachable, a concurrent request with the same key: try again later; the rest is final.
    retryable = isinstance(error, provider.ProviderError) and error.retryable
    if retryable:
        log.warning("payment provider failed", extra={"status": error.status, "error": error.message})
    return Outcome(False, retryable=retryable, error=f"{error.status} {error.code}: {error.message}"[:500])


class PaymentProvider:
    def __init__(self, base_url: str, timeout: float, *, ssl_context: ssl.SSLContext | None = None):
        self.client = SandboxClient(base_url, timeout=timeout, max_attempts=1, ssl_context=ssl_context)

    @classmethod
    def from_settings(cls, settings: OrderSettings) -> PaymentProvider:
        """The provider at PAYMENT_PROVIDER_URL; with the TLS files set, over mutual TLS as `order`."""
        return cls(
            settings.payment_provider_url,
            settings.payment_provider_timeout_seconds,
            ssl_context=httptls.client_context(settings),
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def capture(self, authorisation_id: str, amount: int, key: str) -> Outcome:
        try:
            auth = await self.client.capture(authorisation_id, idempotency_key=key, amount=amount)
        except provider.Conflict as error:
            if error.authorization_status == "captured":
                # Captured earlier (e.g. by an operator in the provider's console): take what was captured.
                return await self._already_captured(authorisation_id)
            return _failed(error)
        except provider.PaymentError as error:
            return _failed(error)
        reference = auth.captures[-1].id if auth.captures else auth.id
        return Outcome(True, reference=reference, amount=auth.amount_captured)

    async def void(self, authorisation_id: str, key: str) -> Outcome:
        try:
            await self.client.void(authorisation_id, idempotency_key=key)
        except provider.Conflict as error:
            if error.authorization_status != "voided":
                return _failed(error)
        except provider.PaymentError as error:
            return _failed(error)
        return Outcome(True, reference=authorisation_id)

    async def refund(self, authorisation_id: str, amount: int, key: str) -> Outcome:
        try:
            refund = await self.client.refund(authorisation_id, idempotency_key=key, amount=amount)
        except provider.PaymentError as error:
            return _failed(error)
        return Outcome(True, reference=refund.id, amount=refund.amount)

    async def _already_captured(self, authorisation_id: str) -> Outcome:
        try:
            auth = await self.client.get_authorization(authorisation_id)
        except provider.PaymentError as error:
            return _failed(error)
        return Outcome(True, reference=authorisation_id, amount=auth.amount_captured)
