"""Shared fixtures of the order tests: the order service on a fresh database, with the real inventory
service and the real payment sandbox running in this process, all reached over the network."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import sqlalchemy as sa

import shop_sandbox
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop_catalog.main import build as build_catalog
from shop_catalog.settings import CatalogSettings
from shop_inventory.main import build as build_inventory
from shop_inventory.settings import InventorySettings
from shop_order import store
from shop_order.main import build
from shop_order.settings import OrderSettings
from shop_sandbox.main import build as build_sandbox
from shop_sandbox.server import HttpService
from shop_sandbox.settings import SandboxSettings
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, grpc_address, migrations_of, peer, running, service_settings

MIGRATIONS = Path(store.__file__).parent / "migrations"
SANDBOX_MIGRATIONS = migrations_of(shop_sandbox)
SERVICE = metadata_for("service")  # checkout calls as `service`
ADMIN = metadata_for("admin")
CURRENCY = "EUR"
CARD_YEAR = datetime.now(UTC).year + 3


def customer(customer_id: str) -> tuple[tuple[str, str], ...]:
    return metadata_for("customer", customer_id)


def b2b(role: str, customer_id: str, account_id: str) -> tuple[tuple[str, str], ...]:
    return metadata_for(role, customer_id, account_id)


def money(amount: int, currency: str = CURRENCY) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency=currency)


def new_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4()}"


async def fails(call: Any) -> RpcErrorInfo:
    """Await a call that must fail; its decoded error."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return parse_rpc_error(error)
    raise AssertionError("the call succeeded")


