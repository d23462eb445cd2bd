"""A running notifications service with the real order service it reads (and inventory, which order
calls), a real SMTP server in this process (aiosmtpd) that records what it is sent, and builders of
orders that keep tests short."""

from __future__ import annotations

import asyncio
import contextlib
import email
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from shop.common.v1 import common_pb2
from shop.notifications.v1 import notifications_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc
from shop_inventory.main import build as build_inventory
from shop_inventory.settings import InventorySettings
from shop_notifications.main import build
from shop_notifications.settings import NotificationsSettings
from shop_order.main import build as build_order
from shop_order.settings import OrderSettings
from shopkit import events as kit_events
from shopkit.auth import metadata_for
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, free_port, grpc_address, peer

SERVICE = metadata_for("service")
ADMIN = metadata_for("admin")
CURRENCY = "EUR"
APPROVERS = {"acct-approvers": "approvers@acme.test"}


def money(amount: int, currency: str = CURRENCY) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency=currency)


def new_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@dataclass
class Catcher:
    """An SMTP server (aiosmtpd) on a fixed port of this process: `stop()` makes it unreachable (and
    cuts the sessions open), `start()` brings it back on the same port; `refuse` answers every
    recipient with a 550. `sessions` counts the connections it accepted."""

    port: int
    received: list[Message] = field(default_factory=list)
    refuse: bool = False
    server: asyncio.Server | None = None
    sessions: int = 0
    open_sessions: list[SMTP] = field(default_factory=list)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        if self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.received.append(email.message_from_bytes(content))
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._session, "127.0.0.1", self.port, reuse_address=True)

    def _session(self) -> SMTP:
        self.sessions += 1
        session = SMTP(self)
        self.open_sessions.append(session)
        return session

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for session in self.open_sessions:
                if session.transport is not None:
                    session.transport.close()
            self.open_sessions.clear()
            await self.server.wait_closed()
            self.server = None

    def mails(self, order_id: str, kind: str | None = None) -> list[Message]:
        return [
            m
            for m in self.received
            if m["X-Shop-Order-Id"] == order_id and (kind is None or m["X-Shop-Notification"] == kind)
        ]


