"""HTTP users of the gateway: browsing, buying with a card, B2B invoice orders and a flash sale."""

from __future__ import annotations

import functools
import random
import time
import uuid
from enum import Enum
from typing import Any

from locust import FastHttpUser, between, tag, task
from locust.contrib.fasthttp import FastHttpSession, FastResponse

from shop_load import flash_sale, sandbox
from shop_load.config import (
    CART_NOT_CHECKOUTABLE,
    GATEWAY_URL,
    SEARCH_TERMS,
    SHIPPING_ADDRESS,
    STOCK_CODES,
    TEST_CARD,
)

JSON = {"content-type": "application/json"}


class Outcome(Enum):
    """What a checkout came to, as far as the buyer can tell."""

    ORDERED = "ordered"  # an order exists (confirmed, or held for a review or an approval)
    SOLD_OUT = "sold out"  # refused for lack of stock: expected under contention
    OTHER = "other"  # anything else (a failure, or still running when the buyer stopped waiting)


def problem(response: FastResponse) -> dict[str, Any]:
    """An application/problem+json body ({} when the body is not a problem)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def problem_code(response: FastResponse) -> str:
    return str(problem(response).get("code", ""))


def sold_out(response: FastResponse) -> str:
    """The stock code of a refusal for lack of stock, else "": the code itself, or a cart that
    cannot be checked out because of its lines' stock (every precondition a stock code)."""
    body = problem(response)
    code = str(body.get("code", ""))
    if code in STOCK_CODES:
        return code
    reasons = {str(p.get("type", "")) for p in body.get("preconditions") or []}
    if response.status_code == 409 and code == CART_NOT_CHECKOUTABLE and reasons and reasons <= STOCK_CODES:
        return min(reasons)
    return ""


