"""The whole shop as `shop-dev run` starts it: every service, the payment sandbox and the gateway, each its own
OS process, on a temporary data folder and shifted ports. One stack serves the whole session (it takes ~30 s
to start and seed); SIGINT stops it at the end and its exit code is asserted.

The session stack is configured like a deployment behind a load balancer and a CDN: the gateway takes the
client's IP from X-Forwarded-For and its country from CF-IPCountry, and every Shopper sends its own IP and
device id, so the fraud service's velocity counters see separate people (not one 127.0.0.1 that buys all
session long) and a scenario scores the same whichever tests ran before it. It also carries a dormant fault:
checkout SIGKILLs itself after an authorisation only while `checkout_crash_switch` exists (see
test_system_recovery.py).
"""

from __future__ import annotations

import ipaddress
import itertools
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
import httpx
import pytest

from shop.checkout.v1 import checkout_pb2, checkout_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop_devstack.demo_size import TEST_DEMO_PRODUCTS
from shop_devstack.harness import Stack, launched, read_state
from shopkit.access import TOOLING
from shopkit.testing_otlp import OtlpReceiver

PREFERRED_OFFSET = 11000
COUNTRY_HEADER = "CF-IPCountry"
CHECKOUT_CRASH_POINT = "after:authorise_payment"
CRASH_SWITCH = "checkout-crash.armed"  # in the stack's folder, next to its data folder
# First addresses of the shoppers' IPs (198.18.0.0/15, the benchmarking range): one per Shopper.
CLIENT_IPS = (ipaddress.ip_address("198.18.0.1") + n for n in itertools.count())
# The payment sandbox's issuing countries by BIN (cards outside its table are US cards).
CARD_BINS = {"US": "424242", "GB": "400000826", "NG": "400000566"}
ACTION_TIMEOUT_SECONDS = "15"
SANDBOX_AUTHORISATIONS = "sandbox_authorizations_total"  # the sandbox's counter of authorisations (not replays)

T = TypeVar("T")


