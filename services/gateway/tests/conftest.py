"""The gateway over real sockets in front of the REAL catalog, pricing and inventory services
(in-process, each on its own migrated database), and a client with helpers that keep tests short.

Backends a test does not run get an address where nothing listens: their calls fail with UNAVAILABLE.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.storefront.v1 import storefront_pb2_grpc
from shop_catalog.main import build as build_catalog
from shop_catalog.settings import CatalogSettings
from shop_customers.main import build as build_customers
from shop_customers.settings import CustomersSettings
from shop_gateway.main import GatewayRuntime, running
from shop_gateway.settings import GatewaySettings
from shop_inventory.main import build as build_inventory
from shop_inventory.settings import InventorySettings
from shop_pricing.main import build as build_pricing
from shop_pricing.settings import PricingSettings
from shopkit.auth import metadata_for
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, free_port, grpc_address, peer

ADMIN = metadata_for("admin")
COMMON: dict[str, Any] = {
    "grpc_host": "127.0.0.1",
    "grpc_port": 0,
    "metrics_port": 0,
    "log_format": "text",
    "log_level": "WARNING",
}


B2B_ROLES = ("b2b_buyer", "b2b_approver")
# What B2B tokens once claimed: now their company's data (customers), which the helpers create.
COMPANY_FACTS = ("tax_id", "payment_terms_days")
MEMBER_FACTS = ("approval_limit", "approval_period")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Backends:
    """The running services the gateway talks to."""

    runtimes: dict[str, Runtime]
    inventory: inventory_pb2_grpc.InventoryServiceAsyncStub
    locations: tuple[str, str] = ("", "")  # a warehouse and a click-and-collect store

    def addresses(self) -> dict[str, str]:
        unreachable = f"127.0.0.1:{free_port()}"
        addresses = {f"{name}_addr": unreachable for name in ("cart", "checkout", "order", "fraud", "customers")}
        addresses["notifications_addr"] = unreachable
        addresses.update({f"{name}_addr": grpc_address(rt) for name, rt in self.runtimes.items()})
        return addresses


async def _create_locations(inventory: inventory_pb2_grpc.InventoryServiceAsyncStub) -> tuple[str, str]:
    warehouse, store = unique("wh"), unique("store")
    for location_id, kind, collect in (
        (warehouse, inventory_pb2.LOCATION_TYPE_WAREHOUSE, False),
        (store, inventory_pb2.LOCATION_TYPE_STORE, True),
    ):
        location = inventory_pb2.Location(
            location_id=location_id, type=kind, name=f"Location {location_id}", country="US", click_and_collect=collect
        )
        location.active = True
        location.address.city = "Springfield"
        await inventory.CreateLocation(inventory_pb2.CreateLocationRequest(location=location), metadata=ADMIN)
    return warehouse, store


@pytest.fixture(scope="session")
async def backends(postgres: Postgres, nats_url: str) -> AsyncIterator[Backends]:
    # Pricing and inventory first: the catalog backfills its search projection from them. Customers
    # holds the B2B companies every B2B caller must belong to (no payment provider: no saved cards).
    async with (
        peer(
            build_customers, CustomersSettings, postgres, nats_url, payment_provider_url="http://127.0.0.1:9"
        ) as customers,
        peer(build_pricing, PricingSettings, postgres, nats_url) as pricing,
        peer(build_inventory, InventorySettings, postgres, nats_url) as inventory,
        peer(
            build_catalog,
            CatalogSettings,
            postgres,
            nats_url,
            pricing_addr=grpc_address(pricing),
            inventory_addr=grpc_address(inventory),
        ) as catalog,
    ):
        channel = grpc.aio.insecure_channel(grpc_address(inventory))
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)  # type: ignore[no-untyped-call]
        runtimes = {"catalog": catalog, "pricing": pricing, "inventory": inventory, "customers": customers}
        found = Backends(runtimes, stub)
        found.locations = await _create_locations(stub)
        yield found
        await channel.close(grace=None)


@dataclass
class Seeded:
    category_slug: str
    category_id: str
    product_id: str
    slug: str
    name: str
    skus: list[str]


@dataclass
class Client:
    """HTTP and gRPC clients of one running gateway, and helpers."""

    runtime: GatewayRuntime
    http: httpx.AsyncClient
    grpc: storefront_pb2_grpc.StorefrontServiceAsyncStub
    backends: Backends

    unique = staticmethod(unique)

    async def token(self, username: str = "", role: str = "customer", *, member: bool = True, **claims: Any) -> str:
        """A dev token. A B2B user (with an account_id) is made a member of the account's company
        first unless `member` is False; `tax_id`, `payment_terms_days`, `approval_limit` and
        `approval_period` become the company's and the membership's data (tokens no longer carry them)."""
        username = username or unique("user")
        facts = {k: claims.pop(k) for k in (*COMPANY_FACTS, *MEMBER_FACTS) if k in claims}
        if role in B2B_ROLES and claims.get("account_id") and member:
            await self.join(claims["account_id"], username, role, **facts)
        body = {"username": username, "role": role, **claims}
        response = await self.http.post("/v1/auth/token", json=body)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def auth(self, role: str = "customer", username: str = "", **claims: Any) -> dict[str, str]:
        """Authorization headers of a fresh user of `role`."""
        return {"Authorization": f"Bearer {await self.token(username, role, **claims)}"}

    async def join(
        self,
        account_id: str,
        user_id: str,
        role: str = "b2b_buyer",
        *,
        tax_id: str | None = None,
        payment_terms_days: int | None = None,
        approval_limit: dict[str, Any] | None = None,
        approval_period: str = "order",
    ) -> None:
        """`user_id` becomes a member of `account_id`'s company (created when new, net 30, USD),
        through the admin routes; company facts given change the company."""
        admin = await self.auth("admin")
        company = {
            "account_id": account_id,
            "name": account_id.title(),
            "credit_limit": {"amount": 0, "currency": "USD"},
        }
        key = {"Idempotency-Key": f"company-{account_id}"}
        created = await self.http.post(
            "/v1/admin/companies", json={**company, "payment_terms_days": 30}, headers={**admin, **key}
        )
        assert created.status_code in (201, 409), created.text
        change = {k: v for k, v in (("tax_id", tax_id), ("payment_terms_days", payment_terms_days)) if v is not None}
        if change:
            changed = await self.http.patch(f"/v1/admin/companies/{account_id}", json=change, headers=admin)
            assert changed.status_code == 200, changed.text
        new: dict[str, Any] = {"user_id": user_id, "role": "approver" if role == "b2b_approver" else "buyer"}
        if approval_limit is not None and approval_period == "order":
            new["order_limit"] = approval_limit
        elif approval_limit is not None:
            new |= {"period_limit": approval_limit, "limit_period": approval_period}
        key = {"Idempotency-Key": f"member-{account_id}-{user_id}"}
        added = await self.http.post(f"/v1/admin/companies/{account_id}/members", json=new, headers={**admin, **key})
        assert added.status_code == 201, added.text

    @staticmethod
    def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
        """Assert a problem+json answer; its body."""
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body: dict[str, Any] = response.json()
        assert body["status"] == status
        assert body["code"] == code, body
        assert {"type", "title", "detail", "errors"} <= body.keys()
        return body

    async def seed_product(
        self,
        *,
        name: str = "",
        status: str = "active",
        prices: tuple[int, ...] = (1999, 2499),
        stock: tuple[int, ...] = (7, 0),
    ) -> Seeded:
        """A category and a product with one variant per price, priced and stocked in the session's
        warehouse, all through the gateway's admin routes."""
        admin = await self.auth("admin")
        slug = unique("cat")
        category = await self.http.post("/v1/categories", json={"slug": slug, "name": slug.title()}, headers=admin)
        assert category.status_code == 201, category.text
        skus = [unique("SKU").upper() for _ in prices]
        name = name or f"Gadget {uuid.uuid4().hex[:8]}"
        product = await self.http.post(
            "/v1/products",
            json={
                "name": name,
                "category": slug,
                "status": status,
                "brand": "Acme",
                "variants": [{"sku": sku, "attributes": {"size": str(i)}} for i, sku in enumerate(skus)],
            },
            headers=admin,
        )
        assert product.status_code == 201, product.text
        base_prices = [
            {"sku": sku, "price": {"amount": p, "currency": "USD"}} for sku, p in zip(skus, prices, strict=True)
        ]
        priced = await self.http.put("/v1/prices", json={"prices": base_prices}, headers=admin)
        assert priced.status_code == 200, priced.text
        warehouse = self.backends.locations[0]
        entries = [{"sku": sku, "location_id": warehouse, "on_hand": n} for sku, n in zip(skus, stock, strict=True)]
        stocked = await self.http.put("/v1/stock", json={"entries": entries}, headers=admin)
        assert stocked.status_code == 200, stocked.text
        body = product.json()
        return Seeded(slug, category.json()["id"], body["id"], body["slug"], name, skus)


