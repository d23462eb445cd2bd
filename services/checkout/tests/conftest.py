"""The checkout service with its REAL peers, in process, one per test session: catalog, pricing,
inventory, cart, order, fraud and the payment sandbox, each with its own migrated database. Test
data goes in through the peers' APIs; every test uses its own SKUs, customers and carts.

Fraud runs with rules only and deterministic weights: an e-mail at `throwaway.test` is BLOCKed, an
IP country `KP` is sent to REVIEW, everything else is ALLOWed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import grpc
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import shop_checkout
from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.checkout.v1 import checkout_pb2, checkout_pb2_grpc
from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2_grpc
from shop.fraud.v1 import fraud_pb2, fraud_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shop_cart.main import build as build_cart
from shop_cart.settings import CartSettings
from shop_catalog.main import build as build_catalog
from shop_catalog.settings import CatalogSettings
from shop_checkout.engine import SagaEngine, kill_process
from shop_checkout.main import build_service
from shop_checkout.settings import CheckoutSettings
from shop_customers.main import build as build_customers
from shop_customers.settings import CustomersSettings
from shop_fraud.main import build as build_fraud
from shop_fraud.settings import FraudSettings
from shop_fraud.testing import predictable
from shop_inventory.main import build as build_inventory
from shop_inventory.settings import InventorySettings
from shop_order.main import build as build_order
from shop_order.settings import OrderSettings
from shop_pricing.main import build as build_pricing
from shop_pricing.settings import PricingSettings
from shop_sandbox.client import SandboxClient
from shop_sandbox.main import build as build_sandbox
from shop_sandbox.settings import SandboxSettings
from shopkit import events
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, grpc_address, migrations_of, peer, published_event, running, service_settings

ADMIN = metadata_for("admin")
SERVICE = metadata_for("service")
ANALYST = metadata_for("fraud_analyst", customer_id="analyst-1")
GUEST: tuple[tuple[str, str], ...] = ()
Metadata = tuple[tuple[str, str], ...]
ALL_CHANNELS = (catalog_pb2.CHANNEL_WEB, catalog_pb2.CHANNEL_MOBILE, catalog_pb2.CHANNEL_B2B, catalog_pb2.CHANNEL_POS)
VALID_YEAR = datetime.now(UTC).year + 3
BLOCKED_DOMAIN = "throwaway.test"
REVIEW_COUNTRY = "KP"
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_NO_FUNDS = "4000000000009995"


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Buyer:
    """Who places an order: a guest (no customer id), a customer, or a B2B buyer of an account."""

    customer_id: str = ""
    account_id: str = ""
    role: str = "customer"

    @property
    def metadata(self) -> Metadata:
        if not self.customer_id:
            return GUEST
        return metadata_for(self.role, customer_id=self.customer_id, account_id=self.account_id)

    def context(self) -> common_pb2.CustomerContext:
        channel = "b2b" if self.account_id else "web"
        return common_pb2.CustomerContext(
            customer_id=self.customer_id, account_id=self.account_id, channel=channel, country="US", currency="USD"
        )


def address(country: str = "US") -> common_pb2.Address:
    return common_pb2.Address(
        name="Ada Buyer", line1="1 Main St", city="Springfield", postal_code="12345", country=country
    )


@dataclass
class Shop:
    """Every service of the purchase path, and helpers that keep the checkout tests short."""

    postgres: Postgres
    nats_url: str
    addresses: dict[str, str]
    catalog: catalog_pb2_grpc.CatalogServiceAsyncStub
    pricing: pricing_pb2_grpc.PricingServiceAsyncStub
    inventory: inventory_pb2_grpc.InventoryServiceAsyncStub
    cart: cart_pb2_grpc.CartServiceAsyncStub
    fraud: fraud_pb2_grpc.FraudServiceAsyncStub
    order: order_pb2_grpc.OrderServiceAsyncStub
    customers: customers_pb2_grpc.CustomersServiceAsyncStub
    order_db: AsyncEngine
    sandbox: SandboxClient
    sandbox_db: AsyncEngine
    checkout_url: str
    runtime: Runtime
    engine: SagaEngine
    stub: checkout_pb2_grpc.CheckoutServiceAsyncStub
    category_id: str
    warehouse: str
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    # Test modules reach these through the fixture (conftest is not importable by name).
    BLOCKED_DOMAIN: ClassVar[str] = BLOCKED_DOMAIN
    REVIEW_COUNTRY: ClassVar[str] = REVIEW_COUNTRY
    CARD_OK: ClassVar[str] = CARD_OK
    CARD_DECLINED: ClassVar[str] = CARD_DECLINED
    CARD_NO_FUNDS: ClassVar[str] = CARD_NO_FUNDS
    ADMIN: ClassVar[Metadata] = ADMIN
    ANALYST: ClassVar[Metadata] = ANALYST
    GUEST: ClassVar[Metadata] = GUEST

    @staticmethod
    def unique(prefix: str = "t") -> str:
        return unique(prefix)

    @staticmethod
    def customer() -> Buyer:
        return Buyer(unique("cust"))

    @staticmethod
    def guest() -> Buyer:
        return Buyer()

    @staticmethod
    def b2b_buyer(account_id: str = "") -> Buyer:
        return Buyer(unique("buyer"), account_id or unique("acct"), "b2b_buyer")

    @staticmethod
    def approver(buyer: Buyer) -> Metadata:
        """Another person of the buyer's account, with the approver role."""
        return metadata_for("b2b_approver", customer_id=unique("approver"), account_id=buyer.account_id)

    # --- errors

    @staticmethod
    async def fails(call: Awaitable[Any]) -> RpcErrorInfo:
        try:
            await call
        except grpc.aio.AioRpcError as error:
            return parse_rpc_error(error)
        raise AssertionError("the call succeeded")

    # --- seeding the peers

    async def location(self, kind: str = "st", *, pickup: bool = True) -> str:
        location_id = unique(kind)
        location_type = inventory_pb2.LOCATION_TYPE_STORE if kind == "st" else inventory_pb2.LOCATION_TYPE_WAREHOUSE
        await self.inventory.CreateLocation(
            inventory_pb2.CreateLocationRequest(
                location=inventory_pb2.Location(
                    location_id=location_id,
                    type=location_type,
                    name=f"Location {location_id}",
                    country="US",
                    click_and_collect=pickup and kind == "st",
                    active=True,
                )
            ),
            metadata=ADMIN,
        )
        return location_id

    async def sku(self, price: int = 1000, stock: int | Mapping[str, int] = 10) -> str:
        """A sellable SKU with a USD base price and stock (at the warehouse, or per location)."""
        sku = unique("SKU")
        slug = unique("p").lower()
        await self.catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                product=catalog_pb2.Product(
                    slug=slug,
                    name=f"Product {slug}",
                    category_id=self.category_id,
                    channels=ALL_CHANNELS,
                    status=catalog_pb2.PRODUCT_STATUS_ACTIVE,
                    variants=[catalog_pb2.Variant(sku=sku)],
                )
            ),
            metadata=ADMIN,
        )
        base = pricing_pb2.BasePrice(sku=sku, price=common_pb2.Money(amount=price, currency="USD"))
        await self.pricing.SetBasePrices(pricing_pb2.SetBasePricesRequest(prices=[base]), metadata=ADMIN)
        quantities = {self.warehouse: stock} if isinstance(stock, int) else dict(stock)
        await self.inventory.SetStock(
            inventory_pb2.SetStockRequest(
                entries=[
                    inventory_pb2.SetStockEntry(sku=sku, location_id=loc, on_hand=q) for loc, q in quantities.items()
                ]
            ),
            metadata=ADMIN,
        )
        return sku

    async def coupon(self, percent_bp: int = 1000, usage_limit: int = 0) -> str:
        promotion = pricing_pb2.Promotion(
            id=unique("promo"),
            name="Checkout test",
            kind=pricing_pb2.DISCOUNT_KIND_PERCENT,
            percent_bp=percent_bp,
            target=pricing_pb2.DISCOUNT_TARGET_ORDER,
            active=True,
        )
        await self.pricing.CreatePromotion(pricing_pb2.CreatePromotionRequest(promotion=promotion), metadata=ADMIN)
        code = unique("C").upper()
        coupon = pricing_pb2.Coupon(code=code, promotion_id=promotion.id, active=True, usage_limit_total=usage_limit)
        await self.pricing.CreateCoupon(pricing_pb2.CreateCouponRequest(coupon=coupon), metadata=ADMIN)
        return code

    async def coupon_uses(self, code: str) -> int:
        response = await self.pricing.GetCoupon(pricing_pb2.GetCouponRequest(code=code), metadata=ADMIN)
        return response.coupon.times_used

    async def card(self, number: str = CARD_OK) -> str:
        method = await self.sandbox.tokenise(number, 12, VALID_YEAR, "123", billing_country="US")
        return method.id

    async def new_cart(self, buyer: Buyer, items: Mapping[str, int], coupon: str = "") -> str:
        request = cart_pb2.CreateCartRequest(context=buyer.context(), request_id=str(uuid.uuid4()))
        cart = (await self.cart.CreateCart(request, metadata=buyer.metadata)).cart
        for sku, quantity in items.items():
            await self.cart.AddCartLine(
                cart_pb2.AddCartLineRequest(
                    cart_id=cart.cart_id, sku=sku, quantity=quantity, request_id=str(uuid.uuid4())
                ),
                metadata=buyer.metadata,
            )
        if coupon:
            await self.cart.ApplyCoupon(
                cart_pb2.ApplyCouponRequest(cart_id=cart.cart_id, coupon_code=coupon), metadata=buyer.metadata
            )
        return cart.cart_id

    async def cart_status(self, cart_id: str) -> int:
        response = await self.cart.GetCart(cart_pb2.GetCartRequest(cart_id=cart_id), metadata=SERVICE)
        return response.cart.status

    # --- placing orders

    def request(
        self,
        cart_id: str,
        buyer: Buyer,
        *,
        key: str = "",
        payment_method: str = "",
        invoice: bool = False,
        pickup: str = "",
        email: str = "",
        ip_country: str = "US",
        **fields: Any,
    ) -> checkout_pb2.PlaceOrderRequest:
        request = checkout_pb2.PlaceOrderRequest(
            cart_id=cart_id,
            idempotency_key=key or unique("key"),
            billing_address=address(),
            client_ip="203.0.113.7",
            client_ip_country=ip_country,
            device_id=unique("device"),
            customer=buyer.context(),
            email=email or f"{buyer.customer_id or unique('guest')}@example.com",
            **fields,
        )
        if invoice:
            request.payment.invoice.purchase_order_number = "PO-4711"
        else:
            request.payment.card.payment_method_id = payment_method
        if pickup:
            request.fulfilment.pickup.store_id = pickup
        else:
            request.fulfilment.ship.address.CopyFrom(address())
        return request

    async def place(
        self,
        request: checkout_pb2.PlaceOrderRequest,
        buyer: Buyer,
        *,
        stub: checkout_pb2_grpc.CheckoutServiceAsyncStub | None = None,
        deadline: float = 30.0,
    ) -> checkout_pb2.PlaceOrderResponse:
        return await (stub or self.stub).PlaceOrder(request, metadata=buyer.metadata, timeout=deadline)

    async def checkout(self, checkout_id: str) -> checkout_pb2.Checkout:
        response = await self.stub.GetCheckout(checkout_pb2.GetCheckoutRequest(checkout_id=checkout_id), metadata=ADMIN)
        return response.checkout

    async def settled(
        self, checkout_id: str, statuses: Iterable[int] = (), within: float = 20.0
    ) -> checkout_pb2.Checkout:
        """The checkout once it reached one of `statuses` (default: completed or failed)."""
        wanted = set(statuses) or {checkout_pb2.CHECKOUT_STATUS_COMPLETED, checkout_pb2.CHECKOUT_STATUS_FAILED}
        deadline = time.monotonic() + within
        while True:
            found = await self.checkout(checkout_id)
            if found.status in wanted:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"checkout {checkout_id} stayed {found.status}: {found}")
            await asyncio.sleep(0.05)

    # --- what happened at the peers

    async def set_stock(self, sku: str, on_hand: int, location: str = "") -> None:
        entry = inventory_pb2.SetStockEntry(sku=sku, location_id=location or self.warehouse, on_hand=on_hand)
        await self.inventory.SetStock(inventory_pb2.SetStockRequest(entries=[entry]), metadata=ADMIN)

    async def stock(self, sku: str) -> dict[str, tuple[int, int]]:
        """(on_hand, reserved) per location."""
        response = await self.inventory.GetStockLevels(inventory_pb2.GetStockLevelsRequest(skus=[sku]), metadata=ADMIN)
        return {level.location_id: (level.on_hand, level.reserved) for level in response.stock}

    async def authorizations(self, checkout_id: str) -> list[tuple[str, int]]:
        """(status, amount_captured) of every authorisation the sandbox made for a checkout."""
        async with self.sandbox_db.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT status, amount_captured FROM authorizations "
                    "WHERE metadata->>'checkout_id' = :id ORDER BY created_at"
                ),
                {"id": checkout_id},
            )
            return [(row.status, row.amount_captured) for row in rows]

    async def authorizations_become(
        self, checkout_id: str, expected: list[tuple[str, int]], within: float = 10.0
    ) -> None:
        """The order service voids and refunds in the background: wait for the provider's state."""
        deadline = time.monotonic() + within
        while (found := await self.authorizations(checkout_id)) != expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"authorisations of {checkout_id}: {found}, expected {expected}")
            await asyncio.sleep(0.05)

    async def stock_becomes(self, sku: str, expected: dict[str, tuple[int, int]], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while (found := await self.stock(sku)) != expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"stock of {sku}: {found}, expected {expected}")
            await asyncio.sleep(0.05)

    async def get_order(self, order_id: str) -> order_pb2.Order:
        response = await self.order.GetOrder(order_pb2.GetOrderRequest(order_id=order_id), metadata=ADMIN)
        return response.order

    async def orders_of(self, checkout_id: str) -> int:
        async with self.order_db.connect() as conn:
            found = await conn.execute(
                sa.text("SELECT count(*) FROM orders WHERE checkout_id = :id"), {"id": checkout_id}
            )
            return int(found.scalar() or 0)

    async def checkout_rows(self, **where: str) -> int:
        clauses = " AND ".join(f"{name} = :{name}" for name in where) or "true"
        async with self.runtime.db.connect() as conn:
            result = await conn.execute(sa.text(f"SELECT count(*) FROM checkouts WHERE {clauses}"), where)
            return int(result.scalar() or 0)

    async def consumed(self, subject: str, data: bytes, name: str, within: float = 10.0) -> None:
        """Publish an event as any NATS client could, and wait until checkout's consumer `name` took it."""
        message_id = unique("event")
        nc = await events.connect(self.nats_url, "test-publisher")
        try:
            await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": message_id})
        finally:
            await nc.close()
        query = sa.text("SELECT count(*) FROM inbox WHERE consumer = :consumer AND message_id = :id")
        deadline = time.monotonic() + within
        while True:
            async with self.runtime.db.connect() as conn:
                if (await conn.execute(query, {"consumer": f"checkout-{name}", "id": message_id})).scalar():
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not take the event {message_id} on {subject}")
            await asyncio.sleep(0.05)

    async def event(self, subject: str, matches: Callable[[bytes], bool], within: float = 10.0) -> bytes:
        """The first message on `subject` (from the stream's start) whose payload `matches`."""
        return await published_event(self.nats_url, subject, matches, within)

    # --- more checkout processes on the same database

    def settings(self, **overrides: Any) -> CheckoutSettings:
        return CheckoutSettings(**checkout_values(self.checkout_url, self.nats_url, self.addresses, **overrides))

    @contextlib.asynccontextmanager
    async def another_checkout(
        self, crash: Callable[[str], None] = kill_process, **overrides: Any
    ) -> AsyncIterator[tuple[SagaEngine, checkout_pb2_grpc.CheckoutServiceAsyncStub]]:
        built: list[SagaEngine] = []

        async def build(settings: CheckoutSettings) -> Runtime:
            runtime, engine = await build_service(settings, crash=crash)
            built.append(engine)
            return runtime

        async with running(build, self.settings(**overrides)) as runtime:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.service.port}")
            try:
                yield built[0], checkout_pb2_grpc.CheckoutServiceStub(channel)
            finally:
                await channel.close(grace=None)

    def environment(self, **overrides: str) -> dict[str, str]:
        """Environment of a `shop-checkout serve` subprocess on the same database and peers."""
        values = checkout_values(self.checkout_url, self.nats_url, self.addresses)
        env = {key.upper(): str(value) for key, value in values.items()}
        env.update({key.upper(): value for key, value in overrides.items()})
        return {**os.environ, **env}


