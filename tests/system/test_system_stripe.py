"""A purchase and its refund through the gateway with the Stripe adapter: a stack of its own as
`make run PAYMENTS=stripe` starts it (checkout, order and customers on PAYMENT_PROVIDER=stripe, a local
fake Stripe, localstripe, instead of the payment sandbox).

A second whole stack beside the session's would double what the machine is asked, so this module runs
only when asked: `make test` (`shop-dev test`) runs it alone once the other system tests' stack has
stopped; by hand, `SHOP_SYSTEM_STRIPE=1 .venv/bin/python -m pytest -q tests/system/test_system_stripe.py`
(it then starts only its own stack)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from shop_devstack.demo_size import TEST_DEMO_PRODUCTS
from shop_devstack.environment import stripe_environment
from shop_devstack.harness import Stack, launched

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("SHOP_SYSTEM_STRIPE") != "1", reason="a second stack: SHOP_SYSTEM_STRIPE=1 runs it"
    ),
    pytest.mark.timeout(600),
]

PREFERRED_OFFSET = 13000
ADDRESS = {
    "name": "Stripe Buyer",
    "line1": "1 Market St",
    "city": "San Francisco",
    "region": "CA",
    "postal_code": "94105",
    "country": "US",
}
T = TypeVar("T")


@pytest.fixture(scope="module")
def stripe_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stripe")
    # A generous start: this stack comes up while other test runs may share the machine.
    with launched(
        folder,
        preferred_offset=PREFERRED_OFFSET,
        payments="stripe",
        start_timeout=420,
        demo_products=TEST_DEMO_PRODUCTS,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60.0) as client:
        yield client


def eventually(read: Callable[[], T], done: Callable[[T], bool], within: float = 30.0) -> T:
    deadline = time.monotonic() + within
    while not done(value := read()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def test_a_purchase_is_paid_at_stripe_and_a_cancellation_refunds_it(stripe_stack: Stack, http: httpx.Client) -> None:
    stripe = stripe_environment(stripe_stack.offset)
    stripe_auth = {"authorization": f"Bearer {stripe['STRIPE_SECRET_KEY']}"}
    gateway = stripe_stack.gateway_url
    token = http.post(
        f"{gateway}/v1/auth/token", json={"username": f"stripe-{uuid.uuid4().hex[:10]}", "role": "customer"}
    )
    assert token.status_code == 200, token.text
    headers = {"authorization": f"Bearer {token.json()['access_token']}"}

    found = http.get(f"{gateway}/v1/products", params={"query": "trail", "page_size": 1}, headers=headers)
    assert found.status_code == 200, found.text
    [product] = found.json()["products"]
    added = http.post(
        f"{gateway}/v1/cart/items", json={"sku": product["variants"][0]["sku"], "quantity": 1}, headers=headers
    )
    assert added.status_code == 200, added.text

    # The storefront's Stripe.js creates the PaymentMethod; here the same call, straight to the fake.
    card = {"type": "card", "card[number]": "4242424242424242", "card[exp_month]": "12"}
    card |= {"card[exp_year]": "2040", "card[cvc]": "123"}
    method = http.post(f"{stripe['STRIPE_API_BASE']}/v1/payment_methods", data=card, headers=stripe_auth)
    assert method.status_code == 200, method.text

    body = {"payment_method": method.json()["id"], "shipping_address": ADDRESS, "fulfillment": {"method": "ship"}}
    placed = http.post(
        f"{gateway}/v1/checkout", json=body, headers={**headers, "Idempotency-Key": f"stripe-{uuid.uuid4().hex}"}
    )
    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["status"] == "completed", answer

    def order() -> dict[str, Any]:
        response = http.get(f"{gateway}/v1/orders/{answer['order_id']}", headers=headers)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    paid = order()
    assert (paid["status"], paid["payment_status"]) == ("confirmed", "captured"), paid
    total = paid["totals"]["total"]["amount"]

    cancelled = http.post(f"{gateway}/v1/orders/{answer['order_id']}/cancel", json={"note": "stripe"}, headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    refunded = eventually(order, lambda o: o["payment_status"] == "refunded")
    assert refunded["payment_status"] == "refunded", refunded

    api = stripe["STRIPE_API_BASE"]
    intents = http.get(api + "/v1/payment_intents", headers=stripe_auth).json()["data"]
    [intent] = [i for i in intents if i["payment_method"] == method.json()["id"]]
    assert (intent["status"], intent["amount"], intent["capture_method"]) == ("succeeded", total, "manual")

    def refunds() -> list[int]:
        # The refund is recorded at once; order's effect worker makes it at Stripe just after.
        listed = http.get(api + "/v1/refunds", params={"payment_intent": intent["id"]}, headers=stripe_auth)
        return [r["amount"] for r in listed.json()["data"]]

    assert eventually(refunds, lambda amounts: amounts == [total]) == [total]


def test_the_stack_runs_the_fake_stripe_instead_of_the_sandbox(stripe_stack: Stack) -> None:
    logs = Path(stripe_stack.data_dir) / "logs"
    assert (logs / "stripe.log").exists() and not (logs / "sandbox.log").exists()
