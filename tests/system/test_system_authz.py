"""The authorisation matrix: every route of the gateway's OpenAPI document, sent by every kind of caller,
answers what tests/authz/matrix.csv says (an exact status, or a class such as `2xx`).

The callers: anonymous, a customer (who owns the orders and checkout used below), another customer, a B2B
buyer of another account, a B2B approver (of an account the customer's orders are not in), a fraud analyst
and an admin. Each route has one request, built to reach the route's authorisation decision: the customer's
real order and checkout where ownership decides, an id nobody owns where only the role does, valid bodies
(a wrong body would answer 400 before a role check). Writes touch only what this module creates.

The test fails on a route of the document missing from the table, on a row the document no longer has and
on any cell that differs. After a deliberate change, `SHOP_AUTHZ_WRITE=1` rewrites the table from the
document and the answers seen: review its diff like code, every changed cell is a change of who may do what.
"""

from __future__ import annotations

import csv
import ipaddress
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from shop_devstack.harness import Stack

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode)
    from conftest import JoinCompany

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(600),
]

MATRIX = Path(__file__).parents[1] / "authz" / "matrix.csv"
PRINCIPALS = (
    "anonymous",
    "customer",
    "other_customer",
    "b2b_other_account",
    "b2b_approver",
    "fraud_analyst",
    "admin",
)
FIRST_IP = ipaddress.ip_address("198.19.240.1")  # the benchmarking range, far from the other system tests' IPs
US_BIN = "424242"  # the payment sandbox approves its cards
RATE_LIMITED_TRIES = 5
ADDRESS = {"name": "Ada Lovelace", "line1": "1 Main St", "city": "Springfield", "postal_code": "62701", "country": "US"}
Route = tuple[str, str]  # (method, path template)
RULE_NOBODY_HAS = "ar_00000000000000000000"


@dataclass
class Caller:
    name: str
    headers: dict[str, str]


@dataclass
class Call:
    """One request; `before` runs first as the same caller, whatever it answers (e.g. it puts in the cart
    the line a PATCH changes). `method` is for `before` (a route's own call has the route's method)."""

    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    before: Call | None = None
    method: str = ""


@dataclass
class World:
    """What the requests name: a product, SKU and location of this module's own; the customer's orders
    (one for the admin to cancel, one for everyone else) and checkout; a product the admin may discontinue."""

    callers: dict[str, Caller]
    category: str
    product_id: str
    sku: str
    location_id: str
    checkout_id: str
    order_id: str
    admins_order_id: str
    doomed_product_id: str
    card_token: str = ""  # a payment method nobody saved yet: the first shopper to save it owns it


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def callers(stack: Stack, http: httpx.Client, join: JoinCompany) -> dict[str, Caller]:
    tokens: dict[str, dict[str, Any]] = {
        "customer": {"role": "customer"},
        "other_customer": {"role": "customer"},
        "b2b_other_account": {"role": "b2b_buyer", "account_id": unique("globex")},
        "b2b_approver": {"role": "b2b_approver", "account_id": unique("acme")},
        "fraud_analyst": {"role": "fraud_analyst"},
        "admin": {"role": "admin"},
    }
    found = {}
    for number, name in enumerate(PRINCIPALS):
        headers = {"x-forwarded-for": str(FIRST_IP + number), "x-device-id": unique("authz-device")}
        if name in tokens:
            body = {"username": unique(f"authz-{name}"), **tokens[name]}
            if "account_id" in body:  # B2B users are members of their account's company
                join(body["account_id"], body["username"], body["role"])
            issued = http.post(f"{stack.gateway_url}/v1/auth/token", json=body)
            assert issued.status_code == 200, issued.text
            headers["authorization"] = f"Bearer {issued.json()['access_token']}"
        found[name] = Caller(name, headers)
    return found


def send(stack: Stack, http: httpx.Client, method: str, who: Caller, call: Call) -> httpx.Response:
    """The answer to the call; a 429 is waited out as its Retry-After says (the matrix is about who may
    call a route, and one caller's many requests here can reach the gateway's per-caller limits)."""
    if call.before is not None:
        send(stack, http, call.before.method, who, call.before)
    for _ in range(RATE_LIMITED_TRIES):
        response = http.request(
            method,
            f"{stack.gateway_url}{call.path}",
            params=call.params,
            json=call.json,
            headers={**who.headers, **call.headers},
        )
        if response.status_code != 429:
            break
        time.sleep(min(float(response.headers.get("retry-after", "1")), 5.0))
    return response