def session_env(folder: Path, otlp: OtlpReceiver) -> dict[str, str]:
    return {
        # Every process exports its spans to the session's receiver (the tracing test reads them).
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms between batch exports (default 5000)
        "SHOP_GATEWAY_FORWARDED_HOPS": "1",  # one trusted proxy in front: the client is X-Forwarded-For's last hop
        "SHOP_GATEWAY_IP_COUNTRY_HEADER": COUNTRY_HEADER,
        "SHOP_CHECKOUT_FAULT_CRASH_AT": CHECKOUT_CRASH_POINT,
        "SHOP_CHECKOUT_FAULT_CRASH_ARMED_FILE": str(folder / CRASH_SWITCH),
        # A checkout waits this long for the shopper's 3-D Secure challenge (test_system_3ds.py waits it out).
        "SHOP_CHECKOUT_ACTION_TIMEOUT_SECONDS": ACTION_TIMEOUT_SECONDS,
        # Webhook retries in fractions of a second, dead after 3 (test_system_webhooks.py waits them out).
        "SHOP_NOTIFICATIONS_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "SHOP_NOTIFICATIONS_WEBHOOK_RETRY_MAX_SECONDS": "0.5",
        "SHOP_NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS": "3",
        "SHOP_NOTIFICATIONS_WEBHOOK_POLL_SECONDS": "0.2",
    }


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    """An OTLP/gRPC trace receiver in this test process."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver) -> Iterator[Stack]:
    """Every process as `shop-dev run` starts them, for the whole session."""
    folder = tmp_path_factory.mktemp("system")
    environment = session_env(folder, otlp)
    with launched(
        folder, preferred_offset=PREFERRED_OFFSET, env=environment, demo_products=TEST_DEMO_PRODUCTS
    ) as running:
        yield running


@pytest.fixture
def checkout_crash_switch(stack: Stack) -> Iterator[Path]:
    """Create this file and checkout SIGKILLs itself once, right after its next authorisation (it deletes the
    file first, so the process the launcher restarts goes on). Disarmed after the test whatever happened."""
    switch = stack.data_dir.parent / CRASH_SWITCH
    yield switch
    switch.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def http(stack: Stack) -> Iterator[httpx.Client]:
    """The clients' HTTP: the gateway in plain HTTP, the payment sandbox's public face over HTTPS, checked
    against the stack's CA alone and without a client certificate (as a shopper's browser tokenises)."""
    with httpx.Client(timeout=30.0, verify=stack.sandbox_context()) as client:
        yield client


class Shopper:
    """A signed-in customer talking to the gateway (and tokenising cards at the sandbox, as a browser would)."""

    def __init__(
        self,
        client: httpx.Client,
        stack: Stack,
        username: str,
        *,
        role: str = "customer",
        claims: Mapping[str, Any] | None = None,
        client_ip: str = "",
        ip_country: str = "",
        device_id: str = "",
    ) -> None:
        """`claims` go to the dev issuer (account_id, email, customer_since ...); a B2B shopper with an
        account_id joins its company first, where `tax_id`, `payment_terms_days`, `approval_limit` and
        `approval_period` go (the company's and the membership's data, not claims). The client's IP,
        its country (as the CDN reports it) and device id are sent with every request."""
        self.client = client
        self.stack = stack
        self.username = username
        claims = dict(claims or {})
        facts = {name: claims.pop(name) for name in (*COMPANY_FACTS, *MEMBER_FACTS) if name in claims}
        if role in ("b2b_buyer", "b2b_approver") and claims.get("account_id"):
            join_company(client, stack, str(claims["account_id"]), username, role, **facts)
        token = {"username": username, "role": role, **claims}
        issued = client.post(f"{stack.gateway_url}/v1/auth/token", json=token)
        assert issued.status_code == 200, issued.text
        self.headers = {"authorization": f"Bearer {issued.json()['access_token']}"}
        if client_ip:
            self.headers["x-forwarded-for"] = client_ip
        if ip_country:
            self.headers[COUNTRY_HEADER] = ip_country
        if device_id:
            self.headers["x-device-id"] = device_id

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(f"{self.stack.gateway_url}{path}", params=params, headers=self.headers)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> httpx.Response:
        return self.client.post(f"{self.stack.gateway_url}{path}", json=dict(body or {}), headers=self.headers)

    def add_to_cart(self, sku: str, quantity: int = 1) -> dict[str, Any]:
        response = self.client.post(
            f"{self.stack.gateway_url}/v1/cart/items", json={"sku": sku, "quantity": quantity}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        cart: dict[str, Any] = response.json()
        return cart

    def new_card(self, country: str = "US") -> str:
        """A payment method of a card of the shopper's own (a fresh number issued in `country`), so that
        card velocity counts this shopper only."""
        prefix = CARD_BINS[country] + "".join(random.choices("0123456789", k=15 - len(CARD_BINS[country])))
        return self.card(next(number for d in "0123456789" if luhn_valid(number := prefix + d)))

    def card(self, number: str) -> str:
        year = time.gmtime().tm_year + 2
        card = {"number": number, "exp_month": 12, "exp_year": year, "cvc": "123"}
        response = self.client.post(f"{self.stack.sandbox_url}/v1/payment_methods", json={"card": card})
        assert response.status_code == 201, response.text
        method_id: str = response.json()["id"]
        return method_id

    def checkout_request(
        self, payment_method: str, key: str, **fields: Any
    ) -> tuple[str, dict[str, Any], dict[str, str]]:
        """URL, body and headers of a `POST /v1/checkout` (so tests can send it from several threads).
        `fields` replace body fields (a None value leaves the field out)."""
        body = {
            "payment_method": payment_method,
            "shipping_address": ADDRESS,
            "fulfillment": {"method": "ship"},
            **fields,
        }
        body = {name: value for name, value in body.items() if value is not None}
        return f"{self.stack.gateway_url}/v1/checkout", body, {**self.headers, "Idempotency-Key": key}

    def checkout(self, payment_method: str, key: str | None = None, **fields: Any) -> httpx.Response:
        url, body, headers = self.checkout_request(payment_method, key or f"system-{uuid.uuid4().hex}", **fields)
        return self.client.post(url, json=body, headers=headers)


COMPANY_FACTS = ("tax_id", "payment_terms_days")
MEMBER_FACTS = ("approval_limit", "approval_period")


def join_company(
    client: httpx.Client,
    stack: Stack,
    account_id: str,
    user_id: str,
    role: str = "b2b_buyer",
    *,
    tax_id: str | None = None,
    payment_terms_days: int | None = None,
    approval_limit: Mapping[str, Any] | None = None,
    approval_period: str = "order",
) -> None:
    """Make `user_id` a member of `account_id`'s company through the admin routes (the company is
    created when new: net 30, USD); the company facts given change it."""
    issued = client.post(f"{stack.gateway_url}/v1/auth/token", json={"username": "system-admin", "role": "admin"})
    assert issued.status_code == 200, issued.text
    admin = {"authorization": f"Bearer {issued.json()['access_token']}"}
    companies = f"{stack.gateway_url}/v1/admin/companies"
    company = {"account_id": account_id, "name": account_id, "payment_terms_days": 30}
    company["credit_limit"] = {"amount": 0, "currency": "USD"}
    created = client.post(companies, json=company, headers={**admin, "Idempotency-Key": f"company-{account_id}"})
    assert created.status_code in (201, 409), created.text  # 409: it exists (the demo seed's acme-corp)
    change = {k: v for k, v in (("tax_id", tax_id), ("payment_terms_days", payment_terms_days)) if v is not None}
    if change:
        changed = client.patch(f"{companies}/{account_id}", json=change, headers=admin)
        assert changed.status_code == 200, changed.text
    member: dict[str, Any] = {"user_id": user_id, "role": "approver" if role == "b2b_approver" else "buyer"}
    if approval_limit is not None and approval_period == "order":
        member["order_limit"] = dict(approval_limit)
    elif approval_limit is not None:
        member |= {"period_limit": dict(approval_limit), "limit_period": approval_period}
    key = {"Idempotency-Key": f"member-{account_id}-{user_id}"}
    added = client.post(f"{companies}/{account_id}/members", json=member, headers={**admin, **key})
    assert added.status_code == 201, added.text


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0


ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Main St",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}


class JoinCompany(Protocol):
    def __call__(self, account_id: str, user_id: str, role: str = "b2b_buyer") -> None: ...


@pytest.fixture(scope="session")
def join(stack: Stack, http: httpx.Client) -> JoinCompany:
    """Make a user a member of an account's company (for B2B tokens minted outside `Shopper`)."""

    def make(account_id: str, user_id: str, role: str = "b2b_buyer") -> None:
        join_company(http, stack, account_id, user_id, role)

    return make