def checkout_values(url: str, nats_url: str, addresses: Mapping[str, str], **overrides: Any) -> dict[str, Any]:
    return service_settings(url, nats_url, **checkout_overrides(addresses, **overrides))


def checkout_overrides(addresses: Mapping[str, str], **overrides: Any) -> dict[str, Any]:
    return {
        "cart_addr": addresses["cart"],
        "pricing_addr": addresses["pricing"],
        "inventory_addr": addresses["inventory"],
        "order_addr": addresses["order"],
        "fraud_addr": addresses["fraud"],
        "catalog_addr": addresses["catalog"],
        "customers_addr": addresses["customers"],
        "payment_provider_url": addresses["sandbox"],
        "instance_name": unique("checkout"),
        "recovery_interval_seconds": 0.2,
        "lease_seconds": 5.0,
        "retry_initial_seconds": 0.05,
        "retry_max_seconds": 0.5,
        "step_max_attempts": 3,
        "place_order_wait_seconds": 15.0,
        "default_call_timeout_seconds": 5.0,
        **overrides,
    }


@pytest.fixture(scope="session")
async def shop(postgres: Postgres, nats_url: str) -> AsyncIterator[Shop]:
    import traceback

    try:
        async for s in _shop(postgres, nats_url):
            yield s
    except BaseException:
        traceback.print_exc()
        raise


