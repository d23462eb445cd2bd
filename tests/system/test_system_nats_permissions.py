"""NATS users on the launched stack: every service is connected as its own user, and with the real
credentials `shop-dev run` gave a service, what is not its own is refused and changes nothing:
another service's events, deleting or purging a stream, deleting a consumer, a consumer on a stream
it does not read, the replies and deliveries of the others."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import ConsumerConfig

from shop_devstack import natsconfig
from shop_devstack.harness import Stack
from shop_devstack.layout import NATS_MONITOR_PORT, NATS_PORT, Layout
from shopkit import events, natsauth

REFUSAL_TIMEOUT = 1.0
ORDER_STREAM = events.stream_name("order")


def connections(stack: Stack) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{NATS_MONITOR_PORT + stack.offset}/connz?auth=true&limit=1024"
    with urllib.request.urlopen(url, timeout=5) as response:
        return list(json.load(response)["connections"])


def test_every_service_is_connected_as_its_own_user(stack: Stack) -> None:
    users = {c.get("name"): c.get("authorized_user") for c in connections(stack)}
    assert {name: users.get(name) for name in natsauth.SERVICES} == {name: name for name in natsauth.SERVICES}


class Session:
    """Connections to the stack's NATS as its users, each logging what the server refused."""

    def __init__(self, stack: Stack):
        layout = Layout(stack.data_dir, stack.offset)
        self.passwords = json.loads(natsconfig.users_file(layout).read_text())
        self.address = f"nats://127.0.0.1:{NATS_PORT + stack.offset}"
        self.refusals: list[str] = []
        self.opened: list[NATS] = []

    async def connect(self, user: str) -> NATS:
        async def collect(error: Exception) -> None:
            self.refusals.append(str(error).lower())

        nc = await nats.connect(
            natsauth.with_credentials(self.address, user, self.passwords[user]),
            name=f"{user}-system-test",
            inbox_prefix=events.inbox_prefix(user),  # the one inbox a service's user may subscribe to
            error_cb=collect,
            allow_reconnect=False,
        )
        self.opened.append(nc)
        return nc

    async def refused(self, attempt: Awaitable[Any], subject: str) -> None:
        """The attempt is never answered and the server says why, naming the subject."""
        with pytest.raises(NatsTimeoutError):
            await attempt
        await self.said(f'permissions violation for publish to "{subject.lower()}"')

    async def said(self, text: str) -> None:
        for _ in range(100):
            if any(text in refusal for refusal in self.refusals):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no refusal {text!r} in {self.refusals}")


@pytest.fixture
async def session(stack: Stack) -> AsyncIterator[Session]:
    opened = Session(stack)
    yield opened
    for nc in opened.opened:
        await nc.close()


async def snapshot(tooling: NATS) -> dict[str, Any]:
    """Every stream's message count and every consumer's name: what a refused request must not change."""
    js = tooling.jetstream()
    found: dict[str, Any] = {}
    for info in await js.streams_info():
        name = str(info.config.name)
        found[name] = (info.state.messages, sorted(c.name for c in await js.consumers_info(name)))
    return found


async def test_a_service_cannot_forge_delete_purge_or_read_what_is_not_its_own(session: Session) -> None:
    tooling = await session.connect(natsauth.TOOLING)
    before = await snapshot(tooling)
    assert ORDER_STREAM in before and "fraud-order-events" in before[ORDER_STREAM][1]

    cart = await session.connect("cart")
    # Another service's events: a forged "order placed" would reach fraud and checkout.
    await session.refused(
        cart.jetstream().publish("shop.order.placed", b"forged", timeout=REFUSAL_TIMEOUT), "shop.order.placed"
    )
    order = (await session.connect("order")).jetstream(timeout=REFUSAL_TIMEOUT)
    # Not even the owner may delete or purge its stream, or a consumer of it.
    await session.refused(order.delete_stream(ORDER_STREAM), f"$JS.API.STREAM.DELETE.{ORDER_STREAM}")
    await session.refused(order.purge_stream(ORDER_STREAM), f"$JS.API.STREAM.PURGE.{ORDER_STREAM}")
    checkout = (await session.connect("checkout")).jetstream(timeout=REFUSAL_TIMEOUT)
    await session.refused(
        checkout.delete_consumer(ORDER_STREAM, "checkout-order-outcomes"),
        f"$JS.API.CONSUMER.DELETE.{ORDER_STREAM}.checkout-order-outcomes",
    )
    # A consumer where the service has no business reading: pricing on order's stream, or checkout
    # reading it through another durable than its own (e.g. taking over fraud's).
    pricing = (await session.connect("pricing")).jetstream(timeout=REFUSAL_TIMEOUT)
    await session.refused(
        pricing.add_consumer(ORDER_STREAM, ConsumerConfig(name="pricing-orders", durable_name="pricing-orders")),
        f"$JS.API.CONSUMER.CREATE.{ORDER_STREAM}.pricing-orders",
    )
    await session.refused(
        checkout.add_consumer(
            ORDER_STREAM, ConsumerConfig(name="fraud-order-events", durable_name="fraud-order-events")
        ),
        f"$JS.API.CONSUMER.CREATE.{ORDER_STREAM}.fraud-order-events",
    )
    # Listening to the inboxes where JetStream answers and delivers to the other services.
    await cart.subscribe("_INBOX.>")
    await session.said('permissions violation for subscription to "_inbox.>"')

    after = await snapshot(tooling)
    assert after[ORDER_STREAM] == before[ORDER_STREAM]  # no event forged, purged or lost
    assert {name: consumers for name, (_, consumers) in after.items()} == {
        name: consumers for name, (_, consumers) in before.items()
    }


async def test_each_service_uses_only_what_its_permissions_name(session: Session) -> None:
    """The durables the running stack created are exactly the table's, and only the streams of
    services and the dead-letter stream exist."""
    tooling = await session.connect(natsauth.TOOLING)
    expected_streams = {events.stream_name(s) for s in natsauth.SERVICES} | {events.DLQ_STREAM}
    expected_durables = {
        (events.stream_name(c.source), natsauth.durable_name(service, c.name))
        for service, consumed in natsauth.CONSUMERS.items()
        for c in consumed
    }
    for _ in range(50):  # consumers subscribe in the background once their service serves
        streams = await snapshot(tooling)
        durables = {(stream, name) for stream, (_, names) in streams.items() for name in names}
        if durables == expected_durables:
            break
        await asyncio.sleep(0.2)
    assert set(streams) == expected_streams
    assert durables == expected_durables