class NewShopper(Protocol):
    def __call__(
        self,
        label: str,
        *,
        role: str = "customer",
        claims: Mapping[str, Any] | None = None,
        ip_country: str = "",
    ) -> Shopper: ...


@pytest.fixture
def new_shopper(stack: Stack, http: httpx.Client) -> NewShopper:
    """A factory of fresh customers: every test gets its own carts and orders, and every shopper its own IP
    and device (e.g. `new_shopper("analyst", role="fraud_analyst")`)."""

    def make(
        label: str,
        *,
        role: str = "customer",
        claims: Mapping[str, Any] | None = None,
        ip_country: str = "",
    ) -> Shopper:
        username = f"system-{label}-{uuid.uuid4().hex[:10]}"
        ip, device = str(next(CLIENT_IPS)), f"device-{uuid.uuid4().hex}"
        return Shopper(
            http, stack, username, role=role, claims=claims, client_ip=ip, ip_country=ip_country, device_id=device
        )

    return make


def eventually(read: Callable[[], T], done: Callable[[T], bool], within: float = 10.0, interval: float = 0.1) -> T:
    """Poll `read` until `done` holds for its value, which is returned; AssertionError with the last value
    after `within` seconds (for effects that arrive by event or by a background saga)."""
    deadline = time.monotonic() + within
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {within} s")
        time.sleep(interval)


