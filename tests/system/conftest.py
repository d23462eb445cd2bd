"""The whole shop as `shop-dev run` starts it: every service, the payment sandbox and the gateway, each its own
OS process, on a temporary data folder and shifted ports. One stack serves the whole session (it takes ~30 s
to start and seed); SIGINT stops it at the end and its exit code is asserted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from shop_devstack.harness import Stack, launched

PREFERRED_OFFSET = 3000


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Every process as `shop-dev run` starts them, for the whole session."""
    with launched(tmp_path_factory.mktemp("system"), preferred_offset=PREFERRED_OFFSET) as running:
        yield running


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


class Shopper:
    """A signed-in customer talking to the gateway (and tokenising cards at the sandbox, as a browser would)."""

    def __init__(self, client: httpx.Client, stack: Stack, username: str) -> None:
        self.client = client
        self.stack = stack
        self.username = username
        issued = client.post(f"{stack.gateway_url}/v1/auth/token", json={"username": username, "role": "customer"})
        assert issued.status_code == 200, issued.text
        self.headers = {"authorization": f"Bearer {issued.json()['access_token']}"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(f"{self.stack.gateway_url}{path}", params=params, headers=self.headers)

    def add_to_cart(self, sku: str, quantity: int = 1) -> dict[str, Any]:
        response = self.client.post(
            f"{self.stack.gateway_url}/v1/cart/items", json={"sku": sku, "quantity": quantity}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        cart: dict[str, Any] = response.json()
        return cart

    def card(self, number: str) -> str:
        year = time.gmtime().tm_year + 2
        card = {"number": number, "exp_month": 12, "exp_year": year, "cvc": "123"}
        response = self.client.post(f"{self.stack.sandbox_url}/v1/payment_methods", json={"card": card})
        assert response.status_code == 201, response.text
        method_id: str = response.json()["id"]
        return method_id

    def checkout_request(self, payment_method: str, key: str) -> tuple[str, dict[str, Any], dict[str, str]]:
        """URL, body and headers of a `POST /v1/checkout` (so tests can send it from several threads)."""
        body = {
            "payment_method": payment_method,
            "shipping_address": ADDRESS,
            "fulfillment": {"method": "ship"},
        }
        return f"{self.stack.gateway_url}/v1/checkout", body, {**self.headers, "Idempotency-Key": key}

    def checkout(self, payment_method: str, key: str | None = None) -> httpx.Response:
        url, body, headers = self.checkout_request(payment_method, key or f"system-{uuid.uuid4().hex}")
        return self.client.post(url, json=body, headers=headers)


ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Main St",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}


@pytest.fixture
def new_shopper(stack: Stack, http: httpx.Client) -> Callable[[str], Shopper]:
    """A factory of fresh customers: every test gets its own carts and orders."""

    def make(label: str) -> Shopper:
        return Shopper(http, stack, f"system-{label}-{uuid.uuid4().hex[:10]}")

    return make


@pytest.fixture(scope="session")
def trail_product(stack: Stack, http: httpx.Client) -> dict[str, Any]:
    """The first product the search `trail` finds, as its product page shows it (variants with availability)."""
    issued = http.post(f"{stack.gateway_url}/v1/auth/token", json={"username": "system-browser", "role": "customer"})
    headers = {"authorization": f"Bearer {issued.json()['access_token']}"}
    found = http.get(f"{stack.gateway_url}/v1/products", params={"query": "trail", "page_size": 1}, headers=headers)
    assert found.status_code == 200, found.text
    products = found.json()["products"]
    assert len(products) == 1, found.text
    page = http.get(f"{stack.gateway_url}/v1/products/{products[0]['id']}", headers=headers)
    assert page.status_code == 200, page.text
    product: dict[str, Any] = page.json()
    assert len(product["variants"]) >= 1
    return product
