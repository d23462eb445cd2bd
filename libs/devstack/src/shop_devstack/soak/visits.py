"""The soak's visitors, a realistic mix on the gateway: most browse anonymously (search a brand, open a
hit, now and then the categories or the first page of products), some sign in and fill a cart they leave,
some buy (a token, a card tokenised at the payment sandbox, one line in the cart, the cart viewed, then
the checkout with an Idempotency-Key, polled until it settles, as the chaos suite's storefront does).

Every visitor is a separate person (own address in X-Forwarded-For, device, user and card), as the
benchmark's buyers are (shop_devstack.bench.shoppers): the fraud checks see a crowd, not one client.
"""

from __future__ import annotations

import ipaddress
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from shop_devstack.bench.buyers import demo_skus
from shop_devstack.bench.shoppers import FIRST_IP, prepare_one
from shop_devstack.chaos.storefront import Outcome, Storefront
from shop_devstack.demo_size import DEMO_PRODUCTS

BROWSE, CART, CHECKOUT = "browse", "cart", "checkout"
MIX: Mapping[str, float] = {BROWSE: 0.75, CART: 0.15, CHECKOUT: 0.10}  # shares of the visits
CHECKOUT_BUDGET_SECONDS = 60.0  # a buyer's patience: past it the checkout counts as failed
ADDRESSES = 2**17  # visitors' addresses cycle through the benchmarking range 198.18.0.0/15


def demo_brands(count: int = DEMO_PRODUCTS) -> list[str]:
    """Brands of the first `count` demo products: what a visitor types into the search box."""
    from shop_devstack.seed import demo_products

    return sorted({str(product["brand"]) for product in demo_products(count) if product.get("brand")})


@dataclass
class Visits:
    """Visitors of one gateway; `visit` runs one of the mix's kinds, drawn by its share."""

    client: httpx.AsyncClient
    gateway: str
    sandbox: str
    rng: random.Random = field(default_factory=random.Random)
    skus: list[str] = field(default_factory=demo_skus)
    brands: list[str] = field(default_factory=demo_brands)
    visitors: int = 0  # visits started (each one's index gives its address)
    kinds: dict[str, int] = field(default_factory=dict)  # visits finished per kind
    checkouts: list[Outcome] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # visits that stopped on an unexpected answer

    def pick(self) -> str:
        return self.rng.choices(list(MIX), weights=list(MIX.values()))[0]

    async def visit(self, kind: str) -> None:
        index = self.visitors
        self.visitors += 1
        try:
            if kind == BROWSE:
                await self._browse(index)
            elif kind == CART:
                await self._cart(index)
            else:
                await self._checkout(index)
        except (httpx.HTTPError, KeyError, ValueError) as error:  # the request itself is recorded too
            self.broken.append(f"{kind}: {type(error).__name__}: {str(error)[:200]}")
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def _headers(self, index: int) -> dict[str, str]:
        address = ipaddress.ip_address(int(FIRST_IP) + index % ADDRESSES)
        return {"x-forwarded-for": str(address), "x-device-id": f"soak-device-{uuid.uuid4().hex}"}

    async def _get(self, path: str, headers: Mapping[str, str], **params: Any) -> Any:
        reply = await self.client.get(f"{self.gateway}{path}", params=params, headers=dict(headers))
        reply.raise_for_status()
        return reply.json()

    async def _browse(self, index: int) -> None:
        headers = self._headers(index)
        found = await self._get("/v1/products", headers, query=self.rng.choice(self.brands), page_size=10)
        hits = found.get("products") or []
        if hits:
            await self._get(f"/v1/products/{self.rng.choice(hits)['id']}", headers)
        if self.rng.random() < 0.3:
            await self._get("/v1/categories", headers)
        if self.rng.random() < 0.3:
            await self._get("/v1/products", headers, page_size=20)

    async def _cart(self, index: int) -> None:
        """Signs in, adds a line, looks at the cart and leaves: the abandoned carts of a real shop."""
        headers = self._headers(index)
        body = {"username": f"soak-{uuid.uuid4().hex[:12]}", "role": "customer"}
        issued = await self.client.post(f"{self.gateway}/v1/auth/token", json=body, headers=headers)
        issued.raise_for_status()
        headers["authorization"] = f"Bearer {issued.json()['access_token']}"
        line = {"sku": self.rng.choice(self.skus), "quantity": 1}
        added = await self.client.post(f"{self.gateway}/v1/cart/items", json=line, headers=headers)
        added.raise_for_status()
        await self._get("/v1/cart", headers)

    async def _checkout(self, index: int) -> None:
        sku = self.rng.choice(self.skus)
        buyer = await prepare_one(self.client, self.gateway, self.sandbox, sku, index % ADDRESSES)
        buyer["key"] = f"soak-{uuid.uuid4().hex}"
        await self._get("/v1/cart", buyer["headers"])
        self.checkouts.append(await Storefront(self.client, self.gateway, CHECKOUT_BUDGET_SECONDS).buy(buyer))
