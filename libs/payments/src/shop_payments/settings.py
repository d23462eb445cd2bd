"""Which payment provider a service talks to, from its settings (environment variables).

Each service that calls the provider mixes `PaymentSettings` into its settings class, so the same
variables configure checkout, order and customers alike (and the Helm chart sets them once):

- PAYMENT_PROVIDER: `sandbox` (default; the project's payment sandbox) or `stripe`.
- PAYMENT_PROVIDER_URL: the sandbox's base URL (https with the shop's CA for mutual TLS).
- STRIPE_SECRET_KEY: Stripe's secret API key (sk_live_/sk_test_...; in Kubernetes from a Secret).
- STRIPE_API_BASE: where the Stripe SDK sends requests; empty: api.stripe.com (localstripe locally).
"""

from __future__ import annotations

import ssl
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from shop_payments.port import PaymentProvider
from shop_payments.sandbox.adapter import SandboxProvider
from shop_payments.sandbox.client import SandboxClient


class PaymentSettings(BaseModel):
    payment_provider: Literal["sandbox", "stripe"] = Field(
        "sandbox", description="sandbox (the project's payment sandbox) or stripe (Stripe's PaymentIntents)"
    )
    payment_provider_url: str = Field(
        "http://localhost:8090", description="base URL of the payment sandbox (PAYMENT_PROVIDER=sandbox)"
    )
    stripe_secret_key: SecretStr = Field(
        SecretStr(""), description="Stripe's secret API key (PAYMENT_PROVIDER=stripe); from a Secret in Kubernetes"
    )
    stripe_api_base: str = Field(
        "", description="base URL of Stripe's API; empty: api.stripe.com (a localstripe URL for local runs)"
    )


def connect(
    settings: PaymentSettings, *, timeout: float, ssl_context: ssl.SSLContext | None = None, max_attempts: int = 3
) -> PaymentProvider:
    """The adapter PAYMENT_PROVIDER names. `ssl_context`: the caller's mutual-TLS context for the
    sandbox (Stripe is reached over public TLS). `max_attempts`: tries per call, retries only where
    safe (idempotency key, reads); 1 when the caller retries itself."""
    if settings.payment_provider == "stripe":
        from shop_payments.stripe_adapter import StripeProvider  # the SDK is imported only when used

        key = settings.stripe_secret_key.get_secret_value()
        if not key:
            raise ValueError("PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY")
        return StripeProvider(
            key, api_base=settings.stripe_api_base, timeout=timeout, max_network_retries=max_attempts - 1
        )
    client = SandboxClient(
        settings.payment_provider_url, timeout=timeout, max_attempts=max_attempts, ssl_context=ssl_context
    )
    return SandboxProvider(client)
