"""The payment provider as the customers service sees it: what it says about a payment method.

An adapter over the payment port (`shop_payments`: the sandbox or Stripe as PAYMENT_PROVIDER says), as
checkout's and order's are: reading a payment method is on the sandbox's server face, so with
TLS_CERT_FILE/TLS_KEY_FILE/TLS_CA_FILE set the customers service presents its certificate there
(`shopkit.httptls`).
"""

from __future__ import annotations

from dataclasses import dataclass

from shop_customers.settings import CustomersSettings
from shop_payments import port
from shop_payments.settings import connect
from shopkit import httptls
from shopkit.errors import FieldViolation, InvalidArgument, Unavailable


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class Payments:
    def __init__(self, provider: port.PaymentProvider):
        self.provider = provider

    @classmethod
    def from_settings(cls, settings: CustomersSettings) -> Payments:
        timeout = settings.default_call_timeout_seconds
        return cls(connect(settings, timeout=timeout, ssl_context=httptls.client_context(settings)))

    async def card(self, payment_method_id: str) -> Card:
        """The card behind a token; INVALID_ARGUMENT when the provider does not know it or refuses the
        id, UNAVAILABLE when it does not answer."""
        try:
            card = await self.provider.payment_method(payment_method_id)
        except (port.NotFound, port.InvalidRequest) as exc:  # unknown, or an id it cannot even read
            raise InvalidArgument(
                [FieldViolation("payment_method_id", "not a payment method of the payment provider")]
            ) from exc
        except port.PaymentError as exc:
            raise Unavailable(
                f"the payment provider did not answer: {exc.message}", reason="PROVIDER_UNAVAILABLE"
            ) from exc
        return Card(card.brand, card.last4, card.exp_month, card.exp_year)

    async def close(self) -> None:
        await self.provider.close()
