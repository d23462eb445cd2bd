"""Checkout's payment adapter over mutual TLS: with the TLS files in its settings it reads card
details at, authorises at and voids at a payment sandbox that requires client certificates, as
`checkout`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shop_checkout.payments import Payments
from shop_checkout.settings import CheckoutSettings
from shop_sandbox.client import SandboxClient
from shop_sandbox.main import build as build_sandbox
from shop_sandbox.server import HttpService
from shop_sandbox.settings import SandboxSettings
from shopkit import httptls, pki
from shopkit.money import Money
from shopkit.testing import Postgres, peer, service_settings

NAMES = ("sandbox", "checkout", "tooling")


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


async def test_checkout_authorises_and_voids_at_a_tls_sandbox_with_its_certificate(
    tls_sandbox: HttpService, issued: dict[str, pki.Issued], nats_url: str
) -> None:
    tooling = issued["tooling"]
    storefront = httptls.context_for(tooling.cert_file, tooling.key_file, tooling.ca_file)
    async with SandboxClient(tls_sandbox.base_url, ssl_context=storefront) as client:
        method = await client.tokenise("4000008260000000", 12, 2040, "123")  # a GB card

    fields = service_settings(
        "postgresql+asyncpg://unused/checkout",  # the adapter opens no database
        nats_url,
        payment_provider_url=tls_sandbox.base_url,
        **issued["checkout"].settings(),
    )
    payments = Payments.from_settings(CheckoutSettings(**fields))
    checkout_id = str(uuid.uuid4())
    try:
        card = await payments.card_details(method.id)
        reply = await payments.authorise(
            method.id, Money(1999, "EUR"), idempotency_key=f"auth-{checkout_id}", checkout_id=checkout_id
        )
        voided = await payments.void(reply.authorisation_id, idempotency_key=f"void-{checkout_id}")
    finally:
        await payments.close()
    assert card.country == "GB"
    assert reply.approved and reply.authorisation_id.startswith("auth_")
    assert voided == "voided"