def fresh_card() -> str:
    """A card number of this module's own, so the fraud service's card velocity counts no other test's orders."""
    body = US_BIN + "".join(random.choices("0123456789", k=9))
    for check in "0123456789":
        digits = [int(d) for d in reversed(body + check)]
        if sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0:
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


def card_details() -> dict[str, Any]:
    return {"number": fresh_card(), "exp_month": 12, "exp_year": 2040, "cvc": "123"}


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.is_success, response.text
    body: dict[str, Any] = response.json()
    return body


def create_product(stack: Stack, http: httpx.Client, admin: Caller, category: str, sku: str) -> str:
    body = {"name": unique("Authz item"), "category": category, "variants": [{"sku": sku}]}
    return str(ok(send(stack, http, "POST", admin, Call("/v1/products", body)))["id"])


def place_order(stack: Stack, http: httpx.Client, customer: Caller, sku: str) -> dict[str, Any]:
    ok(send(stack, http, "POST", customer, Call("/v1/cart/items", {"sku": sku, "quantity": 1})))
    method = ok(http.post(f"{stack.sandbox_url}/v1/payment_methods", json={"card": card_details()}))["id"]
    body = {"payment_method": method, "shipping_address": ADDRESS, "fulfillment": {"method": "ship"}}
    placed = ok(
        send(stack, http, "POST", customer, Call("/v1/checkout", body, headers={"Idempotency-Key": unique("k")}))
    )
    assert placed["status"] == "completed" and placed["order_id"], placed
    return placed


@pytest.fixture(scope="module")
def world(stack: Stack, http: httpx.Client, join: JoinCompany) -> World:
    people = callers(stack, http, join)
    admin = people["admin"]
    category = unique("authz")
    ok(send(stack, http, "POST", admin, Call("/v1/categories", {"slug": category, "name": "Authz"})))
    sku, doomed_sku = unique("AUTHZ").upper(), unique("AUTHZ").upper()
    product_id = create_product(stack, http, admin, category, sku)
    doomed_product_id = create_product(stack, http, admin, category, doomed_sku)
    price = {"sku": sku, "price": {"amount": 1500, "currency": "USD"}}
    ok(send(stack, http, "PUT", admin, Call("/v1/prices", {"prices": [price]})))
    demo_sku = ok(http.get(f"{stack.gateway_url}/v1/products", params={"query": "trail", "page_size": 1}))
    levels = ok(
        send(
            stack, http, "GET", admin, Call("/v1/stock", params={"sku": demo_sku["products"][0]["variants"][0]["sku"]})
        )
    )
    locations = sorted({level["location_id"] for level in levels["stock"]})
    entries = [{"sku": sku, "location_id": location, "on_hand": 100} for location in locations]
    ok(send(stack, http, "PUT", admin, Call("/v1/stock", {"entries": entries, "reason": "authz matrix"})))
    first = place_order(stack, http, people["customer"], sku)
    second = place_order(stack, http, people["customer"], sku)
    return World(
        people,
        category,
        product_id,
        sku,
        locations[0],
        first["checkout_id"],
        first["order_id"],
        second["order_id"],
        doomed_product_id,
        card_token=ok(http.post(f"{stack.sandbox_url}/v1/payment_methods", json={"card": card_details()}))["id"],
    )