class Backstage:
    """What happened behind the gateway, read where each fact lives: stock per location (inventory), orders
    with their payment and history and checkouts with their steps (as tooling, over the services' gRPC ports),
    authorisations at the payment sandbox (its server face, with the tooling certificate), and the launcher's
    process table. It only reads."""

    eventually = staticmethod(eventually)

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.sandbox = stack.sandbox_client(TOOLING)
        self._channels: list[grpc.Channel] = []
        self.inventory = inventory_pb2_grpc.InventoryServiceStub(self._channel("inventory"))
        self.orders = order_pb2_grpc.OrderServiceStub(self._channel("order"))
        self.checkouts = checkout_pb2_grpc.CheckoutServiceStub(self._channel("checkout"))

    def _channel(self, service: str) -> grpc.Channel:
        channel = self.stack.service_channel(service)
        self._channels.append(channel)
        return channel

    def close(self) -> None:
        for channel in self._channels:
            channel.close()
        self.sandbox.close()

    def stock(self, sku: str) -> dict[str, int]:
        """Available units of a SKU per active location (warehouses and stores)."""
        response = self.inventory.GetAvailability(inventory_pb2.GetAvailabilityRequest(skus=[sku]), timeout=10)
        [found] = response.skus
        return {location.location_id: location.available for location in found.locations}

    def order(self, order_id: str) -> order_pb2.Order:
        request = order_pb2.GetOrderRequest(order_id=order_id, view=order_pb2.ORDER_VIEW_FULL)
        return self.orders.GetOrder(request, timeout=10).order

    def deliver(self, order_id: str, tracking_number: str = "1Z999") -> order_pb2.Order:
        """The whole order shipped by the warehouse (which captures the payment), once it is captured."""
        order = self.order(order_id)
        self.orders.FulfilOrder(
            order_pb2.FulfilOrderRequest(
                order_id=order_id,
                request_id=str(uuid.uuid4()),
                lines=[order_pb2.LineQuantity(line_id=line.line_id, quantity=line.quantity) for line in order.lines],
                carrier="UPS",
                tracking_number=tracking_number,
            ),
            timeout=10,
        )
        return eventually(
            lambda: self.order(order_id), lambda o: o.payment_status == order_pb2.PAYMENT_STATUS_CAPTURED, within=15
        )

    def checkout(self, checkout_id: str) -> checkout_pb2.Checkout:
        request = checkout_pb2.GetCheckoutRequest(checkout_id=checkout_id)
        return self.checkouts.GetCheckout(request, timeout=10).checkout

    def authorization(self, authorization_id: str) -> dict[str, Any]:
        """The payment sandbox's record of an authorisation (status, amounts, captures, metadata)."""
        response = self.sandbox.get(f"/v1/authorizations/{authorization_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def authorizations_made(self) -> int:
        """Authorisations the sandbox has made since it started (its counter leaves replays out)."""
        metrics = self.sandbox.get("/metrics")
        assert metrics.status_code == 200, metrics.text
        lines = metrics.text.splitlines()
        return sum(
            int(float(line.rpartition(" ")[2])) for line in lines if line.partition("{")[0] == SANDBOX_AUTHORISATIONS
        )

    def process(self, name: str) -> dict[str, Any]:
        """The launcher's row of a process: health, pid, restarts."""
        rows = {row["name"]: row for row in read_state(self.stack.data_dir).get("rows", [])}
        row: dict[str, Any] = rows[name]
        return row


@pytest.fixture(scope="session")
def backstage(stack: Stack) -> Iterator[Backstage]:
    inside = Backstage(stack)
    yield inside
    inside.close()


def browser_headers(stack: Stack, http: httpx.Client) -> dict[str, str]:
    """A customer's bearer token for browsing the catalog."""
    issued = http.post(f"{stack.gateway_url}/v1/auth/token", json={"username": "system-browser", "role": "customer"})
    assert issued.status_code == 200, issued.text
    return {"authorization": f"Bearer {issued.json()['access_token']}"}


def search(stack: Stack, http: httpx.Client, query: str, page_size: int) -> list[dict[str, Any]]:
    """The first page (up to `page_size` products) of the catalog search `query`, which must find something."""
    params: dict[str, Any] = {"query": query, "page_size": page_size}
    found = http.get(f"{stack.gateway_url}/v1/products", params=params, headers=browser_headers(stack, http))
    assert found.status_code == 200, found.text
    products: list[dict[str, Any]] = found.json()["products"]
    assert 1 <= len(products) <= page_size, found.text
    return products


# What a company's buyer searches for: the b2b channel sells boots among the test stacks' demo products
# (its trail runners come later in the catalogue).
B2B_SEARCH = "boot"


def _b2b_variants(buyer: Shopper, shippable: int) -> list[dict[str, Any]]:
    """Variants a company's buyer may order (the search `B2B_SEARCH` in their channel, at their account's
    prices) with a price and at least `shippable` units to ship, in the search's order; never empty."""
    found = buyer.get("/v1/products", query=B2B_SEARCH, page_size=20)
    assert found.status_code == 200, found.text
    variants: list[dict[str, Any]] = []
    for summary in found.json()["products"]:
        page = buyer.get(f"/v1/products/{summary['id']}")
        assert page.status_code == 200, page.text
        variants.extend(
            dict(v)
            for v in page.json()["variants"]
            if v["price"] and v["availability"] and v["availability"]["ship_available"] >= shippable
        )
    assert variants, f"no {B2B_SEARCH!r} variant with {shippable} units to ship: {found.text}"
    return variants


B2bVariants = Callable[[Shopper, int], list[dict[str, Any]]]


@pytest.fixture(scope="session")
def b2b_variants() -> B2bVariants:
    """`b2b_variants(buyer, shippable)`: what a company's buyer may order, priced and with stock."""
    return _b2b_variants


@pytest.fixture(scope="session")
def trail_product(stack: Stack, http: httpx.Client) -> dict[str, Any]:
    """The first product the search `trail` finds, as its product page shows it (variants with availability)."""
    headers = browser_headers(stack, http)
    [first] = search(stack, http, "trail", 1)
    page = http.get(f"{stack.gateway_url}/v1/products/{first['id']}", headers=headers)
    assert page.status_code == 200, page.text
    product: dict[str, Any] = page.json()
    assert len(product["variants"]) >= 1
    return product


@pytest.fixture(scope="session")
def pricey_variant(stack: Stack, http: httpx.Client) -> dict[str, Any]:
    """The priciest variant the search `trail` finds (the products are seeded from a fixed seed)."""
    variants = [v for p in search(stack, http, "trail", 20) for v in p["variants"] if v["price"]]
    variant: dict[str, Any] = max(variants, key=lambda v: v["price"]["amount"])
    return variant