def gateway_settings(backends: Backends, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        **COMMON,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "dev_mode": True,
        "shutdown_grace_seconds": 1.0,
        "rate_limit_per_second": 1000.0,
        "rate_limit_burst": 1000,
        "anonymous_rate_limit_per_second": 1000.0,
        "anonymous_rate_limit_burst": 1000,
        **backends.addresses(),
    }
    values.update(overrides)
    return GatewaySettings(**values)


@contextlib.asynccontextmanager
async def _client(settings: GatewaySettings, backends: Backends) -> AsyncIterator[Client]:
    async with running(settings) as runtime:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.grpc_port}")
        stub = storefront_pb2_grpc.StorefrontServiceStub(channel)  # type: ignore[no-untyped-call]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.http_port}", timeout=30.0) as http:
            try:
                yield Client(runtime, http, stub, backends)
            finally:
                await channel.close(grace=None)


GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[Client]]


@pytest.fixture(scope="session")
def make_gateway(backends: Backends) -> GatewayFactory:
    """`async with make_gateway(**settings) as client:` a gateway of the test's own."""

    def make(**overrides: Any) -> contextlib.AbstractAsyncContextManager[Client]:
        return _client(gateway_settings(backends, **overrides), backends)

    return make


@pytest.fixture(scope="session")
async def gateway(make_gateway: GatewayFactory) -> AsyncIterator[Client]:
    """The shared gateway: dev mode, generous rate limits, catalog/pricing/inventory behind it."""
    async with make_gateway() as client:
        yield client