class ShopUser(FastHttpUser):
    """Common helpers; not run by itself."""

    abstract = True
    host = GATEWAY_URL
    role = "customer"
    account_id = ""
    token = ""
    claims: dict[str, Any] = {}  # more claims of the user's token (read only), e.g. currency
    placed: dict[str, Any] = {}  # the last checkout as its buyer last saw it (read only)

    def on_start(self) -> None:
        if self.role:
            self.sign_in()

    def sign_in(self) -> None:
        name = f"load-{self.role}-{uuid.uuid4().hex[:12]}"
        body: dict[str, Any] = {"username": name, "role": self.role, "email": f"{name}@example.com"}
        if self.account_id:
            body["account_id"] = self.account_id
            self.join_company(name)
        body.update(self.claims)
        with self.client.post("/v1/auth/token", json=body, name="/v1/auth/token", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"token: {response.status_code} {response.text}")
                return
            self.token = response.json()["access_token"]

    def join_company(self, name: str) -> None:
        """A B2B user must be a member of the account's company (the demo seed's acme-corp): an admin
        adds them, under a key of their own (a repeat adds nothing)."""
        admin = {"username": "load-admin", "role": "admin"}
        with self.client.post("/v1/auth/token", json=admin, name="/v1/auth/token", catch_response=True) as issued:
            if issued.status_code != 200:
                issued.failure(f"admin token: {issued.status_code} {issued.text}")
                return
            headers = dict(JSON, authorization=f"Bearer {issued.json()['access_token']}")
        member = {"user_id": name, "role": "approver" if self.role == "b2b_approver" else "buyer"}
        path = f"/v1/admin/companies/{self.account_id}/members"
        headers["Idempotency-Key"] = f"load-member-{name}"
        with self.client.post(
            path, json=member, headers=headers, name="/v1/admin/companies/{id}/members", catch_response=True
        ) as added:
            if added.status_code != 201:
                added.failure(f"membership: {added.status_code} {added.text}")

    def headers(self, **extra: str) -> dict[str, str]:
        headers = dict(JSON, **extra)
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return headers

    def search(self, term: str, page_size: int = 10) -> list[dict[str, Any]]:
        response = self.client.get(
            f"/v1/products?query={term}&page_size={page_size}", headers=self.headers(), name="/v1/products?query"
        )
        if response.status_code != 200:
            return []
        products: list[dict[str, Any]] = response.json().get("products", [])
        return products

    def product(self, product_id: str) -> dict[str, Any] | None:
        response = self.client.get(f"/v1/products/{product_id}", headers=self.headers(), name="/v1/products/{id}")
        if response.status_code != 200:
            return None
        product: dict[str, Any] = response.json()
        return product

    def buyable_sku(self, quantity: int = 1) -> str | None:
        """A priced SKU in stock for `quantity` units, found the way a shopper would: search, open."""
        for product in random.sample(hits, len(hits)) if (hits := self.search(random.choice(SEARCH_TERMS))) else []:
            page = self.product(product["id"])
            for variant in (page or {}).get("variants", []):
                stock = variant.get("availability") or {}
                if variant.get("price") and stock.get("ship_available", 0) >= quantity:
                    return str(variant["sku"])
        return None

    def add_to_cart(self, sku: str, quantity: int) -> bool:
        response = self.client.post(
            "/v1/cart/items",
            json={"sku": sku, "quantity": quantity},
            headers=self.headers(**{"Idempotency-Key": uuid.uuid4().hex}),
            name="/v1/cart/items",
        )
        return response.status_code in (200, 201)

    def empty_cart(self) -> None:
        """Removes every line (after a refused checkout, so the next purchase starts clean)."""
        response = self.client.get("/v1/cart", headers=self.headers(), name="/v1/cart")
        if response.status_code != 200:
            return
        for line in response.json().get("lines", []):
            self.client.delete(f"/v1/cart/items/{line['sku']}", headers=self.headers(), name="/v1/cart/items/{sku}")

    def shipping_options(self, address: dict[str, str], *, tax_included: bool = False) -> list[str]:
        """The codes of the cart's shipping options for `address` ([] after a failure, reported as
        one); `tax_included`: the estimate must carry the tax in the prices (EU VAT)."""
        query = f"country={address['country']}&postal_code={address['postal_code']}"
        with self.client.get(
            f"/v1/cart/shipping-options?{query}",
            headers=self.headers(),
            name="/v1/cart/shipping-options",
            catch_response=True,
        ) as response:
            estimate = response.json() if response.status_code == 200 else {}
            options = [str(o["code"]) for o in estimate.get("options", [])]
            if not options or (tax_included and not estimate["totals"]["tax_included"]):
                kind = "a VAT-inclusive estimate" if tax_included else "shipping options"
                response.failure(f"no {kind} for {address['country']}: {response.text[:300]}")
                return []
        return options

    def expected(self, name: str) -> None:
        """Counts an expected answer that is not a plain success (a row of type EXPECTED)."""
        self.environment.events.request.fire(
            request_type="EXPECTED", name=name, response_time=0, response_length=0, exception=None, context={}
        )

    def checkout(self, payment_method: str, **extra: Any) -> Outcome:
        """Places the cart's order; a refusal for lack of stock counts as an expected answer."""
        body: dict[str, Any] = {
            "payment_method": payment_method,
            "fulfillment": {"method": "ship"},
            "shipping_address": SHIPPING_ADDRESS,
            **extra,
        }
        headers = self.headers(**{"Idempotency-Key": f"load-{uuid.uuid4().hex}"})
        self.placed = {}
        with self.client.post(
            "/v1/checkout", json=body, headers=headers, name="/v1/checkout", catch_response=True
        ) as response:
            if response.status_code in (200, 201, 202):
                response.success()
                placed = response.json()
                if placed.get("status") == "running":  # poll it like a client would
                    placed = self.poll_checkout(placed["checkout_id"])
                elif placed.get("status") in ("pending_review", "pending_approval"):
                    # Held for a fraud review or a B2B approval: the cart stays with that checkout until
                    # someone decides, so carry on as another customer (or another buyer of the account).
                    self.sign_in()
                self.placed = placed
                ordered = placed.get("order_id") and placed.get("status") not in ("running", "failed")
                return Outcome.ORDERED if ordered else Outcome.OTHER
            code = sold_out(response)
            if response.status_code in (409, 422) and code:
                response.success()  # sold out: the right answer under contention
                self.expected(f"checkout refused: {code}")
            else:
                response.failure(f"{response.status_code} {problem_code(response)}: {response.text[:300]}")
        self.empty_cart()
        return Outcome.SOLD_OUT if code else Outcome.OTHER

    def poll_checkout(self, checkout_id: str) -> dict[str, Any]:
        """The checkout once it left `running` (or as last seen, after about 10 s)."""
        found: dict[str, Any] = {}
        for _ in range(40):
            time.sleep(0.25)
            response = self.client.get(f"/v1/checkout/{checkout_id}", headers=self.headers(), name="/v1/checkout/{id}")
            if response.status_code != 200:
                return found
            found = response.json()
            if found.get("status") != "running":
                return found
        return found

    @functools.cached_property
    def provider(self) -> FastHttpSession:
        """The payment sandbox's public face, as the shopper's browser reaches it (shop_load/sandbox.py)."""
        timeouts = {"network_timeout": self.network_timeout, "connection_timeout": self.connection_timeout}
        return sandbox.session(self.environment, self, **timeouts)

    def tokenise_card(self) -> str | None:
        """Tokenises the test card at the sandbox, as the shopper's browser would (no certificate)."""
        card = {"number": TEST_CARD, "exp_month": 12, "exp_year": time.gmtime().tm_year + 3, "cvc": "123"}
        response = self.provider.post("/v1/payment_methods", json={"card": card}, name="sandbox /v1/payment_methods")
        return str(response.json()["id"]) if response.status_code == 201 else None


