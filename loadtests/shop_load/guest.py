"""Guest checkout: a visitor without an account browses, starts a guest cart, adds an in-stock SKU,
prices the cart for a US address (shipping options), and pays by card with an e-mail address. The
guest cart's id, sent as X-Cart-Token, is the visitor's only credential (no token at all)."""

from __future__ import annotations

import random
import uuid

from locust import between, tag, task

from shop_load.config import SHIPPING_ADDRESS
from shop_load.http_users import Outcome, ShopUser

CART_TOKEN = "X-Cart-Token"


class GuestShopper(ShopUser):
    """Visitors buying without an account: every purchase is a new guest cart (a new visit)."""

    weight = 2
    wait_time = between(2, 5)
    role = ""  # no token: a guest
    cart_token = ""

    def headers(self, **extra: str) -> dict[str, str]:
        headers = super().headers(**extra)
        if self.cart_token:
            headers[CART_TOKEN] = self.cart_token
        return headers

    def sign_in(self) -> None:
        """A checkout held for a review keeps its cart: the next purchase is another visit (a guest
        has no identity to renew)."""
        self.cart_token = ""

    def start_cart(self) -> bool:
        self.cart_token = ""
        response = self.client.post(
            "/v1/guest-carts",
            json={},
            headers=self.headers(**{"Idempotency-Key": str(uuid.uuid4())}),
            name="/v1/guest-carts",
        )
        if response.status_code != 201:
            return False
        self.cart_token = str(response.json()["cart_id"])
        return True

    @tag("shop", "checkout", "guest")
    @task
    def buy_as_guest(self) -> None:
        sku = self.buyable_sku()
        if sku is None or not self.start_cart() or not self.add_to_cart(sku, random.randint(1, 2)):
            return
        options = self.shipping_options(SHIPPING_ADDRESS)
        if not options:
            return
        payment_method = self.tokenise_card()
        if payment_method is None:
            return
        email = f"guest-{uuid.uuid4().hex[:12]}@example.com"
        if self.checkout(payment_method, email=email, shipping_method=random.choice(options)) is Outcome.ORDERED:
            self.expected("guest order")