async def _shop(postgres: Postgres, nats_url: str) -> AsyncIterator[Shop]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(build: Callable[..., Awaitable[Runtime]], settings: Any, **overrides: Any) -> Runtime:
            return await stack.enter_async_context(peer(build, settings, postgres, nats_url, **overrides))

        addresses: dict[str, str] = {}
        addresses["catalog"] = grpc_address(await start(build_catalog, CatalogSettings))
        addresses["pricing"] = grpc_address(await start(build_pricing, PricingSettings))
        addresses["customers"] = grpc_address(await start(build_customers, CustomersSettings))
        addresses["inventory"] = grpc_address(await start(build_inventory, InventorySettings))
        cart = await start(
            build_cart,
            CartSettings,
            catalog_addr=addresses["catalog"],
            pricing_addr=addresses["pricing"],
            inventory_addr=addresses["inventory"],
            sweeper_enabled=False,
        )
        addresses["cart"] = grpc_address(cart)
        fraud = predictable(blocked_domain=BLOCKED_DOMAIN, review_country=REVIEW_COUNTRY)
        addresses["fraud"] = grpc_address(await start(build_fraud, FraudSettings, **fraud))
        sandbox_service = await stack.enter_async_context(
            peer(build_sandbox, SandboxSettings, postgres, nats_url, http_host="127.0.0.1", http_port=0)
        )
        addresses["sandbox"] = sandbox_service.base_url
        order = await start(
            build_order,
            OrderSettings,
            inventory_addr=addresses["inventory"],
            payment_provider_url=addresses["sandbox"],
            effects_poll_interval_seconds=0.1,
            completion_enabled=False,
        )
        addresses["order"] = grpc_address(order)

        engines: list[SagaEngine] = []

        async def build_checkout(settings: CheckoutSettings) -> Runtime:
            runtime, engine = await build_service(settings)
            engines.append(engine)
            return runtime

        runtime = await stack.enter_async_context(
            peer(
                build_checkout,
                CheckoutSettings,
                postgres,
                nats_url,
                migrations=migrations_of(shop_checkout),
                **checkout_overrides(addresses),
            )
        )
        channels = {name: grpc.aio.insecure_channel(addr) for name, addr in addresses.items() if name != "sandbox"}
        channels["checkout"] = grpc.aio.insecure_channel(grpc_address(runtime))
        for channel in channels.values():
            stack.push_async_callback(channel.close, None)
        sandbox = SandboxClient(addresses["sandbox"])
        stack.push_async_callback(sandbox.aclose)
        sandbox_db = create_async_engine(sandbox_service.settings.database_url)
        stack.push_async_callback(sandbox_db.dispose)
        order_db = create_async_engine(order.settings.database_url)
        stack.push_async_callback(order_db.dispose)
        catalog = catalog_pb2_grpc.CatalogServiceStub(channels["catalog"])
        inventory = inventory_pb2_grpc.InventoryServiceStub(channels["inventory"])
        category = await catalog.CreateCategory(
            catalog_pb2.CreateCategoryRequest(category=catalog_pb2.Category(slug="checkout-tests", name="Checkout")),
            metadata=ADMIN,
        )
        shop = Shop(
            postgres=postgres,
            nats_url=nats_url,
            addresses=addresses,
            catalog=catalog,
            pricing=pricing_pb2_grpc.PricingServiceStub(channels["pricing"]),
            inventory=inventory,
            cart=cart_pb2_grpc.CartServiceStub(channels["cart"]),
            fraud=fraud_pb2_grpc.FraudServiceStub(channels["fraud"]),
            order=order_pb2_grpc.OrderServiceStub(channels["order"]),
            customers=customers_pb2_grpc.CustomersServiceStub(channels["customers"]),
            order_db=order_db,
            sandbox=sandbox,
            sandbox_db=sandbox_db,
            checkout_url=runtime.settings.database_url,
            runtime=runtime,
            engine=engines[0],
            stub=checkout_pb2_grpc.CheckoutServiceStub(channels["checkout"]),
            category_id=category.id,
            warehouse="",
        )
        shop.warehouse = await shop.location("wh")
        yield shop
        for close in reversed(shop.closers):
            await close()


def approve_review(review_id: str) -> fraud_pb2.ApproveReviewRequest:
    return fraud_pb2.ApproveReviewRequest(review_id=review_id, note="looks fine")
