"""One NATS user per service (shopkit.natsauth), on a real nats-server configured from the table:
each service publishes its own events and consumes through its own durables, and everything else
(another service's subjects, deleting or purging a stream, a consumer on a stream it does not read,
another service's replies) is refused and changes nothing."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib
import logging
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
import sqlalchemy as sa
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import ConsumerConfig
from sqlalchemy.ext.asyncio import AsyncConnection

from shopkit import events, natsauth
from shopkit.consumer import EventConsumer
from shopkit.db import Database
from shopkit.outbox import inbox_table
from shopkit.testing import Postgres, eventually, free_port, nats_server_binary, wait_for_port

REPO = Path(__file__).resolve().parents[3]
REFUSAL_TIMEOUT = 1.0  # a refused request is never answered: wait this long for it
metadata = sa.MetaData()
inbox = inbox_table(metadata)


@dataclass
class SecuredNats:
    address: str  # nats://127.0.0.1:PORT
    passwords: dict[str, str]

    def url(self, user: str) -> str:
        return natsauth.with_credentials(self.address, user, self.passwords[user])

    async def connect(self, user: str) -> NATS:
        """As the services connect (events.connect): the user's own inbox prefix, errors logged."""
        return await events.connect(self.url(user), user)


@contextlib.contextmanager
def nats_process(config: Path, port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SecuredNats]:
    """A nats-server whose configuration is natsauth's, passwords written in (as the local stack's)."""
    port = free_port()
    passwords = {user: natsauth.new_password() for user in natsauth.USERS}
    config = tmp_path / "nats.conf"
    config.write_text(
        natsauth.server_config(host="127.0.0.1", port=port, store_dir=str(tmp_path / "js"), passwords=passwords)
    )
    with nats_process(config, port):
        wait_for_port(port)
        yield SecuredNats(f"nats://127.0.0.1:{port}", passwords)


@pytest.fixture
async def tooling(server: SecuredNats) -> AsyncIterator[NATS]:
    nc = await server.connect(natsauth.TOOLING)
    yield nc
    await nc.close()


@pytest.fixture
async def order_stream(server: SecuredNats) -> AsyncIterator[NATS]:
    """The order service's connection, its stream created as open_runtime creates it, one event in it."""
    nc = await server.connect("order")
    js = nc.jetstream()
    await events.ensure_stream(js, events.stream_config("order"))
    await js.publish("shop.order.placed", b"first", headers={"Nats-Msg-Id": "order-1"})
    yield nc
    await nc.close()


@pytest.fixture
async def db(postgres: Postgres) -> AsyncIterator[Database]:
    database = Database(postgres.create_database("natsauth"))
    async with database.transaction() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def messages(tooling: NATS, stream: str) -> int:
    return int((await tooling.jetstream().stream_info(stream)).state.messages)


async def consumers(tooling: NATS, stream: str) -> set[str]:
    return {c.name for c in await tooling.jetstream().consumers_info(stream)}


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage().lower() for r in caplog.records if r.name == "shopkit.events" and r.levelno >= logging.ERROR]


async def refused(caplog: pytest.LogCaptureFixture, subject: str) -> None:
    """The server's asynchronous refusal of `subject` reached the connection's log."""
    expected = f'permissions violation for publish to "{subject.lower()}"'

    async def logged() -> bool:
        return any(expected in message for message in refusals(caplog))

    await eventually(logged, within=5.0)


# --- the table is the code's ------------------------------------------------------------------------


def registered() -> tuple[set[str], dict[str, set[natsauth.Consumed]]]:
    """The services that open a runtime (they connect to NATS) and the consumers each registers, read
    from services/*/src/shop_*/main.py (names resolved against the module's own imports)."""
    runtimes: set[str] = set()
    found: dict[str, set[natsauth.Consumed]] = {}
    for main in sorted(REPO.glob("services/*/src/shop_*/main.py")):
        service = main.parent.name.removeprefix("shop_")
        module: Any = None
        for node in ast.walk(ast.parse(main.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))):
                continue
            called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if called == "open_runtime":
                runtimes.add(ast.literal_eval(node.args[0]))
            if called == "consume":
                module = module or importlib.import_module(f"shop_{service}.main")
                args = {k.arg: k.value for k in node.keywords}
                name = eval(compile(ast.Expression(args["name"]), str(main), "eval"), vars(module))
                source = ast.literal_eval(args["source_service"])
                found.setdefault(service, set()).add(natsauth.Consumed(source, name))
    return runtimes, found


