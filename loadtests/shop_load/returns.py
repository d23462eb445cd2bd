"""A return in store: a customer buys a returnable product by card, the back office ships the order
(an admin's fulfilment), the customer asks to bring it back to a store, the store's staff receive and
inspect it (everything accepted as sellable) and the customer sees the return refunded and the money
back on the order. Three dev tokens take part: the customer's, an admin's and a store_staff's."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from locust import between, tag, task

from shop_load import flash_sale
from shop_load.config import SEARCH_TERMS
from shop_load.http_users import ShopUser, problem_code

# How long the customer waits for the refund to reach the order's payment, in polls of POLL_SECONDS.
POLLS, POLL_SECONDS = 40, 0.25


class Returner(ShopUser):
    """Customers who send something back: a few per cent of the orders."""

    weight = 1
    wait_time = between(3, 8)
    staff: dict[str, str] = {}  # role -> bearer token of this user's colleagues in the back office
    stores: list[str] = []  # the US stores, where the store staff work (their token's shop_locations)

    def on_start(self) -> None:
        super().on_start()
        self.stores = self.us_stores()
        wanted: dict[str, dict[str, Any]] = {"admin": {}, "store_staff": {"locations": self.stores}}
        self.staff = {role: token for role, claims in wanted.items() if (token := self.dev_token(role, claims))}

    def dev_token(self, role: str, claims: dict[str, Any]) -> str:
        name = f"load-{role}-{uuid.uuid4().hex[:12]}"
        body = {"username": name, "role": role, "email": f"{name}@example.com", **claims}
        response = self.client.post("/v1/auth/token", json=body, name="/v1/auth/token")
        return str(response.json()["access_token"]) if response.status_code == 200 else ""

    def as_staff(self, role: str, **extra: str) -> dict[str, str]:
        return {"content-type": "application/json", "authorization": f"Bearer {self.staff[role]}", **extra}

    def returnable_sku(self) -> str | None:
        """A priced, shippable SKU of a product that may come back (not headphones, say). Not the flash
        sale's SKU: restocking it at a store would put more units on sale than the sale offered."""
        hot = flash_sale.current.sku if flash_sale.current else ""
        for hit in random.sample(hits, len(hits)) if (hits := self.search(random.choice(SEARCH_TERMS))) else []:
            page = self.product(hit["id"]) or {}
            if not page.get("returnable") or not page.get("return_window_days"):
                continue
            for variant in page.get("variants", []):
                if (
                    variant["sku"] != hot
                    and variant.get("price")
                    and (variant.get("availability") or {}).get("ship_available", 0)
                ):
                    return str(variant["sku"])
        return None

    def us_stores(self) -> list[str]:
        response = self.client.get("/v1/stores?country=US", headers=self.headers(), name="/v1/stores")
        return [str(s["store_id"]) for s in response.json().get("stores", [])] if response.status_code == 200 else []

    def store_id(self) -> str:
        return random.choice(self.stores) if self.stores else ""

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str], name: str) -> dict[str, Any] | None:
        """POSTs `body`; the answer (None after a failure, reported as one with its problem code)."""
        with self.client.post(path, json=body, headers=headers, name=name, catch_response=True) as response:
            if response.status_code in (200, 201):
                answer: dict[str, Any] = response.json()
                return answer
            response.failure(f"{response.status_code} {problem_code(response)}: {response.text[:300]}")
        return None

    def poll(self, path: str, name: str, done: Any) -> dict[str, Any]:
        """GETs `path` as the customer until `done(answer)` (or POLLS times); the last answer."""
        found: dict[str, Any] = {}
        for _ in range(POLLS):
            response = self.client.get(path, headers=self.headers(), name=name)
            found = response.json() if response.status_code == 200 else {}
            if found and done(found):
                return found
            time.sleep(POLL_SECONDS)
        return found

    @tag("returns")
    @task
    def buy_and_return(self) -> None:
        if len(self.staff) < 2:  # a token request failed (reported as such)
            return
        sku = self.returnable_sku()
        store = self.store_id()
        if not sku or not store or not self.add_to_cart(sku, random.randint(1, 2)):
            return
        payment_method = self.tokenise_card()
        if payment_method is None:
            return
        self.checkout(payment_method)
        if self.placed.get("status") != "completed":  # sold out, held for a review, failed: nothing to return
            return
        order_id = self.placed["order_id"]
        ship = {"carrier": "UPS", "tracking_number": f"1Z{uuid.uuid4().hex[:16].upper()}"}
        fulfilled = self.post(
            f"/v1/admin/orders/{order_id}/fulfilments",
            ship,
            self.as_staff("admin", **{"Idempotency-Key": f"load-ship-{order_id}"}),
            "/v1/admin/orders/{id}/fulfilments",
        )
        if fulfilled is None:
            return
        lines = [{"line_id": line["line_id"], "quantity": line["quantity"]} for line in fulfilled["order"]["lines"]]
        asked = {"lines": lines, "reason": "changed_mind", "method": "store", "store_id": store}
        started = self.post(
            f"/v1/orders/{order_id}/returns",
            asked,
            self.headers(**{"Idempotency-Key": f"load-return-{order_id}"}),
            "/v1/orders/{id}/returns",
        )
        if started is None:
            return
        return_id = started["id"]
        staff = self.as_staff("store_staff")
        at_store = {"location_id": store}
        if self.post(f"/v1/returns/{return_id}/receive", at_store, staff, "/v1/returns/{id}/receive") is None:
            return
        accepted = [{"line_id": line["line_id"], "accepted_sellable": line["quantity"]} for line in lines]
        inspected = self.post(
            f"/v1/returns/{return_id}/inspect",
            {"lines": accepted},
            self.as_staff("store_staff", **{"Idempotency-Key": f"load-inspect-{return_id}"}),
            "/v1/returns/{id}/inspect",
        )
        if inspected is not None:
            self.refunded(order_id, return_id)

    def refunded(self, order_id: str, return_id: str) -> None:
        """Whether the customer sees the return refunded and, everything having come back, the order's
        payment refunded at the provider (the order's effect worker refunds after the inspection)."""
        seen = self.poll(f"/v1/returns/{return_id}", "/v1/returns/{id}", lambda r: r.get("status") == "refunded")
        order = self.poll(f"/v1/orders/{order_id}", "/v1/orders/{id}", lambda o: o["payment_status"] == "refunded")
        if seen.get("status") == "refunded" and order.get("payment_status") == "refunded":
            self.expected("return refunded")
        else:
            state = f"return {seen.get('status')}, payment {order.get('payment_status')}"
            self.environment.events.request.fire(
                request_type="CHECK",
                name="return refunded",
                response_time=0,
                response_length=0,
                exception=AssertionError(f"not refunded within {POLLS * POLL_SECONDS:.0f} s: {state}"),
                context={},
            )
