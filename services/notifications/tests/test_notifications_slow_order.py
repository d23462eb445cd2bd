"""A slow order service holds no database connection of notifications: the order is read in the
consumer's prefetch, before the inbox transaction opens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from shop.order.v1 import order_pb2
from shop_notifications import events, store
from shop_notifications.domain import RetryPolicy
from shop_notifications.main import mailer
from shop_notifications.operations import Notifications
from shop_notifications.orders import Orders
from shop_notifications.templates import Templates
from shopkit import events as kit_events
from shopkit.auth import metadata_for
from shopkit.consumer import EventConsumer
from shopkit.db import Database
from shopkit.testing import free_port

if TYPE_CHECKING:
    from conftest import Stack

GET_ORDER = "/shop.order.v1.OrderService/GetOrder"


class SlowOrder:
    """The real order service behind a door: GetOrder waits until `open` is set, then asks order."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.asked = asyncio.Event()
        self.open = asyncio.Event()
        self.port = free_port()
        self.server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(
            self.get_order,
            request_deserializer=order_pb2.GetOrderRequest.FromString,
            response_serializer=order_pb2.GetOrderResponse.SerializeToString,
        )
        generic = grpc.method_handlers_generic_handler("shop.order.v1.OrderService", {"GetOrder": handler})
        self.server.add_generic_rpc_handlers((generic,))
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")

    async def get_order(self, request: order_pb2.GetOrderRequest, context: Any) -> order_pb2.GetOrderResponse:
        self.asked.set()
        await self.open.wait()
        return await self.stack.orders.GetOrder(request, metadata=metadata_for("service"))


@pytest.fixture
async def slow_order(stack: Stack) -> AsyncIterator[SlowOrder]:
    slow = SlowOrder(stack)
    await slow.server.start()
    yield slow
    await slow.server.stop(None)


async def confirmed_event(stack: Stack, order_id: str) -> Msg:
    """The order's shop.order.confirmed message, read again from the order stream."""
    replay = await stack.runtime.js.pull_subscribe(
        events.CONFIRMED,
        stream=kit_events.stream_name("order"),
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    try:
        while True:
            for msg in await replay.fetch(100, timeout=5):
                if order_id.encode() in msg.data:
                    return msg
    finally:
        await replay.unsubscribe()


async def test_a_slow_order_service_holds_no_connection_while_the_event_waits(
    stack: Stack, slow_order: SlowOrder
) -> None:
    order = await stack.place()
    await stack.mails_of(order.order_id, "order_confirmation")
    msg = await confirmed_event(stack, order.order_id)
    settings = stack.settings
    db = Database(stack.runtime.db.engine.url.render_as_string(hide_password=False))  # the consumer's pool alone
    orders = Orders(settings, f"127.0.0.1:{slow_order.port}")
    retry = RetryPolicy(1, timedelta(seconds=1), timedelta(seconds=1))
    templates = Templates(settings.storefront_url)
    notifications = Notifications(db, templates, mailer(settings), retry, lease=timedelta(seconds=60), concurrency=1)
    handler = events.OrderEvents(orders, notifications, approvers={}, approvals_to="desk@shop.test", stale_after=None)
    consumer = EventConsumer(
        db,
        stack.runtime.js,
        store.inbox,
        service="notifications",
        name="slow-order",
        source_service="order",
        subjects=events.SUBJECTS,
        handler=handler.handle,
        prefetch=handler.prefetch,
    )
    try:
        applying = asyncio.create_task(consumer.handle(msg))
        await asyncio.wait_for(slow_order.asked.wait(), timeout=10)
        await asyncio.sleep(0.2)  # order keeps the call waiting
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        slow_order.open.set()
        assert await asyncio.wait_for(applying, timeout=10) == "applied"
    finally:
        slow_order.open.set()
        await orders.close()
        await db.dispose()
    # The mail's event id keeps it the one mail the service's own consumer queued.
    assert len(await stack.rows(order.order_id)) == 1