def test_the_table_is_what_the_services_register() -> None:
    runtimes, found = registered()
    assert runtimes == set(natsauth.SERVICES)
    assert found == {service: set(consumed) for service, consumed in natsauth.CONSUMERS.items()}
    for consumed in natsauth.CONSUMERS.values():
        assert all(c.source in natsauth.SERVICES for c in consumed)


def test_no_service_may_delete_purge_or_touch_another_services_stream() -> None:
    for service in natsauth.SERVICES:
        allowed = natsauth.permissions(service)
        joined = " ".join(allowed.publish)
        for forbidden in ("DELETE", "PURGE", "STREAM.MSG", "$JS.API.>", "ACCOUNT"):
            assert forbidden not in joined, (service, forbidden)
        others = [s for s in natsauth.SERVICES if s != service]
        assert not [p for p in allowed.publish if any(p.startswith(f"shop.{o}.") for o in others)]
        updates = {p.rsplit(".", 1)[1] for p in allowed.publish if ".STREAM.UPDATE." in p or ".STREAM.CREATE." in p}
        assert updates <= {events.stream_name(service), events.DLQ_STREAM}
        assert allowed.subscribe == (f"_INBOX.{service}.>",)


def test_users_without_consumers_have_no_dead_letter_rights() -> None:
    assert not [p for p in natsauth.permissions("cart").publish if "DLQ" in p or "dlq" in p]
    assert "shop.dlq.checkout.>" in natsauth.permissions("checkout").publish


# --- the server takes the configuration ---------------------------------------------------------------


def test_the_kubernetes_form_reads_each_password_from_the_servers_environment(tmp_path: Path) -> None:
    """`authorization()` without passwords names $NATS_PASSWORD_<user>; nats-server resolves them from
    its environment, and refuses to start when one is missing."""
    port = free_port()
    config = tmp_path / "nats.conf"
    config.write_text(
        f'listen: "127.0.0.1:{port}"\njetstream {{store_dir: "{tmp_path / "js"}"}}\n' + natsauth.authorization()
    )
    passwords = {user: natsauth.new_password() for user in natsauth.USERS}
    env = {natsauth.password_variable(user): password for user, password in passwords.items()}

    async def publish_as_cart(address: str) -> None:
        nc = await events.connect(natsauth.with_credentials(address, "cart", passwords["cart"]), "cart")
        js = nc.jetstream()
        await events.ensure_stream(js, events.stream_config("cart"))
        await js.publish("shop.cart.created", b"x")
        await nc.close()

    with nats_process(config, port, env):
        wait_for_port(port)
        asyncio.run(publish_as_cart(f"nats://127.0.0.1:{port}"))
    del env[natsauth.password_variable("fraud")]
    with nats_process(config, port, env) as process:
        assert process.wait(10) != 0
        assert process.stderr is not None
        assert b"NATS_PASSWORD_fraud" in process.stderr.read()


async def test_a_wrong_password_or_none_is_refused(server: SecuredNats) -> None:
    for url in (server.address, natsauth.with_credentials(server.address, "order", "not-the-password")):
        with pytest.raises(Exception, match=r"(?i)authorization"):
            await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)


# --- what a service does goes through -----------------------------------------------------------------


