"""An account holder's visits: a signed-in customer who keeps a profile, a saved address and a saved
card, looks at them, edits the address, reads their order history and buys with what they saved
(the checkout's `shipping_address_id` and the saved card's `payment_method_id`)."""

from __future__ import annotations

import random
import uuid
from typing import Any

from locust import between, tag, task

from shop_load.config import SHIPPING_ADDRESS
from shop_load.http_users import Outcome, ShopUser

LABELS = ("Home", "Work", "Parents", "Holiday flat")


class AccountHolder(ShopUser):
    """Customers with an account they use: profile, a saved address and card, order history."""

    weight = 2
    wait_time = between(3, 8)
    address_id = ""
    address_version = 0
    card = ""  # the saved card's payment method id

    def sign_in(self) -> None:
        """A new identity (at start, or after a checkout held for review) saves its address and card."""
        super().sign_in()
        self.address_id, self.address_version, self.card = "", 0, ""
        if self.token:
            self.save_my_details()

    def save_my_details(self) -> None:
        self.client.patch(
            "/v1/me", json={"display_name": "Load Account Holder", "locale": "en-US"}, headers=self.headers()
        )
        saved = self.client.post(
            "/v1/me/addresses",
            json={**SHIPPING_ADDRESS, "label": "Home", "default_shipping": True, "default_billing": True},
            headers=self.headers(**{"Idempotency-Key": f"load-{uuid.uuid4().hex}"}),
            name="/v1/me/addresses",
        )
        if saved.status_code == 201:
            self.address_id, self.address_version = saved.json()["address_id"], saved.json()["version"]
        payment_method = self.tokenise_card()
        if payment_method:
            card = self.client.post(
                "/v1/me/payment-methods",
                json={"payment_method_id": payment_method},
                headers=self.headers(),
                name="/v1/me/payment-methods",
            )
            self.card = payment_method if card.status_code == 201 else ""

    @tag("account")
    @task(3)
    def look_at_my_account(self) -> None:
        self.client.get("/v1/me", headers=self.headers(), name="/v1/me")
        self.client.get("/v1/me/addresses", headers=self.headers(), name="/v1/me/addresses")
        self.client.get("/v1/me/payment-methods", headers=self.headers(), name="/v1/me/payment-methods")

    @tag("account")
    @task(1)
    def edit_my_address(self) -> None:
        if not self.address_id:
            return
        response = self.client.patch(
            f"/v1/me/addresses/{self.address_id}",
            json={"label": random.choice(LABELS), "version": self.address_version},
            headers=self.headers(),
            name="/v1/me/addresses/{id}",
        )
        if response.status_code == 200:
            self.address_version = response.json()["version"]

    @tag("account")
    @task(2)
    def order_history(self) -> None:
        response = self.client.get("/v1/orders", headers=self.headers(), name="/v1/orders")
        orders: list[dict[str, Any]] = response.json().get("orders", []) if response.status_code == 200 else []
        if orders:
            order_id = random.choice(orders)["order_id"]
            self.client.get(f"/v1/orders/{order_id}", headers=self.headers(), name="/v1/orders/{id}")

    @tag("account", "checkout")
    @task(2)
    def buy_with_what_i_saved(self) -> None:
        if not (self.address_id and self.card):
            return
        sku = self.buyable_sku()
        if sku is None or not self.add_to_cart(sku, 1):
            return
        outcome = self.checkout(self.card, shipping_address=None, shipping_address_id=self.address_id)
        if outcome is Outcome.ORDERED:
            self.expected("order with a saved address and card")