@dataclass
class Stack:
    runtime: Runtime
    stub: notifications_pb2_grpc.NotificationsServiceAsyncStub
    orders: order_pb2_grpc.OrderServiceAsyncStub
    settings: NotificationsSettings
    catcher: Catcher

    async def place(
        self,
        *,
        lines: Mapping[str, tuple[int, int]] | None = None,
        account_id: str | None = None,
        approval_limit: int | None = None,
        approval_chain: common_pb2.ApprovalChain | None = None,
        email_address: str | None = None,
        pickup_store: str = "",
    ) -> order_pb2.Order:
        """A B2B invoice order (no card, so no payment provider), shipped to an address in Berlin:
        `lines` is product name -> (quantity, unit price)."""
        lines = lines or {"Trail shoe": (2, 1000)}
        subtotal = sum(q * p for q, p in lines.values())
        request = order_pb2.CreateOrderRequest(
            checkout_id=new_id("co-"),
            customer=common_pb2.CustomerContext(
                customer_id=new_id("cus-"),
                account_id=account_id or new_id("acct-"),
                channel="b2b",
                country="DE",
                currency=CURRENCY,
            ),
            email=email_address or f"{new_id('buyer-')}@example.com",
            lines=[
                order_pb2.OrderLine(
                    sku=f"SKU-{index}",
                    product_id=f"prod-{index}",
                    name=name,
                    quantity=quantity,
                    unit_price=money(price),
                    discount=money(0),
                    line_total=money(quantity * price),
                )
                for index, (name, (quantity, price)) in enumerate(lines.items())
            ],
            totals=order_pb2.OrderTotals(
                subtotal=money(subtotal),
                discount_total=money(0),
                shipping_total=money(500),
                tax_total=money(0),
                total=money(subtotal + 500),
            ),
            billing_address=common_pb2.Address(name="Ada", line1="Main St 1", city="Berlin", country="DE"),
            approval_required=approval_limit is not None,
        )
        if pickup_store:
            request.fulfilment_method.pickup.store_id = pickup_store
        else:
            request.fulfilment_method.ship.address.CopyFrom(
                common_pb2.Address(name="Ada", line1="Main St 1", city="Berlin", postal_code="10115", country="DE")
            )
        if approval_limit is not None:
            request.approval_limit.CopyFrom(money(approval_limit))
        if approval_chain is not None:
            request.approval_chain.CopyFrom(approval_chain)
        request.payment.kind = order_pb2.PAYMENT_METHOD_KIND_INVOICE
        request.payment.purchase_order_number = "PO-1"
        return (await self.orders.CreateOrder(request, metadata=SERVICE)).order

    async def fulfil(self, order: order_pb2.Order, carrier: str = "DHL", tracking: str = "") -> order_pb2.Order:
        request = order_pb2.FulfilOrderRequest(
            order_id=order.order_id,
            request_id=new_id(),
            lines=[order_pb2.LineQuantity(line_id=line.line_id, quantity=line.quantity) for line in order.lines],
            carrier=carrier,
            tracking_number=tracking or new_id("TRK-"),
        )
        return (await self.orders.FulfilOrder(request, metadata=ADMIN)).order

    async def refund(self, order: order_pb2.Order, amount: int) -> order_pb2.RefundOrderResponse:
        request = order_pb2.RefundOrderRequest(
            order_id=order.order_id, request_id=new_id(), reason="damaged in transit", amount=money(amount)
        )
        return await self.orders.RefundOrder(request, metadata=ADMIN)

    async def rows(self, order_id: str) -> list[Any]:
        async with self.runtime.db.transaction() as conn:
            result = await conn.execute(
                sa.text("SELECT * FROM mails WHERE order_id = :o ORDER BY created_at"), {"o": order_id}
            )
            return list(result)

    async def recorded(self, order_id: str, within: float = 15.0) -> list[Any]:
        """The order's mail rows once none is pending (the catcher may hold a mail a moment before
        the sender records that it went)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            rows = await self.rows(order_id)
            if rows and all(row.status != "pending" for row in rows):
                return rows
            if loop.time() > deadline:
                raise AssertionError(f"mails of {order_id} still pending: {rows}")
            await asyncio.sleep(0.05)

    async def stored_event(self, subject: str, order_id: str) -> Msg:
        """The order's event of `subject` as the order stream holds it (to hand to a consumer again)."""
        replay = await self.runtime.js.pull_subscribe(
            subject, stream=kit_events.stream_name("order"), config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        try:
            while True:
                batch = await replay.fetch(100, timeout=5)
                msg = next((m for m in batch if order_id.encode() in m.data), None)
                if msg is not None:
                    return msg
        finally:
            await replay.unsubscribe()

    async def mails_of(self, order_id: str, kind: str, count: int = 1, within: float = 15.0) -> list[Message]:
        """Wait until the catcher holds `count` mails of `kind` for the order; then they."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            found = self.catcher.mails(order_id, kind)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"{count} {kind} mail(s) for {order_id} did not arrive; got {len(found)}")


@pytest.fixture(scope="module")
async def catcher() -> AsyncIterator[Catcher]:
    smtp = Catcher(free_port())
    await smtp.start()
    yield smtp
    await smtp.stop()


def notifications_settings(**overrides: Any) -> dict[str, Any]:
    """Quick retries and polls, the test approvers."""
    return {
        "smtp_host": "127.0.0.1",
        "retry_base_seconds": 0.2,
        "retry_max_seconds": 0.5,
        "max_attempts": 50,
        "sender_poll_seconds": 0.2,
        "approvers": APPROVERS,
        "approvals_to": "desk@shop.test",
        # Webhooks to the test's receiver on 127.0.0.1, with quick retries and a small bound.
        "webhook_allow_private_targets": True,
        "webhook_retry_base_seconds": 0.2,
        "webhook_retry_max_seconds": 0.4,
        "webhook_max_attempts": 4,
        "webhook_poll_seconds": 0.2,
        **overrides,
    }


@pytest.fixture(scope="module")
async def stack(postgres: Postgres, nats_url: str, catcher: Catcher) -> AsyncIterator[Stack]:
    async with contextlib.AsyncExitStack() as stack:
        inventory = await stack.enter_async_context(
            peer(build_inventory, InventorySettings, postgres, nats_url, sweeper_enabled=False)
        )
        order = await stack.enter_async_context(
            peer(
                build_order,
                OrderSettings,
                postgres,
                nats_url,
                inventory_addr=grpc_address(inventory),
                completion_enabled=False,
                effects_poll_interval_seconds=0.2,
            )
        )
        runtime = await stack.enter_async_context(
            peer(
                build,
                NotificationsSettings,
                postgres,
                nats_url,
                **notifications_settings(order_addr=grpc_address(order), smtp_port=catcher.port),
            )
        )
        channels = [grpc.aio.insecure_channel(grpc_address(r)) for r in (runtime, order)]
        for channel in channels:
            stack.push_async_callback(channel.close, None)
        settings = runtime.settings
        assert isinstance(settings, NotificationsSettings)
        yield Stack(
            runtime,
            notifications_pb2_grpc.NotificationsServiceStub(channels[0]),
            order_pb2_grpc.OrderServiceStub(channels[1]),
            settings,
            catcher,
        )