def requests(world: World, who: str) -> dict[Route, Callable[[], Call]]:
    """The request of every route the table knows, for caller `who`."""
    line = Call("/v1/cart/items", {"sku": world.sku, "quantity": 1}, method="POST")
    no_line = Call(f"/v1/cart/items/{world.sku}", method="DELETE")
    order = world.admins_order_id if who == "admin" else world.order_id  # a cancel that is allowed cancels one
    nobodys = str(uuid.uuid4())
    checkout_body = {"payment_method": "invoice", "shipping_address": ADDRESS, "fulfillment": {"method": "ship"}}
    return {
        ("GET", "/v1/products"): lambda: Call("/v1/products", params={"query": "trail"}),
        ("GET", "/v1/products/{product_id}"): lambda: Call(f"/v1/products/{world.product_id}"),
        ("GET", "/v1/categories"): lambda: Call("/v1/categories"),
        ("GET", "/v1/stores"): lambda: Call("/v1/stores"),
        ("GET", "/v1/cart"): lambda: Call("/v1/cart"),
        ("POST", "/v1/cart/items"): lambda: Call("/v1/cart/items", {"sku": world.sku, "quantity": 1}),
        ("PATCH", "/v1/cart/items/{sku}"): lambda: Call(f"/v1/cart/items/{world.sku}", {"quantity": 2}, before=line),
        ("DELETE", "/v1/cart/items/{sku}"): lambda: Call(f"/v1/cart/items/{world.sku}", before=line),
        ("POST", "/v1/cart/coupon"): lambda: Call("/v1/cart/coupon", {"code": "NO-SUCH-COUPON"}),
        ("DELETE", "/v1/cart/coupon"): lambda: Call("/v1/cart/coupon"),
        ("GET", "/v1/cart/shipping-options"): lambda: Call(
            "/v1/cart/shipping-options", params={"country": "US", "region": "CA"}, before=line
        ),
        # Guests: anyone without a token starts a cart; a merge names a guest cart nobody has (404 shows
        # the shopper got through).
        ("POST", "/v1/guest-carts"): lambda: Call("/v1/guest-carts", {}),
        ("POST", "/v1/cart/merge"): lambda: Call("/v1/cart/merge", headers={"X-Cart-Token": nobodys}),
        # An empty cart: the answer shows the role check passed, and nothing is bought.
        ("POST", "/v1/checkout"): lambda: Call(
            "/v1/checkout", checkout_body, headers={"Idempotency-Key": unique("authz")}, before=no_line
        ),
        ("GET", "/v1/checkout/{checkout_id}"): lambda: Call(f"/v1/checkout/{world.checkout_id}"),
        ("GET", "/v1/orders"): lambda: Call("/v1/orders"),
        ("GET", "/v1/orders/{order_id}"): lambda: Call(f"/v1/orders/{world.order_id}"),
        ("POST", "/v1/orders/{order_id}/cancel"): lambda: Call(f"/v1/orders/{order}/cancel", {"note": "authz"}),
        # Returns: the customer's order was never delivered (409 shows the owner got through); a return
        # nobody has for store staff's steps (404 shows the role check passed).
        ("POST", "/v1/orders/{order_id}/returns"): lambda: Call(
            f"/v1/orders/{world.order_id}/returns",
            {"lines": [{"line_id": nobodys, "quantity": 1}], "reason": "changed_mind", "method": "mail"},
            headers={"Idempotency-Key": unique("authz")},
        ),
        ("GET", "/v1/orders/{order_id}/returns"): lambda: Call(f"/v1/orders/{world.order_id}/returns"),
        ("GET", "/v1/returns/{return_id}"): lambda: Call(f"/v1/returns/{nobodys}"),
        ("POST", "/v1/returns/{return_id}/receive"): lambda: Call(
            f"/v1/returns/{nobodys}/receive", {"location_id": world.location_id}
        ),
        ("POST", "/v1/returns/{return_id}/inspect"): lambda: Call(
            f"/v1/returns/{nobodys}/inspect",
            {"lines": [{"line_id": nobodys, "accepted_sellable": 1}]},
            headers={"Idempotency-Key": unique("authz")},
        ),
        # Guests' orders: the order token decides, never the role (none is sent: 401 for everyone); a
        # lookup of a number nobody has is 404 for everyone (a number per call: lookups of one number
        # are limited).
        ("POST", "/v1/guest-orders/lookup"): lambda: Call(
            "/v1/guest-orders/lookup",
            {"order_number": f"SO-{uuid.uuid4().int % 10**12:012d}", "email": "nobody@example.test"},
        ),
        ("GET", "/v1/guest-orders/{order_id}"): lambda: Call(f"/v1/guest-orders/{world.order_id}"),
        ("POST", "/v1/guest-orders/{order_id}/returns"): lambda: Call(
            f"/v1/guest-orders/{world.order_id}/returns",
            {"lines": [{"line_id": nobodys, "quantity": 1}], "reason": "changed_mind", "method": "mail"},
            headers={"Idempotency-Key": unique("authz")},
        ),
        ("GET", "/v1/guest-orders/{order_id}/returns"): lambda: Call(f"/v1/guest-orders/{world.order_id}/returns"),
        ("GET", "/v1/approvals"): lambda: Call("/v1/approvals"),
        ("POST", "/v1/orders/{order_id}/approve"): lambda: Call(f"/v1/orders/{world.order_id}/approve", {}),
        ("POST", "/v1/orders/{order_id}/reject"): lambda: Call(f"/v1/orders/{world.order_id}/reject", {"note": "no"}),
        ("GET", "/v1/reviews"): lambda: Call("/v1/reviews"),
        ("POST", "/v1/reviews/{review_id}/approve"): lambda: Call(f"/v1/reviews/{nobodys}/approve", {}),
        ("POST", "/v1/reviews/{review_id}/reject"): lambda: Call(f"/v1/reviews/{nobodys}/reject", {"note": "no"}),
        ("POST", "/v1/categories"): lambda: Call("/v1/categories", {"slug": unique("authz"), "name": "Authz"}),
        ("POST", "/v1/products"): lambda: Call(
            "/v1/products",
            {"name": "Authz extra", "category": world.category, "variants": [{"sku": unique("AZ").upper()}]},
        ),
        ("POST", "/v1/products/{product_id}/discontinue"): lambda: Call(
            f"/v1/products/{world.doomed_product_id}/discontinue"
        ),
        ("PUT", "/v1/prices"): lambda: Call(
            "/v1/prices", {"prices": [{"sku": world.sku, "price": {"amount": 1500, "currency": "USD"}}]}
        ),
        ("GET", "/v1/stock"): lambda: Call("/v1/stock", params={"sku": world.sku}),
        ("PUT", "/v1/stock"): lambda: Call(
            "/v1/stock", {"entries": [{"sku": world.sku, "location_id": world.location_id, "on_hand": 100}]}
        ),
        # The back office: an order nobody has for the writes (404 shows the role check passed).
        ("GET", "/v1/admin/orders"): lambda: Call("/v1/admin/orders", params={"customer_id": "authz-nobody"}),
        ("GET", "/v1/admin/orders/{order_id}"): lambda: Call(f"/v1/admin/orders/{world.order_id}"),
        ("POST", "/v1/admin/orders/{order_id}/fulfilments"): lambda: Call(
            f"/v1/admin/orders/{nobodys}/fulfilments",
            {"lines": [{"line_id": nobodys, "quantity": 1}]},
            headers={"Idempotency-Key": unique("authz")},
        ),
        ("POST", "/v1/admin/orders/{order_id}/refunds"): lambda: Call(
            f"/v1/admin/orders/{nobodys}/refunds", {"reason": "authz"}, headers={"Idempotency-Key": unique("authz")}
        ),
        # An inactive warehouse of this module's own; a location nobody has for the change.
        ("POST", "/v1/admin/locations"): lambda: Call(
            "/v1/admin/locations",
            {"location_id": unique("authz-wh"), "type": "warehouse", "name": "Authz", "country": "US", "active": False},
        ),
        ("GET", "/v1/admin/locations"): lambda: Call("/v1/admin/locations"),
        ("PATCH", "/v1/admin/locations/{location_id}"): lambda: Call(
            f"/v1/admin/locations/{unique('authz-nowhere')}", {"priority": 1}
        ),
        ("GET", "/v1/admin/locations/{location_id}"): lambda: Call(f"/v1/admin/locations/{world.location_id}"),
        ("POST", "/v1/admin/stock/restocks"): lambda: Call(
            "/v1/admin/stock/restocks",
            {"entries": [{"sku": world.sku, "location_id": world.location_id, "quantity": 1}]},
            headers={"Idempotency-Key": unique("authz")},
        ),
        ("POST", "/v1/admin/stock/adjustments"): lambda: Call(
            "/v1/admin/stock/adjustments",
            {"sku": world.sku, "location_id": world.location_id, "delta": 1, "reason": "authz"},
            headers={"Idempotency-Key": unique("authz")},
        ),
        ("GET", "/v1/reviews/{review_id}"): lambda: Call(f"/v1/reviews/{nobodys}"),
        # Personal data: a shopper's own export; an erasure without its key (400 shows the shopper got
        # through, and nobody of the world is erased); an admin's of a customer nobody is (nothing changes).
        ("GET", "/v1/me/export"): lambda: Call("/v1/me/export"),
        ("DELETE", "/v1/me"): lambda: Call("/v1/me"),
        ("GET", "/v1/admin/customers/{customer_id}/export"): lambda: Call(
            f"/v1/admin/customers/{unique('authz-nobody')}/export"
        ),
        ("POST", "/v1/admin/customers/{customer_id}/erase"): lambda: Call(
            f"/v1/admin/customers/{unique('authz-nobody')}/erase", headers={"Idempotency-Key": unique("authz")}
        ),
        # Pricing: inactive or disabled resources of this module's own, ids nobody has for changes and reads.
        ("POST", "/v1/admin/price-lists"): lambda: Call(
            "/v1/admin/price-lists", {"id": unique("authz"), "name": "Authz", "kind": "sale", "active": False}
        ),
        ("PUT", "/v1/admin/price-lists/{price_list_id}"): lambda: Call(
            f"/v1/admin/price-lists/{unique('nobody')}", {"id": "authz", "name": "Authz", "kind": "sale"}
        ),
        ("GET", "/v1/admin/price-lists"): lambda: Call("/v1/admin/price-lists"),
        ("GET", "/v1/admin/price-lists/{price_list_id}"): lambda: Call(f"/v1/admin/price-lists/{unique('nobody')}"),
        ("PUT", "/v1/admin/price-lists/{price_list_id}/entries"): lambda: Call(
            f"/v1/admin/price-lists/{unique('nobody')}/entries",
            {
                "entries": [
                    {"sku": world.sku, "tiers": [{"min_quantity": 1, "unit_price": {"amount": 1, "currency": "USD"}}]}
                ]
            },
        ),
        ("DELETE", "/v1/admin/price-lists/{price_list_id}/entries"): lambda: Call(
            f"/v1/admin/price-lists/{unique('nobody')}/entries", params={"sku": world.sku}
        ),
        ("POST", "/v1/admin/promotions"): lambda: Call(
            "/v1/admin/promotions",
            {
                "id": unique("authz"),
                "name": "Authz",
                "kind": "percent",
                "percent_bp": 100,
                "target": "order",
                "active": False,
            },
        ),
        ("GET", "/v1/admin/promotions"): lambda: Call("/v1/admin/promotions"),
        ("POST", "/v1/admin/coupons"): lambda: Call(
            "/v1/admin/coupons", {"code": unique("AUTHZ").upper(), "promotion_id": unique("nobody")}
        ),
        ("GET", "/v1/admin/coupons/{code}"): lambda: Call(f"/v1/admin/coupons/{unique('NOBODY').upper()}"),
        # A pair no price of the stack is in.
        ("PUT", "/v1/admin/exchange-rates/{base_currency}/{quote_currency}"): lambda: Call(
            "/v1/admin/exchange-rates/USD/ISK", {"rate": "138.5"}
        ),
        ("GET", "/v1/admin/exchange-rates"): lambda: Call("/v1/admin/exchange-rates"),
        ("PUT", "/v1/admin/dynamic-rules/{rule_id}"): lambda: Call(
            f"/v1/admin/dynamic-rules/{unique('authz')}",
            {"name": "Authz", "skus": [unique("AUTHZ-NONE")], "low_stock_threshold": 1, "enabled": False},
        ),
        ("DELETE", "/v1/admin/dynamic-rules/{rule_id}"): lambda: Call(f"/v1/admin/dynamic-rules/{unique('nobody')}"),
        ("GET", "/v1/admin/dynamic-rules"): lambda: Call("/v1/admin/dynamic-rules"),
        ("GET", "/v1/admin/price-changes"): lambda: Call("/v1/admin/price-changes", params={"sku": world.sku}),
        # An upload of one line (a JSON string, not a product: the import reports it and creates nothing).
        ("POST", "/v1/admin/product-imports"): lambda: Call("/v1/admin/product-imports", "authz"),
        ("GET", "/v1/admin/product-imports"): lambda: Call("/v1/admin/product-imports"),
        ("GET", "/v1/admin/product-imports/{import_id}"): lambda: Call(f"/v1/admin/product-imports/{nobodys}"),
        ("GET", "/v1/admin/product-imports/{import_id}/lines"): lambda: Call(
            f"/v1/admin/product-imports/{nobodys}/lines"
        ),
        # ERP feeds of one line (a JSON string, not a stock or price line: reported failed, nothing changes).
        ("POST", "/v1/admin/stock-feeds"): lambda: Call(
            "/v1/admin/stock-feeds", "authz", headers={"Feed-Id": unique("authz-stock")}
        ),
        ("GET", "/v1/admin/stock-feeds/{id}"): lambda: Call(f"/v1/admin/stock-feeds/{nobodys}"),
        ("GET", "/v1/admin/stock-feeds/{id}/lines"): lambda: Call(f"/v1/admin/stock-feeds/{nobodys}/lines"),
        ("POST", "/v1/admin/price-feeds"): lambda: Call(
            "/v1/admin/price-feeds", "authz", headers={"Feed-Id": unique("authz-price")}
        ),
        ("GET", "/v1/admin/price-feeds/{id}"): lambda: Call(f"/v1/admin/price-feeds/{nobodys}"),
        ("GET", "/v1/admin/price-feeds/{id}/lines"): lambda: Call(f"/v1/admin/price-feeds/{nobodys}/lines"),
        # A rebuild of the search projection is safe at any time (it never undoes a newer change).
        ("POST", "/v1/admin/search-projection/rebuild"): lambda: Call("/v1/admin/search-projection/rebuild"),
        ("GET", "/v1/admin/search-projection"): lambda: Call("/v1/admin/search-projection"),
        # Outbound webhooks: one subscribed to a rare event type at an address nothing listens on; ids
        # nobody has for the rest (404 for admins).
        ("POST", "/v1/admin/webhooks"): lambda: Call(
            "/v1/admin/webhooks",
            {"url": "https://hooks.example.com/authz", "event_types": ["shop.order.return_inspected"]},
        ),
        ("GET", "/v1/admin/webhooks"): lambda: Call("/v1/admin/webhooks"),
        ("GET", "/v1/admin/webhooks/{webhook_id}"): lambda: Call(f"/v1/admin/webhooks/{nobodys}"),
        ("PATCH", "/v1/admin/webhooks/{webhook_id}"): lambda: Call(f"/v1/admin/webhooks/{nobodys}", {"active": False}),
        ("POST", "/v1/admin/webhooks/{webhook_id}/rotate-secret"): lambda: Call(
            f"/v1/admin/webhooks/{nobodys}/rotate-secret"
        ),
        ("GET", "/v1/admin/webhooks/{webhook_id}/deliveries"): lambda: Call(f"/v1/admin/webhooks/{nobodys}/deliveries"),
        ("POST", "/v1/admin/webhooks/{webhook_id}/deliveries/replay"): lambda: Call(
            f"/v1/admin/webhooks/{nobodys}/deliveries/replay"
        ),
        ("POST", "/v1/admin/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"): lambda: Call(
            f"/v1/admin/webhooks/{nobodys}/deliveries/{nobodys}/replay"
        ),
        # Integration clients: admins only; a client of this module's own, and one nobody has.
        ("POST", "/v1/admin/integration-clients"): lambda: Call(
            "/v1/admin/integration-clients", {"name": "Authz", "scopes": ["catalog:read"]}
        ),
        ("GET", "/v1/admin/integration-clients"): lambda: Call("/v1/admin/integration-clients"),
        ("GET", "/v1/admin/integration-clients/{client_id}"): lambda: Call("/v1/admin/integration-clients/ic_nobody"),
        ("POST", "/v1/admin/integration-clients/{client_id}/rotate-secret"): lambda: Call(
            "/v1/admin/integration-clients/ic_nobody/rotate-secret", {}
        ),
        ("POST", "/v1/admin/integration-clients/{client_id}/revoke"): lambda: Call(
            "/v1/admin/integration-clients/ic_nobody/revoke"
        ),
        # B2B companies: admins create one of this module's own and read, change and manage members of
        # one nobody has (404); /v1/company is for a company's company_admin members (none of the callers).
        ("POST", "/v1/admin/companies"): lambda: Call(
            "/v1/admin/companies",
            {"account_id": unique("authz-co"), "name": "Authz", "credit_limit": {"amount": 0, "currency": "USD"}},
            headers={"Idempotency-Key": unique("authz-company")},
        ),
        ("GET", "/v1/admin/companies"): lambda: Call("/v1/admin/companies"),
        ("GET", "/v1/admin/companies/{account_id}"): lambda: Call("/v1/admin/companies/nobodys-company"),
        ("PATCH", "/v1/admin/companies/{account_id}"): lambda: Call(
            "/v1/admin/companies/nobodys-company", {"payment_terms_days": 30}
        ),
        ("POST", "/v1/admin/companies/{account_id}/members"): lambda: Call(
            "/v1/admin/companies/nobodys-company/members",
            {"user_id": "someone", "role": "buyer"},
            headers={"Idempotency-Key": unique("authz-member")},
        ),
        ("PATCH", "/v1/admin/companies/{account_id}/members/{user_id}"): lambda: Call(
            "/v1/admin/companies/nobodys-company/members/someone", {"role": "approver"}
        ),
        ("DELETE", "/v1/admin/companies/{account_id}/members/{user_id}"): lambda: Call(
            "/v1/admin/companies/nobodys-company/members/someone"
        ),
        ("GET", "/v1/company"): lambda: Call("/v1/company"),
        ("POST", "/v1/company/members"): lambda: Call(
            "/v1/company/members",
            {"user_id": "someone", "role": "buyer"},
            headers={"Idempotency-Key": unique("authz-own")},
        ),
        ("PATCH", "/v1/company/members/{user_id}"): lambda: Call("/v1/company/members/someone", {"role": "approver"}),
        ("DELETE", "/v1/company/members/{user_id}"): lambda: Call("/v1/company/members/someone"),
        # Approval rules: admins for a company nobody has (404), company_admin members for their own.
        ("GET", "/v1/admin/companies/{account_id}/approval-rules"): lambda: Call(
            "/v1/admin/companies/nobodys-company/approval-rules"
        ),
        ("POST", "/v1/admin/companies/{account_id}/approval-rules"): lambda: Call(
            "/v1/admin/companies/nobodys-company/approval-rules",
            {"name": "Authz head"},
            headers={"Idempotency-Key": unique("authz-rule")},
        ),
        ("PUT", "/v1/admin/companies/{account_id}/approval-rules/{rule_id}"): lambda: Call(
            f"/v1/admin/companies/nobodys-company/approval-rules/{RULE_NOBODY_HAS}", {"name": "Authz head"}
        ),
        ("DELETE", "/v1/admin/companies/{account_id}/approval-rules/{rule_id}"): lambda: Call(
            f"/v1/admin/companies/nobodys-company/approval-rules/{RULE_NOBODY_HAS}"
        ),
        ("GET", "/v1/company/approval-rules"): lambda: Call("/v1/company/approval-rules"),
        ("POST", "/v1/company/approval-rules"): lambda: Call(
            "/v1/company/approval-rules", {"name": "Authz head"}, headers={"Idempotency-Key": unique("authz-rule")}
        ),
        ("PUT", "/v1/company/approval-rules/{rule_id}"): lambda: Call(
            f"/v1/company/approval-rules/{RULE_NOBODY_HAS}", {"name": "Authz head"}
        ),
        ("DELETE", "/v1/company/approval-rules/{rule_id}"): lambda: Call(
            f"/v1/company/approval-rules/{RULE_NOBODY_HAS}"
        ),
        # Sales quotes: B2B buyers ask on a cart nobody has (404) and act on a quote nobody has; the sales
        # side (role sales, admins) reads and offers on it.
        ("POST", "/v1/quotes"): lambda: Call(
            "/v1/quotes", {"cart_id": nobodys}, headers={"Idempotency-Key": unique("authz-quote")}
        ),
        ("GET", "/v1/quotes"): lambda: Call("/v1/quotes"),
        ("GET", "/v1/quotes/{quote_id}"): lambda: Call(f"/v1/quotes/{nobodys}"),
        ("POST", "/v1/quotes/{quote_id}/revision-requests"): lambda: Call(
            f"/v1/quotes/{nobodys}/revision-requests", {"note": "cheaper?"}
        ),
        ("POST", "/v1/quotes/{quote_id}/accept"): lambda: Call(f"/v1/quotes/{nobodys}/accept", {"version": 2}),
        ("POST", "/v1/quotes/{quote_id}/decline"): lambda: Call(f"/v1/quotes/{nobodys}/decline", {}),
        ("GET", "/v1/admin/quotes"): lambda: Call("/v1/admin/quotes"),
        ("GET", "/v1/admin/quotes/{quote_id}"): lambda: Call(f"/v1/admin/quotes/{nobodys}"),
        ("POST", "/v1/admin/quotes/{quote_id}/offers"): lambda: Call(
            f"/v1/admin/quotes/{nobodys}/offers",
            {
                "lines": [{"sku": world.sku, "unit_price": {"amount": 900, "currency": "USD"}}],
                "expires_at": "2099-01-01T00:00:00Z",
            },
        ),
        # Invoices: a company's members read theirs, staff every account's; a number nobody has.
        ("GET", "/v1/company/invoices"): lambda: Call("/v1/company/invoices"),
        ("GET", "/v1/invoices/{number}"): lambda: Call("/v1/invoices/INV-999999999"),
        ("GET", "/v1/invoices/{number}.pdf"): lambda: Call("/v1/invoices/INV-999999999.pdf"),
        ("GET", "/v1/admin/invoices"): lambda: Call("/v1/admin/invoices"),
        ("POST", "/v1/admin/invoices/{number}/payments"): lambda: Call(
            "/v1/admin/invoices/INV-999999999/payments",
            {"amount": {"amount": 100, "currency": "USD"}, "reference": "WIRE-AUTHZ"},
            headers={"Idempotency-Key": unique("authz-payment")},
        ),
        # The caller's own account: shoppers only; an address id nobody has (PATCH 404, DELETE 204: gone
        # either way); the module's card token, which the first shopper saves (201) and the others may not (409).
        ("GET", "/v1/me"): lambda: Call("/v1/me"),
        ("PATCH", "/v1/me"): lambda: Call("/v1/me", {"display_name": "Authz"}),
        ("GET", "/v1/me/addresses"): lambda: Call("/v1/me/addresses"),
        ("POST", "/v1/me/addresses"): lambda: Call("/v1/me/addresses", {**ADDRESS, "label": "Authz"}),
        ("PATCH", "/v1/me/addresses/{address_id}"): lambda: Call(f"/v1/me/addresses/{nobodys}", {"label": "x"}),
        ("DELETE", "/v1/me/addresses/{address_id}"): lambda: Call(f"/v1/me/addresses/{nobodys}"),
        ("GET", "/v1/me/payment-methods"): lambda: Call("/v1/me/payment-methods"),
        ("POST", "/v1/me/payment-methods"): lambda: Call(
            "/v1/me/payment-methods", {"payment_method_id": world.card_token}
        ),
        ("DELETE", "/v1/me/payment-methods/{payment_method_id}"): lambda: Call(
            f"/v1/me/payment-methods/{unique('pm_nobody')}"
        ),
        ("POST", "/v1/auth/token"): lambda: Call("/v1/auth/token", {"username": unique("authz"), "role": "customer"}),
        ("GET", "/.well-known/jwks.json"): lambda: Call("/.well-known/jwks.json"),
        # The client-credentials grant ignores bearer tokens: a form without a grant is 400 for everyone.
        ("POST", "/v1/oauth/token"): lambda: Call(
            "/v1/oauth/token", headers={"content-type": "application/x-www-form-urlencoded"}
        ),
        ("GET", "/healthz"): lambda: Call("/healthz"),
        ("GET", "/readyz"): lambda: Call("/readyz"),
    }


