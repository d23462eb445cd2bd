"""A taxed international order: a customer in Germany (euros) prices the cart for a Berlin address
(shipping options, VAT included in the prices), picks a shipping method and pays by card; the order's
totals must carry the shipping and the tax the estimate showed."""

from __future__ import annotations

import random
from typing import Any

from locust import between, tag, task

from shop_load.config import INTERNATIONAL_ADDRESS
from shop_load.http_users import Outcome, ShopUser


class InternationalShopper(ShopUser):
    """Customers in Germany: EUR prices with 19 % VAT included, standard or express shipping."""

    weight = 1
    wait_time = between(2, 5)
    claims: dict[str, Any] = {"currency": "EUR", "country": "DE"}

    @tag("shop", "checkout", "international")
    @task
    def buy_abroad(self) -> None:
        sku = self.buyable_sku()
        if sku is None or not self.add_to_cart(sku, random.randint(1, 3)):
            return
        address = INTERNATIONAL_ADDRESS
        query = f"country={address['country']}&postal_code={address['postal_code']}"
        with self.client.get(
            f"/v1/cart/shipping-options?{query}",
            headers=self.headers(),
            name="/v1/cart/shipping-options",
            catch_response=True,
        ) as response:
            estimate = response.json() if response.status_code == 200 else {}
            options = [o["code"] for o in estimate.get("options", [])]
            if not options or not estimate["totals"]["tax_included"]:
                response.failure(f"no VAT-inclusive estimate for {address['country']}: {response.text[:300]}")
                return
        payment_method = self.tokenise_card()
        if payment_method is None:
            return
        method = random.choice(options)
        outcome = self.checkout(payment_method, shipping_address=address, shipping_method=method)
        if outcome is Outcome.ORDERED:
            self.expected(f"taxed international order ({method})")
