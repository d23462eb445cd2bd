"""The cart service and its REAL peers, in process: catalog, pricing and inventory (one per test
session, each with its own migrated database) and one cart service per test module (fresh database,
a clock the tests can move, settings a module may override with a `CART_SETTINGS` dict).
Test data goes in through the peers' admin APIs; every test uses its own SKUs and customers."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shop_cart.main import build as build_cart
from shop_cart.settings import CartSettings
from shop_catalog.main import build as build_catalog
from shop_catalog.settings import CatalogSettings
from shop_inventory.main import build as build_inventory
from shop_inventory.settings import InventorySettings
from shop_pricing.main import build as build_pricing
from shop_pricing.settings import PricingSettings
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, free_port, grpc_address, peer, published_event, running, service_settings

ADMIN = metadata_for("admin")
SERVICE = metadata_for("service")
GUEST: tuple[tuple[str, str], ...] = ()  # the gateway sends no identity for anonymous shoppers
ALL_CHANNELS = (catalog_pb2.CHANNEL_WEB, catalog_pb2.CHANNEL_MOBILE, catalog_pb2.CHANNEL_B2B, catalog_pb2.CHANNEL_POS)
Metadata = tuple[tuple[str, str], ...]


class MovableClock:
    """The cart service's now: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Peers:
    catalog: catalog_pb2_grpc.CatalogServiceAsyncStub
    pricing: pricing_pb2_grpc.PricingServiceAsyncStub
    inventory: inventory_pb2_grpc.InventoryServiceAsyncStub
    catalog_addr: str
    pricing_addr: str
    inventory_addr: str
    category_id: str
    warehouse: str


@pytest.fixture(scope="session")
async def peers(postgres: Postgres, nats_url: str) -> AsyncIterator[Peers]:
    async with (
        peer(build_catalog, CatalogSettings, postgres, nats_url) as catalog_runtime,
        peer(build_pricing, PricingSettings, postgres, nats_url) as pricing_runtime,
        peer(build_inventory, InventorySettings, postgres, nats_url, sweeper_enabled=False) as inventory_runtime,
    ):
        catalog_addr, pricing_addr, inventory_addr = (
            grpc_address(runtime) for runtime in (catalog_runtime, pricing_runtime, inventory_runtime)
        )
        channels = [grpc.aio.insecure_channel(addr) for addr in (catalog_addr, pricing_addr, inventory_addr)]
        catalog = catalog_pb2_grpc.CatalogServiceStub(channels[0])
        inventory = inventory_pb2_grpc.InventoryServiceStub(channels[2])
        category = await catalog.CreateCategory(
            catalog_pb2.CreateCategoryRequest(category=catalog_pb2.Category(slug="cart-tests", name="Cart tests")),
            metadata=ADMIN,
        )
        warehouse = await inventory.CreateLocation(
            inventory_pb2.CreateLocationRequest(
                location=inventory_pb2.Location(
                    location_id="wh-cart-tests",
                    type=inventory_pb2.LOCATION_TYPE_WAREHOUSE,
                    name="Cart",
                    country="US",
                    active=True,
                )
            ),
            metadata=ADMIN,
        )
        yield Peers(
            catalog,
            pricing_pb2_grpc.PricingServiceStub(channels[1]),
            inventory,
            catalog_addr,
            pricing_addr,
            inventory_addr,
            category.id,
            warehouse.location_id,
        )
        for channel in channels:
            await channel.close(grace=None)


