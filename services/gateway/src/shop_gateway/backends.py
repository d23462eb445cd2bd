"""Channels and stubs of the services behind the gateway, and their health checks for /readyz."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc
from google.protobuf import descriptor as _descriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.checkout.v1 import checkout_pb2, checkout_pb2_grpc
from shop.customers.v1 import customers_pb2, customers_pb2_grpc, integration_clients_pb2, integration_clients_pb2_grpc
from shop.fraud.v1 import fraud_pb2, fraud_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shop_gateway.settings import GatewaySettings
from shopkit import tls
from shopkit.clients import make_channel
from shopkit.usertoken import Signer, TokensFor

SERVICES: dict[str, _descriptor.ServiceDescriptor] = {
    "catalog": catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
    "pricing": pricing_pb2.DESCRIPTOR.services_by_name["PricingService"],
    "inventory": inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"],
    "cart": cart_pb2.DESCRIPTOR.services_by_name["CartService"],
    "checkout": checkout_pb2.DESCRIPTOR.services_by_name["CheckoutService"],
    "order": order_pb2.DESCRIPTOR.services_by_name["OrderService"],
    "fraud": fraud_pb2.DESCRIPTOR.services_by_name["FraudService"],
    "notifications": notifications_pb2.DESCRIPTOR.services_by_name["NotificationsService"],
    "customers": customers_pb2.DESCRIPTOR.services_by_name["CustomersService"],
}
# Further services a backend serves at the same address (on the same channel).
ALSO_SERVED: dict[str, list[_descriptor.ServiceDescriptor]] = {
    "customers": [integration_clients_pb2.DESCRIPTOR.services_by_name["IntegrationClientsService"]],
}


@dataclass
class Backends:
    """One kit channel per service (deadlines, retries of idempotent calls, tracing) and its stub."""

    settings: GatewaySettings
    catalog: catalog_pb2_grpc.CatalogServiceAsyncStub
    pricing: pricing_pb2_grpc.PricingServiceAsyncStub
    inventory: inventory_pb2_grpc.InventoryServiceAsyncStub
    cart: cart_pb2_grpc.CartServiceAsyncStub
    checkout: checkout_pb2_grpc.CheckoutServiceAsyncStub
    order: order_pb2_grpc.OrderServiceAsyncStub
    fraud: fraud_pb2_grpc.FraudServiceAsyncStub
    notifications: notifications_pb2_grpc.NotificationsServiceAsyncStub  # a customer's mails (personal data)
    customers: customers_pb2_grpc.CustomersServiceAsyncStub
    integration_clients: integration_clients_pb2_grpc.IntegrationClientsServiceAsyncStub  # machine clients
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)
    # Health checks use plain channels: probes should not produce spans and client metrics.
    probes: dict[str, grpc.aio.Channel] = field(default_factory=dict)

    @classmethod
    def connect(cls, settings: GatewaySettings) -> Backends:
        addresses = settings.backend_addresses()
        identity = tls.from_settings(settings)
        # The user of each call leaves as a token signed with the gateway's key for that backend alone.
        signer = Signer(identity.private_key, identity.certificate) if identity is not None else None
        channels = {
            name: make_channel(
                # An unconfigured backend gets an address that fails fast with UNAVAILABLE.
                addresses.get(name, "unix:/nonexistent/backend-not-configured"),
                [SERVICES[name], *ALSO_SERVED.get(name, [])],
                default_timeout=settings.default_call_timeout_seconds,
                max_receive_bytes=settings.grpc_max_receive_message_bytes,
                max_send_bytes=settings.grpc_max_send_message_bytes,
                tls=identity,
                user_tokens=TokensFor(signer, name) if signer is not None else None,
            )
            for name in SERVICES
        }
        probes = {name: _probe_channel(address, identity) for name, address in addresses.items()}
        return cls(
            settings=settings,
            catalog=catalog_pb2_grpc.CatalogServiceStub(channels["catalog"]),  # type: ignore[no-untyped-call]
            pricing=pricing_pb2_grpc.PricingServiceStub(channels["pricing"]),  # type: ignore[no-untyped-call]
            inventory=inventory_pb2_grpc.InventoryServiceStub(channels["inventory"]),  # type: ignore[no-untyped-call]
            cart=cart_pb2_grpc.CartServiceStub(channels["cart"]),  # type: ignore[no-untyped-call]
            checkout=checkout_pb2_grpc.CheckoutServiceStub(channels["checkout"]),  # type: ignore[no-untyped-call]
            order=order_pb2_grpc.OrderServiceStub(channels["order"]),  # type: ignore[no-untyped-call]
            fraud=fraud_pb2_grpc.FraudServiceStub(channels["fraud"]),  # type: ignore[no-untyped-call]
            notifications=notifications_pb2_grpc.NotificationsServiceStub(channels["notifications"]),  # type: ignore[no-untyped-call]
            customers=customers_pb2_grpc.CustomersServiceStub(channels["customers"]),  # type: ignore[no-untyped-call]
            integration_clients=integration_clients_pb2_grpc.IntegrationClientsServiceStub(channels["customers"]),  # type: ignore[no-untyped-call]
            channels=channels,
            probes=probes,
        )

    async def health(self) -> dict[str, str]:
        """The grpc.health.v1 status of every configured backend: SERVING, NOT_SERVING, UNAVAILABLE, ..."""
        timeout = self.settings.readiness_timeout_seconds

        async def check(name: str, channel: grpc.aio.Channel) -> tuple[str, str]:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                response = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
            except grpc.aio.AioRpcError as error:
                return name, error.code().name
            return name, health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

        results = await asyncio.gather(*(check(name, channel) for name, channel in self.probes.items()))
        return dict(results)

    async def close(self) -> None:
        await asyncio.gather(*(c.close(grace=None) for c in [*self.channels.values(), *self.probes.values()]))


def _probe_channel(address: str, identity: tls.Tls | None) -> grpc.aio.Channel:
    """A bare channel for health checks (no retries, no interceptors), with the gateway's certificate on TLS."""
    if identity is None:
        return grpc.aio.insecure_channel(address)
    return grpc.aio.secure_channel(address, identity.channel_credentials())
