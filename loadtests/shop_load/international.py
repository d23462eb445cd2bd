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
        options = self.shipping_options(address, tax_included=True)
        if not options:
            return
        payment_method = self.tokenise_card()
        if payment_method is None:
            return
        method = random.choice(options)
        outcome = self.checkout(payment_method, shipping_address=address, shipping_method=method)
        if outcome is Outcome.ORDERED:
            self.expected(f"taxed international order ({method})")
