"""Channels and stubs of the services the saga calls, and how their errors are classified.

Every call is made as role `service` with an explicit timeout: the saga runs in the background,
not within the deadline of the PlaceOrder call that started it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.customers.v1 import customers_pb2, customers_pb2_grpc
from shop.fraud.v1 import fraud_pb2, fraud_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shop_checkout.settings import CheckoutSettings
from shopkit import tls
from shopkit.auth import metadata_for
from shopkit.clients import make_channel
from shopkit.errors import RpcErrorInfo, parse_rpc_error

R = TypeVar("R")

# Worth another try with the same idempotent request; the call's effect is unknown meanwhile.
TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)

SERVICE = metadata_for("service")


class PeerError(Exception):
    """A peer answered with an error status (decoded google.rpc details in `info`)."""

    def __init__(self, peer: str, info: RpcErrorInfo):
        super().__init__(f"{peer}: {info.code.name} {info.reason} {info.message}".strip())
        self.peer = peer
        self.info = info

    @property
    def transient(self) -> bool:
        return self.info.code in TRANSIENT_CODES

    @property
    def code(self) -> grpc.StatusCode:
        return self.info.code

    @property
    def reason(self) -> str:
        return self.info.reason


class Peers:
    def __init__(self, settings: CheckoutSettings):
        timeout = settings.default_call_timeout_seconds
        self.timeout = timeout
        identity = tls.from_settings(settings)

        def channel(addr: str, descriptor: Any, name: str) -> grpc.aio.Channel:
            return make_channel(addr, [descriptor.services_by_name[name]], default_timeout=timeout, tls=identity)

        self.channels = [
            channel(settings.cart_addr, cart_pb2.DESCRIPTOR, "CartService"),
            channel(settings.pricing_addr, pricing_pb2.DESCRIPTOR, "PricingService"),
            channel(settings.inventory_addr, inventory_pb2.DESCRIPTOR, "InventoryService"),
            channel(settings.order_addr, order_pb2.DESCRIPTOR, "OrderService"),
            channel(settings.fraud_addr, fraud_pb2.DESCRIPTOR, "FraudService"),
            channel(settings.catalog_addr, catalog_pb2.DESCRIPTOR, "CatalogService"),
            channel(settings.customers_addr, customers_pb2.DESCRIPTOR, "CustomersService"),
        ]
        cart, pricing, inventory, order, fraud, catalog, customers = self.channels
        self.cart = cart_pb2_grpc.CartServiceStub(cart)
        self.pricing = pricing_pb2_grpc.PricingServiceStub(pricing)
        self.inventory = inventory_pb2_grpc.InventoryServiceStub(inventory)
        self.order = order_pb2_grpc.OrderServiceStub(order)
        self.fraud = fraud_pb2_grpc.FraudServiceStub(fraud)
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(catalog)  # the lines' categories (approval rules)
        self.customers = customers_pb2_grpc.CustomersServiceStub(customers)  # B2B approval chains

    async def call(self, peer: str, method: Callable[..., Awaitable[R]], request: Any, *, seconds: float = 0) -> R:
        """One unary call as role `service`; errors become PeerError."""
        try:
            return await method(request, metadata=SERVICE, timeout=seconds or self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise PeerError(peer, parse_rpc_error(exc)) from exc

    async def review(self, review_id: str) -> fraud_pb2.Review | None:
        """A fraud review as fraud holds it; None when fraud knows no such review."""
        request = fraud_pb2.GetReviewRequest(review_id=review_id)
        response = await self._unless_not_found("fraud", self.fraud.GetReview, request)
        return response.review if response is not None else None

    async def order_of(self, order_id: str) -> order_pb2.Order | None:
        """An order as order holds it; None when order knows no such order."""
        request = order_pb2.GetOrderRequest(order_id=order_id)
        response = await self._unless_not_found("order", self.order.GetOrder, request)
        return response.order if response is not None else None

    async def _unless_not_found(self, peer: str, method: Callable[..., Awaitable[R]], request: Any) -> R | None:
        try:
            return await self.call(peer, method, request)
        except PeerError as exc:
            if exc.code is grpc.StatusCode.NOT_FOUND:
                return None
            raise

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close(grace=None)
