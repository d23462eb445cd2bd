"""The erasure through the gateway with the real services behind it: one service down makes a 503
that names it (the others erased); the same Idempotency-Key, once it is back, completes the erasure
and the services done before answer their first outcome (`repeated`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

from shop_cart.main import build as build_cart
from shop_cart.settings import CartSettings
from shop_checkout.main import build as build_checkout
from shop_checkout.settings import CheckoutSettings
from shop_customers.main import build as build_customers
from shop_customers.settings import CustomersSettings
from shop_fraud.main import build as build_fraud
from shop_fraud.settings import FraudSettings
from shop_notifications.main import build as build_notifications
from shop_notifications.settings import NotificationsSettings
from shop_order.main import build as build_order
from shop_order.settings import OrderSettings
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, free_port, grpc_address, peer

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode)
    from conftest import Backends, GatewayFactory

SERVICES = {"cart", "checkout", "order", "fraud", "notifications", "customers"}


@pytest.fixture(scope="module")
async def holders(postgres: Postgres, nats_url: str, backends: Backends) -> AsyncIterator[dict[str, str]]:
    """Every service that holds customers' data but notifications, running; notifications' address
    (nothing listens there until a test starts it)."""
    known = {f"{name}_addr": grpc_address(rt) for name, rt in backends.runtimes.items()}
    async with contextlib.AsyncExitStack() as stack:

        async def start(build: Callable[..., Awaitable[Runtime]], settings: Any, **overrides: Any) -> str:
            return grpc_address(await stack.enter_async_context(peer(build, settings, postgres, nats_url, **overrides)))

        addresses = {
            "cart_addr": await start(build_cart, CartSettings, **known, sweeper_enabled=False),
            "checkout_addr": await start(build_checkout, CheckoutSettings),
            "order_addr": await start(build_order, OrderSettings, inventory_addr=known["inventory_addr"]),
            "fraud_addr": await start(build_fraud, FraudSettings),
            "customers_addr": await start(build_customers, CustomersSettings),
            "notifications_addr": f"127.0.0.1:{free_port()}",
        }
        yield addresses


async def test_a_503_names_the_service_down_and_the_same_key_completes_the_erasure(
    holders: dict[str, str], make_gateway: GatewayFactory, postgres: Postgres, nats_url: str
) -> None:
    async with make_gateway(**holders) as gateway:
        customer = await gateway.auth("customer")
        erase = {**customer, "Idempotency-Key": gateway.unique("erase")}
        body = gateway.problem(await gateway.http.delete("/v1/me", headers=erase), 503, "ERASURE_INCOMPLETE")
        assert body["metadata"]["failed_services"] == "notifications"
        assert set(body["metadata"]["erased_services"].split(",")) == SERVICES - {"notifications"}

        port = int(holders["notifications_addr"].rpartition(":")[2])
        async with peer(
            build_notifications,
            NotificationsSettings,
            postgres,
            nats_url,
            grpc_port=port,
            order_addr=holders["order_addr"],
        ):
            # As a client that honours Retry-After: the gateway's channel reconnects after its backoff.
            done = await gateway.http.delete("/v1/me", headers=erase)
            for _ in range(100):
                if done.status_code != 503:
                    break
                await asyncio.sleep(0.2)
                done = await gateway.http.delete("/v1/me", headers=erase)
            assert done.status_code == 200, done.text
            services = done.json()["services"]
            assert set(services) == SERVICES
            assert {name for name, s in services.items() if s["repeated"]} == SERVICES - {"notifications"}
            again = await gateway.http.delete("/v1/me", headers=erase)
            assert all(s["repeated"] for s in again.json()["services"].values())
            exported = await gateway.http.get("/v1/me/export", headers=customer)
            assert exported.status_code == 200, exported.text
            assert all(len(part["erasures"]) == 1 for part in exported.json()["services"].values())