def read_matrix() -> dict[Route, dict[str, str]]:
    with MATRIX.open(newline="") as file:
        return {(row["method"], row["path"]): {p: row[p] for p in PRINCIPALS} for row in csv.DictReader(file)}


def write_matrix(rows: dict[Route, dict[str, str]]) -> None:
    with MATRIX.open("w", newline="") as file:
        writer = csv.DictWriter(file, ["method", "path", *PRINCIPALS], lineterminator="\n")
        writer.writeheader()
        for (method, path), cells in rows.items():
            writer.writerow({"method": method, "path": path, **cells})


def matches(expected: str, status: int) -> bool:
    """`404` is that status; `2xx` any status of the class."""
    return str(status) == expected or (expected.endswith("xx") and str(status)[0] == expected[0])


def document_routes(stack: Stack, http: httpx.Client) -> list[Route]:
    document = ok(http.get(f"{stack.gateway_url}/openapi.json"))
    return [(method.upper(), path) for path, operations in document["paths"].items() for method in operations]


def test_every_route_answers_every_caller_as_the_matrix_says(stack: Stack, http: httpx.Client, world: World) -> None:
    routes = document_routes(stack, http)
    table = read_matrix() if MATRIX.exists() else {}
    seen: dict[Route, dict[str, str]] = {}
    differences = []
    for who in PRINCIPALS:
        built = requests(world, who)
        for method, path in routes:
            if (method, path) not in built:
                continue
            status = send(stack, http, method, world.callers[who], built[method, path]()).status_code
            seen.setdefault((method, path), {})[who] = str(status)
            expected = table.get((method, path), {}).get(who)
            if expected is not None and not matches(expected, status):
                differences.append(f"{method} {path} as {who}: {status}, the table says {expected}")
        send(stack, http, "DELETE", world.callers[who], Call(f"/v1/cart/items/{world.sku}"))  # leave no line behind
    if os.environ.get("SHOP_AUTHZ_WRITE") == "1":
        write_matrix({route: {**table.get(route, {}), **seen[route]} for route in routes if route in seen})
    problems = [f"{m} {p}: no request in this test" for m, p in routes if (m, p) not in seen]
    problems += [f"{m} {p}: missing from {MATRIX.name}" for m, p in routes if (m, p) in seen and (m, p) not in table]
    problems += [f"{m} {p}: in {MATRIX.name}, not in the document" for m, p in table if (m, p) not in routes]
    assert not problems + differences, "\n".join(problems + differences)


def test_the_table_names_every_caller_and_only_statuses() -> None:
    for route, cells in read_matrix().items():
        for who, expected in cells.items():
            assert expected and (expected.isdigit() or expected in ("2xx", "4xx")), (route, who, expected)
