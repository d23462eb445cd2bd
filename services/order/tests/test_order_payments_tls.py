"""The order's payment adapter over mutual TLS: with the TLS files in its settings it reaches a
payment sandbox that requires client certificates, as `order`; without them it cannot."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shop_order.payments import PaymentProvider
from shop_order.settings import OrderSettings
from shop_sandbox.client import SandboxClient
from shop_sandbox.main import build as build_sandbox
from shop_sandbox.server import HttpService
from shop_sandbox.settings import SandboxSettings
from shopkit import httptls, pki
from shopkit.testing import Postgres, peer, service_settings

NAMES = ("sandbox", "order", "tooling", "gateway")


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pki.Issued]:
    return pki.issue(tmp_path_factory.mktemp("pki"), NAMES)


@pytest.fixture(scope="module")
async def tls_sandbox(postgres: Postgres, nats_url: str, issued: dict[str, pki.Issued]) -> AsyncIterator[HttpService]:
    """A payment sandbox on HTTPS that takes only clients with a certificate of the shop's CA."""
    async with peer(
        build_sandbox, SandboxSettings, postgres, nats_url, http_port=0, **issued["sandbox"].settings()
    ) as service:
        yield service


def payments_of(sandbox: HttpService, order_database: str, nats_url: str, **tls: Any) -> PaymentProvider:
    """The adapter as the order service builds it from its settings."""
    fields = service_settings(order_database, nats_url, payment_provider_url=sandbox.base_url, **tls)
    return PaymentProvider.from_settings(OrderSettings(**fields))


async def authorised(sandbox: HttpService, issued: dict[str, pki.Issued], amount: int) -> str:
    """A fresh authorisation, made as checkout would (here as tooling)."""
    tooling = issued["tooling"]
    context = httptls.context_for(tooling.cert_file, tooling.key_file, tooling.ca_file)
    async with SandboxClient(sandbox.base_url, ssl_context=context) as client:
        method = await client.tokenise("4242424242424242", 12, 2040, "123")
        auth = await client.authorize(method.id, amount, "EUR", idempotency_key=str(uuid.uuid4()))
    return auth.id


async def test_the_order_captures_and_refunds_at_a_tls_sandbox_with_its_certificate(
    tls_sandbox: HttpService, issued: dict[str, pki.Issued], order_database: str, nats_url: str
) -> None:
    assert tls_sandbox.base_url.startswith("https://")
    authorisation = await authorised(tls_sandbox, issued, 2500)
    payments = payments_of(tls_sandbox, order_database, nats_url, **issued["order"].settings())
    try:
        captured = await payments.capture(authorisation, 2500, f"capture-{authorisation}")
        refunded = await payments.refund(authorisation, 1000, f"refund-{authorisation}")
    finally:
        await payments.close()
    assert (captured.done, captured.amount) == (True, 2500), captured
    assert (refunded.done, refunded.amount) == (True, 1000), refunded


async def test_without_its_certificate_or_with_another_identity_the_order_is_refused(
    tls_sandbox: HttpService, issued: dict[str, pki.Issued], order_database: str, nats_url: str
) -> None:
    authorisation = await authorised(tls_sandbox, issued, 700)
    # No TLS files: the client neither trusts the shop's CA nor has a certificate; it may be fixed, so retryable.
    plain = payments_of(tls_sandbox, order_database, nats_url)
    # The shop's certificate of a service that may not call the provider: refused by name, for good.
    gateway = payments_of(tls_sandbox, order_database, nats_url, **issued["gateway"].settings())
    try:
        unverified = await plain.void(authorisation, f"void-{authorisation}")
        refused = await gateway.void(authorisation, f"void-{authorisation}")
    finally:
        await plain.close()
        await gateway.close()
    assert (unverified.done, unverified.retryable) == (False, True)
    assert "CERTIFICATE_VERIFY_FAILED" in unverified.error
    assert (refused.done, refused.retryable, refused.error.split(":")[0]) == (False, False, "403 caller_not_allowed")