class Browser(ShopUser):
    """Anonymous visitors: the bulk of the traffic, reading only."""

    weight = 10
    wait_time = between(1, 3)
    role = ""  # no token

    @tag("browse")
    @task(3)
    def list_products(self) -> None:
        self.client.get("/v1/products?page_size=20", name="/v1/products")

    @tag("browse")
    @task(4)
    def search_and_view(self) -> None:
        hits = self.search(random.choice(SEARCH_TERMS))
        if hits:
            self.product(random.choice(hits)["slug"])

    @tag("browse")
    @task(1)
    def categories(self) -> None:
        self.client.get("/v1/categories", name="/v1/categories")


class Shopper(ShopUser):
    """Signed-in customers buying with a card: search, add to cart, pay, look at their orders."""

    weight = 3
    wait_time = between(2, 5)

    @tag("shop", "checkout")
    @task(3)
    def buy(self) -> None:
        sku = self.buyable_sku()
        if sku is None or not self.add_to_cart(sku, random.randint(1, 2)):
            return
        self.client.get("/v1/cart", headers=self.headers(), name="/v1/cart")
        payment_method = self.tokenise_card()
        if payment_method:
            self.checkout(payment_method)

    @tag("shop")
    @task(2)
    def orders(self) -> None:
        self.client.get("/v1/orders", headers=self.headers(), name="/v1/orders")


class B2BBuyer(ShopUser):
    """Buyers of the acme-corp account: bulk quantities paid by invoice (the account's terms)."""

    weight = 1
    wait_time = between(3, 8)
    role = "b2b_buyer"
    account_id = "acme-corp"

    @tag("b2b", "checkout")
    @task(3)
    def bulk_order(self) -> None:
        quantity = random.choice((10, 20, 25))
        sku = self.buyable_sku(quantity)
        if sku is None or not self.add_to_cart(sku, quantity):
            return
        self.checkout("invoice", purchase_order_number=f"PO-{uuid.uuid4().hex[:10].upper()}")

    @tag("b2b")
    @task(1)
    def account_orders(self) -> None:
        self.client.get("/v1/orders?scope=account", headers=self.headers(), name="/v1/orders?scope=account")


class FlashSale(ShopUser):
    """Many buyers racing for the few units of one hot SKU (see shop_load/flash_sale.py, which sets the
    sale up at test start and checks for oversell at the end): once it is sold out, the cart shows
    the line out of stock, or the checkout answers 409 (both expected)."""

    weight = 2
    wait_time = between(0.5, 2)

    @tag("flash", "checkout")
    @task
    def grab(self) -> None:
        sale = flash_sale.current
        if sale is None:  # no sale: its setup failed (reported as failed requests)
            return
        self.sign_in()  # every grab is another buyer arriving for the sale
        with self.client.post(
            "/v1/cart/items",
            json={"sku": sale.sku, "quantity": 1},
            headers=self.headers(**{"Idempotency-Key": uuid.uuid4().hex}),
            name="flash /v1/cart/items",
            catch_response=True,
        ) as response:
            added = response.status_code in (200, 201)
            if added or problem_code(response) in STOCK_CODES:
                response.success()
            else:
                response.failure(f"{response.status_code}: {response.text[:300]}")
        if not added:
            sale.sold_out += 1
            return
        lines = [line for line in response.json().get("lines", []) if line.get("sku") == sale.sku]
        if any(p["blocking"] and p["kind"].upper() in STOCK_CODES for line in lines for p in line["problems"]):
            sale.sold_out += 1  # the cart already knows: a buyer would not go on to pay
            self.expected("flash sold out in the cart")
            return
        payment_method = self.tokenise_card()
        if payment_method is None:
            return
        outcome = self.checkout(payment_method)
        if outcome is Outcome.ORDERED:
            sale.orders += 1
        elif outcome is Outcome.SOLD_OUT:
            sale.sold_out += 1