@dataclass
class Shop:
    """The cart service of a test module with its peers, and helpers that keep the tests short."""

    runtime: Runtime
    stub: cart_pb2_grpc.CartServiceAsyncStub
    settings: CartSettings
    clock: MovableClock
    peers: Peers
    nats_url: str
    database_url: str
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    # --- identities and ids

    @staticmethod
    def unique(prefix: str = "T") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    @staticmethod
    def customer(customer_id: str) -> Metadata:
        return metadata_for("customer", customer_id=customer_id)

    @staticmethod
    def context(customer_id: str = "", currency: str = "USD", channel: str = "web") -> common_pb2.CustomerContext:
        return common_pb2.CustomerContext(customer_id=customer_id, channel=channel, country="US", currency=currency)

    @staticmethod
    def dead_address() -> str:
        """An address where nothing listens: calls to it fail with UNAVAILABLE at once."""
        return f"127.0.0.1:{free_port()}"

    @staticmethod
    async def fails(call: Awaitable[Any]) -> RpcErrorInfo:
        """Await a call that must fail; its decoded error."""
        try:
            await call
        except grpc.aio.AioRpcError as error:
            return parse_rpc_error(error)
        raise AssertionError("the call succeeded")

    # --- seeding the peers

    async def product(
        self,
        *skus: str,
        price: int | None = 1000,
        stock: int = 100,
        status: catalog_pb2.ProductStatus.ValueType = catalog_pb2.PRODUCT_STATUS_ACTIVE,
        channels: Sequence[catalog_pb2.Channel.ValueType] = ALL_CHANNELS,
        weight_grams: int | None = None,
    ) -> catalog_pb2.Product:
        """A product whose variants have `skus`, each with a USD base price (None: no price) and stock."""
        slug = self.unique("p").lower()
        product = await self.peers.catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                product=catalog_pb2.Product(
                    slug=slug,
                    name=f"Product {slug}",
                    category_id=self.peers.category_id,
                    channels=channels,
                    status=status,
                    variants=[catalog_pb2.Variant(sku=sku, weight_grams=weight_grams) for sku in skus],
                )
            ),
            metadata=ADMIN,
        )
        for sku in skus:
            if price is not None:
                await self.set_price(sku, price)
            await self.set_stock(sku, stock)
        return product

    async def sku(self, price: int = 1000, stock: int = 100) -> str:
        sku = self.unique("SKU")
        await self.product(sku, price=price, stock=stock)
        return sku

    async def set_price(self, sku: str, amount: int, currency: str = "USD") -> None:
        price = pricing_pb2.BasePrice(sku=sku, price=common_pb2.Money(amount=amount, currency=currency))
        await self.peers.pricing.SetBasePrices(pricing_pb2.SetBasePricesRequest(prices=[price]), metadata=ADMIN)

    async def set_stock(self, sku: str, on_hand: int) -> None:
        entry = inventory_pb2.SetStockEntry(sku=sku, location_id=self.peers.warehouse, on_hand=on_hand)
        await self.peers.inventory.SetStock(inventory_pb2.SetStockRequest(entries=[entry]), metadata=ADMIN)

    async def discontinue(self, product_id: str) -> None:
        await self.peers.catalog.DiscontinueProduct(
            catalog_pb2.DiscontinueProductRequest(id=product_id), metadata=ADMIN
        )

    async def coupon(
        self, *, percent_bp: int = 1000, min_spend: int = 0, expired: bool = False, per_customer: int = 0
    ) -> str:
        """A coupon for `percent_bp` off the order (optionally with a USD minimum spend)."""
        promotion = pricing_pb2.Promotion(
            id=self.unique("promo").lower(),
            name="Test promotion",
            kind=pricing_pb2.DISCOUNT_KIND_PERCENT,
            percent_bp=percent_bp,
            target=pricing_pb2.DISCOUNT_TARGET_ORDER,
            active=True,
        )
        if min_spend:
            promotion.min_spend.CopyFrom(common_pb2.Money(amount=min_spend, currency="USD"))
        if expired:
            now = datetime.now(UTC)
            promotion.valid_from.FromDatetime(now - timedelta(days=10))
            promotion.valid_to.FromDatetime(now - timedelta(days=1))
        await self.peers.pricing.CreatePromotion(
            pricing_pb2.CreatePromotionRequest(promotion=promotion), metadata=ADMIN
        )
        code = self.unique("C").upper()
        coupon = pricing_pb2.Coupon(
            code=code, promotion_id=promotion.id, active=True, usage_limit_per_customer=per_customer
        )
        await self.peers.pricing.CreateCoupon(pricing_pb2.CreateCouponRequest(coupon=coupon), metadata=ADMIN)
        return code

    # --- carts

    async def guest_cart(self, currency: str = "USD") -> cart_pb2.Cart:
        request = cart_pb2.CreateCartRequest(context=self.context(currency=currency), request_id=str(uuid.uuid4()))
        return (await self.stub.CreateCart(request, metadata=GUEST)).cart

    async def customer_cart(self, customer_id: str) -> cart_pb2.Cart:
        request = cart_pb2.CreateCartRequest(context=self.context(customer_id))
        return (await self.stub.CreateCart(request, metadata=self.customer(customer_id))).cart

    async def add(
        self,
        cart_id: str,
        sku: str,
        quantity: int = 1,
        *,
        who: Metadata = GUEST,
        request_id: str = "",
        expected_version: int = 0,
    ) -> cart_pb2.AddCartLineResponse:
        request = cart_pb2.AddCartLineRequest(
            cart_id=cart_id,
            sku=sku,
            quantity=quantity,
            request_id=request_id or str(uuid.uuid4()),
            expected_version=expected_version,
        )
        response: cart_pb2.AddCartLineResponse = await self.stub.AddCartLine(request, metadata=who)
        return response

    async def get(self, cart_id: str, who: Metadata = GUEST) -> cart_pb2.Cart:
        return (await self.stub.GetCart(cart_pb2.GetCartRequest(cart_id=cart_id), metadata=who)).cart

    async def refresh(self, cart_id: str, who: Metadata = GUEST) -> cart_pb2.Cart:
        return (await self.stub.RefreshCart(cart_pb2.RefreshCartRequest(cart_id=cart_id), metadata=who)).cart

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.runtime.db.connect() as conn:
            result = await conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []

    async def event(self, subject: str, matches: Callable[[bytes], bool], within: float = 10.0) -> bytes:
        """The first message on `subject` (from the stream's start) whose payload `matches`."""
        return await published_event(self.nats_url, subject, matches, within)

    async def another_instance(self, **overrides: Any) -> cart_pb2_grpc.CartServiceAsyncStub:
        """A second cart process on the same database and clock (e.g. with a peer that is down)."""
        values = service_settings(self.database_url, self.nats_url, **{**cart_defaults(self.peers), **overrides})
        context = running(functools.partial(build_cart, clock=self.clock), CartSettings(**values))
        runtime = await context.__aenter__()
        channel = grpc.aio.insecure_channel(grpc_address(runtime))

        async def close() -> None:
            await channel.close(grace=None)
            await context.__aexit__(None, None, None)

        self.closers.append(close)
        return cart_pb2_grpc.CartServiceStub(channel)


def cart_defaults(peers: Peers) -> dict[str, Any]:
    return {
        "catalog_addr": peers.catalog_addr,
        "pricing_addr": peers.pricing_addr,
        "inventory_addr": peers.inventory_addr,
        "sweeper_enabled": False,
        "default_call_timeout_seconds": 3.0,
    }


@pytest.fixture(scope="module")
async def shop(request: pytest.FixtureRequest, postgres: Postgres, nats_url: str, peers: Peers) -> AsyncIterator[Shop]:
    clock = MovableClock()
    overrides = {**cart_defaults(peers), **getattr(request.module, "CART_SETTINGS", {})}
    async with peer(
        functools.partial(build_cart, clock=clock), CartSettings, postgres, nats_url, **overrides
    ) as runtime:
        channel = grpc.aio.insecure_channel(grpc_address(runtime))
        settings = runtime.settings
        assert isinstance(settings, CartSettings)
        url = settings.database_url
        shop = Shop(runtime, cart_pb2_grpc.CartServiceStub(channel), settings, clock, peers, nats_url, url)
        try:
            yield shop
        finally:
            for close in reversed(shop.closers):
                await close()
            await channel.close(grace=None)