@dataclass
class Sandbox:
    service: HttpService
    http: httpx.AsyncClient

    async def authorise(self, amount: int, currency: str = CURRENCY) -> tuple[str, str]:
        """A real authorisation of a card that succeeds: (payment method id, authorisation id)."""
        card = {"number": "4242424242424242", "exp_month": 12, "exp_year": CARD_YEAR, "cvc": "123"}
        method = await self.http.post("/v1/payment_methods", json={"card": card})
        assert method.status_code == 201, method.text
        pm = method.json()["id"]
        auth = await self.http.post(
            "/v1/authorizations", json={"payment_method": pm, "amount": amount, "currency": currency}
        )
        assert auth.status_code == 201, auth.text
        return pm, str(auth.json()["id"])

    async def authorization(self, authorisation_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/authorizations/{authorisation_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@dataclass
class Inventory:
    runtime: Runtime
    stub: inventory_pb2_grpc.InventoryServiceAsyncStub

    async def stocked(self, quantities: Mapping[str, int]) -> str:
        """A new warehouse holding `quantities` (sku -> on hand); its id."""
        location_id = f"wh-{uuid.uuid4().hex[:10]}"
        await self.stub.CreateLocation(
            inventory_pb2.CreateLocationRequest(
                location=inventory_pb2.Location(
                    location_id=location_id,
                    type=inventory_pb2.LOCATION_TYPE_WAREHOUSE,
                    name=location_id,
                    country="DE",
                    active=True,
                )
            ),
            metadata=ADMIN,
        )
        await self.stub.SetStock(
            inventory_pb2.SetStockRequest(
                entries=[
                    inventory_pb2.SetStockEntry(sku=sku, location_id=location_id, on_hand=on_hand)
                    for sku, on_hand in quantities.items()
                ]
            ),
            metadata=ADMIN,
        )
        return location_id

    async def reserve(self, reservation_id: str, lines: Mapping[str, int]) -> inventory_pb2.Reservation:
        request = inventory_pb2.ReserveRequest(
            reservation_id=reservation_id,
            lines=[inventory_pb2.ReservationLine(sku=sku, quantity=q) for sku, q in lines.items()],
        )
        request.ship.country = "DE"
        return (await self.stub.Reserve(request, metadata=SERVICE)).reservation

    async def reservation(self, reservation_id: str) -> inventory_pb2.Reservation:
        return await self.stub.GetReservation(
            inventory_pb2.GetReservationRequest(reservation_id=reservation_id), metadata=SERVICE
        )

    async def levels(self, sku: str) -> dict[str, tuple[int, int]]:
        """(on hand, reserved) per location."""
        response = await self.stub.GetStockLevels(inventory_pb2.GetStockLevelsRequest(skus=[sku]), metadata=ADMIN)
        return {level.location_id: (level.on_hand, level.reserved) for level in response.stock}


@dataclass
class Catalog:
    runtime: Runtime
    stub: catalog_pb2_grpc.CatalogServiceAsyncStub
    category_id: str = ""

    async def product(self, skus: list[str], *, window_days: int | None = None, returnable: bool = True) -> str:
        """An active product with these SKUs and return terms; its id."""
        if not self.category_id:
            slug = f"cat-{uuid.uuid4().hex[:8]}"
            category = await self.stub.CreateCategory(
                catalog_pb2.CreateCategoryRequest(category=catalog_pb2.Category(slug=slug, name=slug)), metadata=ADMIN
            )
            self.category_id = category.id
        product = catalog_pb2.Product(
            name=f"Product {uuid.uuid4().hex[:8]}",
            category_id=self.category_id,
            status=catalog_pb2.PRODUCT_STATUS_ACTIVE,
            channels=[catalog_pb2.CHANNEL_WEB],
            variants=[catalog_pb2.Variant(sku=sku, title=f"Variant {sku}") for sku in skus],
            returnable=returnable,
        )
        if window_days is not None:
            product.return_window_days = window_days
        created = await self.stub.CreateProduct(catalog_pb2.CreateProductRequest(product=product), metadata=ADMIN)
        return created.id


@dataclass
class Shop:
    """The order service and its peers, with helpers that keep tests short."""

    runtime: Runtime
    stub: order_pb2_grpc.OrderServiceAsyncStub
    settings: OrderSettings
    inventory: Inventory
    sandbox: Sandbox
    catalog: Catalog | None = None

    # Helpers the test modules use (they cannot import this module: pytest imports it by path).
    fails = staticmethod(fails)
    money = staticmethod(money)
    new_id = staticmethod(new_id)
    customer = staticmethod(customer)
    b2b = staticmethod(b2b)

    def request(
        self,
        *,
        checkout_id: str | None = None,
        customer_id: str | None = None,
        account_id: str = "",
        lines: Mapping[str, tuple[int, int]] | None = None,
        shipping: int = 500,
        authorisation: tuple[str, str] | None = None,
        invoice: bool = False,
        fraud_review_id: str = "",
        approval_limit: int | None = None,
        pickup_store: str = "",
        reservation_id: str = "",
    ) -> order_pb2.CreateOrderRequest:
        """A valid CreateOrderRequest: `lines` is sku -> (quantity, unit price); totals add up."""
        lines = lines or {f"SKU-{uuid.uuid4().hex[:8]}": (2, 1000)}
        subtotal = sum(quantity * price for quantity, price in lines.values())
        total = subtotal + shipping
        request = order_pb2.CreateOrderRequest(
            checkout_id=checkout_id or new_id(),
            customer=common_pb2.CustomerContext(
                customer_id=new_id("cus-") if customer_id is None else customer_id,
                account_id=account_id,
                channel="web",
                country="DE",
                currency=CURRENCY,
            ),
            email="ada@example.com",
            lines=[
                order_pb2.OrderLine(
                    sku=sku,
                    product_id=f"prod-{sku}",
                    name=f"Product {sku}",
                    quantity=quantity,
                    unit_price=money(price),
                    discount=money(0),
                    line_total=money(quantity * price),
                )
                for sku, (quantity, price) in lines.items()
            ],
            totals=order_pb2.OrderTotals(
                subtotal=money(subtotal),
                discount_total=money(0),
                shipping_total=money(shipping),
                tax_total=money(0),
                total=money(total),
            ),
            billing_address=common_pb2.Address(name="Ada", line1="Main St 1", city="Berlin", country="DE"),
            fraud_review_id=fraud_review_id,
            approval_required=approval_limit is not None,
            reservation_id=reservation_id,
        )
        if pickup_store:
            request.fulfilment_method.pickup.store_id = pickup_store
        else:
            request.fulfilment_method.ship.address.CopyFrom(
                common_pb2.Address(name="Ada", line1="Main St 1", city="Berlin", postal_code="10115", country="DE")
            )
        if approval_limit is not None:
            request.approval_limit.CopyFrom(money(approval_limit))
        if invoice:
            request.payment.kind = order_pb2.PAYMENT_METHOD_KIND_INVOICE
            request.payment.purchase_order_number = "PO-1"
        else:
            pm, auth = authorisation or ("pm_unused", "auth_unused")
            request.payment.kind = order_pb2.PAYMENT_METHOD_KIND_CARD
            request.payment.payment_method_id = pm
            request.payment.authorisation_id = auth
            request.payment.authorised_amount.CopyFrom(money(total))
        return request

    async def place(self, *, paid: bool = True, **options: Any) -> order_pb2.Order:
        """Create an order; card orders get a real authorisation of their total at the sandbox."""
        request = self.request(**options)
        if paid and not options.get("invoice") and "authorisation" not in options:
            pm, auth = await self.sandbox.authorise(request.totals.total.amount)
            request.payment.payment_method_id = pm
            request.payment.authorisation_id = auth
        return (await self.stub.CreateOrder(request, metadata=SERVICE)).order

    async def get(self, order_id: str, *, full: bool = False) -> order_pb2.Order:
        view = order_pb2.ORDER_VIEW_FULL if full else order_pb2.ORDER_VIEW_BASIC
        request = order_pb2.GetOrderRequest(order_id=order_id, view=view)
        return (await self.stub.GetOrder(request, metadata=ADMIN)).order

    async def cancel(
        self,
        order_id: str,
        reason: order_pb2.CancellationReason.ValueType = order_pb2.CANCELLATION_REASON_MERCHANT,
        metadata: Any = ADMIN,
    ) -> order_pb2.Order:
        request = order_pb2.CancelOrderRequest(order_id=order_id, reason=reason)
        return (await self.stub.CancelOrder(request, metadata=metadata)).order

    async def fulfil(self, order: order_pb2.Order, quantities: Mapping[int, int] | None = None) -> order_pb2.Order:
        """Ship line index -> quantity (default: everything left)."""
        if quantities is None:
            quantities = {i: line.quantity - line.fulfilled_quantity for i, line in enumerate(order.lines)}
        request = order_pb2.FulfilOrderRequest(
            order_id=order.order_id,
            request_id=new_id(),
            lines=[order_pb2.LineQuantity(line_id=order.lines[i].line_id, quantity=q) for i, q in quantities.items()],
            carrier="DHL",
            tracking_number="TRACK-1",
        )
        return (await self.stub.FulfilOrder(request, metadata=ADMIN)).order

    async def capture(self, order_id: str) -> order_pb2.Order:
        request = order_pb2.CapturePaymentRequest(order_id=order_id)
        return (await self.stub.CapturePayment(request, metadata=SERVICE)).order

    async def refund(self, order_id: str, amount: int | None = None, **fields: Any) -> order_pb2.RefundOrderResponse:
        request = order_pb2.RefundOrderRequest(
            order_id=order_id,
            request_id=fields.pop("request_id", new_id()),
            reason=fields.pop("reason", "returned"),
            **fields,
        )
        if amount is not None:
            request.amount.CopyFrom(money(amount))
        return await self.stub.RefundOrder(request, metadata=ADMIN)

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.runtime.db.transaction() as conn:
            result = await conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []

    async def counts(self) -> dict[str, int]:
        """Rows per table: the witness that a rejected request changed nothing."""
        tables = ["orders", "order_lines", "order_history", "fulfilments", "refunds", "order_effects", "outbox"]
        return {table: (await self.sql(f"SELECT count(*) AS n FROM {table}"))[0].n for table in tables}

    async def effects(self, order_id: str) -> dict[str, tuple[str, int]]:
        """kind -> (status, attempts) of the order's effects."""
        rows = await self.sql("SELECT kind, status, attempts FROM order_effects WHERE order_id = :o", o=order_id)
        return {row.kind: (row.status, row.attempts) for row in rows}


def order_settings(database_url: str, nats_url: str, **overrides: Any) -> OrderSettings:
    defaults: dict[str, Any] = {
        "db_pool_size": 20,
        "effects_poll_interval_seconds": 0.2,
        "effects_max_backoff_seconds": 0.5,
        "completion_enabled": False,
        "payment_provider_timeout_seconds": 3.0,
    }
    return OrderSettings(**service_settings(database_url, nats_url, **{**defaults, **overrides}))


@asynccontextmanager
async def running_sandbox(database_url: str, port: int = 0) -> AsyncIterator[Sandbox]:
    settings = SandboxSettings(
        database_url=database_url, http_host="127.0.0.1", http_port=port, log_format="text", shutdown_grace_seconds=2
    )
    async with (
        running(build_sandbox, settings) as service,
        httpx.AsyncClient(base_url=service.base_url, timeout=20) as http,
    ):
        yield Sandbox(service, http)


@asynccontextmanager
async def running_order(settings: OrderSettings) -> AsyncIterator[tuple[Runtime, order_pb2_grpc.OrderServiceAsyncStub]]:
    async with running(build, settings) as runtime:
        channel = grpc.aio.insecure_channel(grpc_address(runtime))
        try:
            yield runtime, order_pb2_grpc.OrderServiceStub(channel)
        finally:
            await channel.close(grace=None)


@pytest.fixture(scope="session")
def sandbox_database(postgres: Postgres) -> str:
    return postgres.migrated_database(SANDBOX_MIGRATIONS, prefix="order_sandbox")


@pytest.fixture(scope="session")
def order_database(postgres: Postgres) -> str:
    return postgres.migrated_database(MIGRATIONS, prefix="order")


@pytest.fixture(scope="session")
async def sandbox(sandbox_database: str) -> AsyncIterator[Sandbox]:
    async with running_sandbox(sandbox_database) as running_one:
        yield running_one


@pytest.fixture(scope="session")
async def inventory(postgres: Postgres, nats_url: str) -> AsyncIterator[Inventory]:
    async with peer(build_inventory, InventorySettings, postgres, nats_url, sweeper_enabled=False) as runtime:
        channel = grpc.aio.insecure_channel(grpc_address(runtime))
        yield Inventory(runtime, inventory_pb2_grpc.InventoryServiceStub(channel))
        await channel.close(grace=None)


@pytest.fixture(scope="session")
async def catalog(postgres: Postgres, nats_url: str) -> AsyncIterator[Catalog]:
    async with peer(build_catalog, CatalogSettings, postgres, nats_url) as runtime:
        channel = grpc.aio.insecure_channel(grpc_address(runtime))
        yield Catalog(runtime, catalog_pb2_grpc.CatalogServiceStub(channel))
        await channel.close(grace=None)


@pytest.fixture(scope="session")
async def shop(
    order_database: str, nats_url: str, inventory: Inventory, sandbox: Sandbox, catalog: Catalog
) -> AsyncIterator[Shop]:
    settings = order_settings(
        order_database,
        nats_url,
        inventory_addr=grpc_address(inventory.runtime),
        catalog_addr=grpc_address(catalog.runtime),
        payment_provider_url=sandbox.service.base_url,
    )
    async with running_order(settings) as (runtime, stub):
        yield Shop(runtime, stub, settings, inventory, sandbox, catalog)


@pytest.fixture
def isolated_database(postgres: Postgres) -> str:
    """A fresh order database of its own (no other runtime's effect worker looks at it)."""
    return postgres.migrated_database(MIGRATIONS, prefix="order_isolated")


StartOrder = Callable[..., AbstractAsyncContextManager[Shop]]


@pytest.fixture
def start_order(shop: Shop, nats_url: str) -> StartOrder:
    """Another order service (on `database_url`) with its own settings, beside the session's."""

    def start(database_url: str, **overrides: Any) -> AbstractAsyncContextManager[Shop]:
        @asynccontextmanager
        async def run() -> AsyncIterator[Shop]:
            settings = order_settings(
                database_url,
                nats_url,
                **{
                    "inventory_addr": shop.settings.inventory_addr,
                    "catalog_addr": shop.settings.catalog_addr,
                    "payment_provider_url": shop.settings.payment_provider_url,
                    **overrides,
                },
            )
            async with running_order(settings) as (runtime, stub):
                yield Shop(runtime, stub, settings, shop.inventory, shop.sandbox, shop.catalog)

        return run()

    return start


@pytest.fixture
def start_sandbox(sandbox_database: str) -> Callable[[int], AbstractAsyncContextManager[Sandbox]]:
    """Another sandbox server on the session sandbox's database, listening on `port`."""
    return lambda port: running_sandbox(sandbox_database, port)