async def test_a_service_publishes_its_events_and_consumes_through_its_durables(
    server: SecuredNats, order_stream: NATS, tooling: NATS, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    nc = await server.connect("checkout")
    applied: list[bytes] = []

    async def handle(conn: AsyncConnection, msg: Msg) -> None:
        if msg.data == b"poison":
            raise ValueError("cannot apply")
        applied.append(msg.data)

    try:
        js = nc.jetstream()
        await events.ensure_stream(js, events.stream_config("checkout"))  # its own stream
        await js.publish("shop.checkout.failed", b"own event")
        consumer = EventConsumer(
            db,
            js,
            inbox,
            service="checkout",
            name="order-outcomes",
            source_service="order",
            subjects=["shop.order.placed", "shop.order.cancelled"],
            handler=handle,
            max_deliver=1,
        )
        await order_stream.jetstream().publish("shop.order.cancelled", b"poison", headers={"Nats-Msg-Id": "order-2"})
        sub = await consumer.subscribe()  # consumer info, create; the DLQ stream ensured
        msgs = await sub.fetch(2, timeout=5)
        # pull, ack (batch), then the poison message alone: nak is not needed, it goes to the DLQ and is acked
        assert [await consumer.handle(m) for m in msgs] == ["applied", "dead_lettered"]
        assert applied == [b"first"]
        await sub.unsubscribe()
    finally:
        await nc.close()
    assert await messages(tooling, events.stream_name("checkout")) == 1
    assert await messages(tooling, events.DLQ_STREAM) == 1
    info = await tooling.jetstream().consumer_info(events.stream_name("order"), "checkout-order-outcomes")
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert refusals(caplog) == []


async def test_a_consumer_waits_for_a_stream_its_service_creates(
    server: SecuredNats, tooling: NATS, db: Database
) -> None:
    """A consumer may not create the stream it reads: it waits until the source service has."""

    async def ignore(conn: AsyncConnection, msg: Msg) -> None:
        return None

    nc = await server.connect("pricing")
    try:
        consumer = EventConsumer(
            db,
            nc.jetstream(),
            inbox,
            service="pricing",
            name="dynamic-pricing",
            source_service="inventory",
            subjects=["shop.inventory.stock_level_changed"],
            handler=ignore,
        )
        subscribing = asyncio.create_task(consumer.subscribe())
        await asyncio.sleep(1.0)
        assert not subscribing.done()
        inventory = await server.connect("inventory")
        await events.ensure_stream(inventory.jetstream(), events.stream_config("inventory"))
        await inventory.close()
        sub = await asyncio.wait_for(subscribing, 5)
        await sub.unsubscribe()
    finally:
        await nc.close()
    assert await consumers(tooling, events.stream_name("inventory")) == {"pricing-dynamic-pricing"}


# --- and what it may not do is refused ------------------------------------------------------------------


async def test_a_service_may_not_publish_another_services_events(
    server: SecuredNats, order_stream: NATS, tooling: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    nc = await server.connect("cart")
    try:
        with pytest.raises(NatsTimeoutError):
            await nc.jetstream().publish("shop.order.placed", b"forged", timeout=REFUSAL_TIMEOUT)
        await refused(caplog, "shop.order.placed")
        with pytest.raises(NatsTimeoutError):
            await nc.jetstream().publish("shop.dlq.checkout.checkout-order-outcomes", b"x", timeout=REFUSAL_TIMEOUT)
        await refused(caplog, "shop.dlq.checkout.checkout-order-outcomes")
    finally:
        await nc.close()
    assert await messages(tooling, events.stream_name("order")) == 1


async def test_no_service_may_delete_or_purge_a_stream_or_delete_a_consumer(
    server: SecuredNats, order_stream: NATS, tooling: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    stream = events.stream_name("order")
    await tooling.jetstream().add_consumer(stream, ConsumerConfig(durable_name="checkout-order-outcomes"))
    js = order_stream.jetstream(timeout=REFUSAL_TIMEOUT)  # the owner of the stream itself
    for attempt, subject in (
        (js.delete_stream(stream), f"$JS.API.STREAM.DELETE.{stream}"),
        (js.purge_stream(stream), f"$JS.API.STREAM.PURGE.{stream}"),
        (js.delete_msg(stream, 1), f"$JS.API.STREAM.MSG.DELETE.{stream}"),
        (
            js.delete_consumer(stream, "checkout-order-outcomes"),
            f"$JS.API.CONSUMER.DELETE.{stream}.checkout-order-outcomes",
        ),
    ):
        with pytest.raises(NatsTimeoutError):
            await attempt
        await refused(caplog, subject)
    nc = await server.connect("checkout")  # the durable's own service
    try:
        with pytest.raises(NatsTimeoutError):
            await nc.jetstream(timeout=REFUSAL_TIMEOUT).delete_consumer(stream, "checkout-order-outcomes")
    finally:
        await nc.close()
    assert await messages(tooling, stream) == 1
    assert await consumers(tooling, stream) == {"checkout-order-outcomes"}


async def test_a_service_may_not_read_a_stream_it_does_not_consume(
    server: SecuredNats, order_stream: NATS, tooling: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    stream = events.stream_name("order")
    pricing = await server.connect("pricing")  # reads inventory's stream, not order's
    checkout = await server.connect("checkout")  # reads order's stream, through its own durable only
    try:
        with pytest.raises(NatsTimeoutError):
            await pricing.jetstream(timeout=REFUSAL_TIMEOUT).pull_subscribe(
                "shop.order.placed", durable="pricing-orders", stream=stream
            )
        await refused(caplog, f"$JS.API.CONSUMER.INFO.{stream}.pricing-orders")
        with pytest.raises(NatsTimeoutError):
            await pricing.jetstream(timeout=REFUSAL_TIMEOUT).add_consumer(
                stream, ConsumerConfig(name="pricing-orders", durable_name="pricing-orders")
            )
        await refused(caplog, f"$JS.API.CONSUMER.CREATE.{stream}.pricing-orders")
        with pytest.raises(NatsTimeoutError):
            await checkout.jetstream(timeout=REFUSAL_TIMEOUT).add_consumer(
                stream, ConsumerConfig(name="checkout-another", durable_name="checkout-another")
            )
        await refused(caplog, f"$JS.API.CONSUMER.CREATE.{stream}.checkout-another")
        # An ephemeral consumer (no name in the subject) is no way around it.
        with pytest.raises(NatsTimeoutError):
            await checkout.jetstream(timeout=REFUSAL_TIMEOUT).add_consumer(stream, ConsumerConfig())
        await refused(caplog, f"$JS.API.CONSUMER.CREATE.{stream}")
    finally:
        await pricing.close()
        await checkout.close()
    assert await consumers(tooling, stream) == set()


async def test_a_service_may_not_listen_to_subjects_or_replies_of_others(
    server: SecuredNats, order_stream: NATS, tooling: NATS
) -> None:
    """Core subscriptions to another service's events, or to the inboxes where JetStream answers
    and delivers to the other services, are refused: nothing arrives."""
    errors: list[str] = []

    async def collect(error: Exception) -> None:
        errors.append(str(error).lower())

    cart = await nats.connect(server.url("cart"), inbox_prefix="_INBOX.cart", error_cb=collect)
    received: list[Msg] = []

    async def keep(msg: Msg) -> None:
        received.append(msg)

    try:
        for subject in ("shop.order.>", "_INBOX.>", "_INBOX.order.>", "$JS.ACK.>"):
            await cart.subscribe(subject, cb=keep)
        await cart.flush()
        await order_stream.jetstream().publish("shop.order.placed", b"second", headers={"Nats-Msg-Id": "order-3"})
        await order_stream.jetstream().stream_info(events.stream_name("order"))  # a reply to order's inbox

        async def all_refused() -> bool:
            return sum("permissions violation for subscription" in e for e in errors) == 4

        await eventually(all_refused, within=5.0)
        await asyncio.sleep(0.3)
    finally:
        await cart.close()
    assert received == []
    assert await messages(tooling, events.stream_name("order")) == 2


async def test_a_service_may_not_create_or_change_another_services_stream(
    server: SecuredNats, order_stream: NATS, tooling: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    checkout = await server.connect("checkout")
    try:
        js = checkout.jetstream(timeout=REFUSAL_TIMEOUT)
        changed = events.stream_config("order")
        changed.max_msgs = 1  # would drop events
        with pytest.raises(NatsTimeoutError):
            await js.update_stream(changed)
        await refused(caplog, "$JS.API.STREAM.UPDATE.SHOP_ORDER")
        with pytest.raises(NatsTimeoutError):
            await js.add_stream(events.stream_config("cart"))
        await refused(caplog, "$JS.API.STREAM.CREATE.SHOP_CART")
    finally:
        await checkout.close()
    info = await tooling.jetstream().stream_info(events.stream_name("order"))
    assert info.config.max_msgs in (None, -1)
    assert "SHOP_CART" not in {s.config.name for s in await tooling.jetstream().streams_info()}


def test_credentials_in_the_url() -> None:
    url = natsauth.with_credentials("nats://a:4222, tls://b:4222", "cart", "pw_-1")
    assert url == "nats://cart:pw_-1@a:4222,tls://cart:pw_-1@b:4222"
    assert natsauth.with_credentials("nats://old:x@a:4222", "cart", "pw") == "nats://cart:pw@a:4222"
    assert natsauth.redact(url) == "nats://cart:***@a:4222,tls://cart:***@b:4222"
    assert events.inbox_prefix("checkout") == "_INBOX.checkout"
    assert events.inbox_prefix("not a token") == "_INBOX"


def test_a_new_password_is_a_string_to_the_server_and_goes_into_a_url_as_it_is() -> None:
    # nats-server reads a `$NATS_PASSWORD_*` value as a config token: "-x..." failed to parse ("Expected
    # a digit"), so 1 in 64 fresh passwords of the URL-safe alphabet broke a server's start.
    made = {natsauth.new_password() for _ in range(500)}
    assert len(made) == 500
    assert all(len(p) == natsauth.PASSWORD_LENGTH and p.isascii() and p.isalnum() and p[0].isalpha() for p in made)
