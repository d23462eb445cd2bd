"""The payment port's contract suite runs once per adapter: against the real payment sandbox (its
HTTP server in this event loop, over a migrated PostgreSQL database, as the services' tests start it)
and against Stripe's SDK talking to a real localstripe process (`shop_payments.fakestripe`)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Protocol

import httpx
import pytest
from stripe.params import PaymentMethodCreateParams

from shop_payments import port
from shop_payments.sandbox.adapter import SandboxProvider
from shop_payments.sandbox.client import SandboxClient
from shop_payments.stripe_adapter import StripeProvider
from shop_sandbox.main import build as build_sandbox
from shop_sandbox.server import HttpService
from shop_sandbox.settings import SandboxSettings
from shopkit.testing import Postgres, free_port, peer, wait_for_port

EXP_YEAR = 2040


class Harness(Protocol):
    """An adapter under test and the customer's side of its provider (tokenising, 3-D Secure)."""

    name: str
    provider: port.PaymentProvider
    declined_card: str  # a test card the provider declines at authorisation (card_declined)

    async def tokenise(self, number: str) -> str: ...

    async def complete_challenge(self, authorisation: port.Authorisation, *, passed: bool) -> None: ...


@dataclass
class SandboxHarness:
    client: SandboxClient
    provider: SandboxProvider
    name: str = "sandbox"
    declined_card: str = "4000000000000002"

    async def tokenise(self, number: str) -> str:
        return (await self.client.tokenise(number, 12, EXP_YEAR, "123", billing_country="DE")).id

    async def complete_challenge(self, authorisation: port.Authorisation, *, passed: bool) -> None:
        assert authorisation.next_action is not None
        await self.client.complete_challenge(
            authorisation.id, authorisation.next_action.client_secret, authenticated=passed
        )


@dataclass
class StripeHarness:
    base_url: str
    provider: StripeProvider
    name: str = "stripe"
    declined_card: str = "4000000000000341"  # localstripe: attaches, then declines when charged

    async def tokenise(self, number: str) -> str:
        params: PaymentMethodCreateParams = {
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": EXP_YEAR, "cvc": "123"},
        }
        method = await self.provider.client.v1.payment_methods.create_async(params)
        return method.id

    async def complete_challenge(self, authorisation: port.Authorisation, *, passed: bool) -> None:
        # What Stripe.js does after the customer's 3-D Secure page; localstripe's endpoint for it.
        assert authorisation.next_action is not None
        data = {"client_secret": authorisation.next_action.client_secret, "success": str(passed).lower()}
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            response = await http.post(
                f"/v1/payment_intents/{authorisation.id}/_authenticate", data={**data, "key": "pk_test_shop"}
            )
        assert response.status_code == 200, response.text


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """A localstripe process (with Stripe's Idempotency-Key replay) on a free loopback port."""
    port_number = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "shop_payments.fakestripe", "serve", "--port", str(port_number)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port_number, timeout=30)
        yield f"http://127.0.0.1:{port_number}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
async def sandbox_service(postgres: Postgres, nats_url: str) -> AsyncIterator[HttpService]:
    async with peer(build_sandbox, SandboxSettings, postgres, nats_url, http_host="127.0.0.1", http_port=0) as service:
        yield service


@pytest.fixture
async def sandbox_harness(sandbox_service: HttpService) -> AsyncIterator[SandboxHarness]:
    client = SandboxClient(sandbox_service.base_url)
    harness = SandboxHarness(client, SandboxProvider(SandboxClient(sandbox_service.base_url, max_attempts=1)))
    yield harness
    await harness.provider.close()
    await client.aclose()


@pytest.fixture
async def stripe_harness(localstripe_url: str) -> AsyncIterator[StripeHarness]:
    provider = StripeProvider("sk_test_shop", api_base=localstripe_url, max_network_retries=0)
    yield StripeHarness(localstripe_url, provider)
    await provider.close()


@pytest.fixture(params=["sandbox", "stripe"])
def harness(request: pytest.FixtureRequest) -> Harness:
    """Each contract test runs once per adapter."""
    chosen: Harness = request.getfixturevalue(f"{request.param}_harness")
    return chosen


@pytest.fixture
def key() -> str:
    """A fresh idempotency key prefix per test."""
    return uuid.uuid4().hex
