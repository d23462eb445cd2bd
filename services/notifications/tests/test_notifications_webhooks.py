"""Outbound webhooks against a real HTTP receiver in the test process: a subscribed event arrives
signed (the receiver's verification passes); failures are retried with growing pauses, dead after
WEBHOOK_MAX_ATTEMPTS, and a replay delivers; a redirect is a failure, never followed; a redelivered
event makes one delivery; bad subscriptions are refused with field violations and change nothing;
the target rules are test_notifications_webhook_transport's."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import httpx
import pytest
import sqlalchemy as sa

from shop.inventory.v1 import events_pb2 as inventory_events
from shop.notifications.v1 import notifications_pb2 as pb
from shop_notifications import store, webhook_store, workers
from shop_notifications.main import ORDER_WEBHOOKS
from shop_notifications.webhook_domain import (
    ORDER_EVENTS,
    Backoff,
    signature,
    verify,
)
from shop_notifications.webhooks import Webhooks
from shopkit.auth import metadata_for
from shopkit.consumer import EventConsumer
from shopkit.errors import parse_rpc_error
from shopkit.testing import eventually
from shopkit.testing_webhooks import Post, WebhookReceiver

if TYPE_CHECKING:
    from conftest import Stack

ADMIN = metadata_for("admin")
CONFIRMED = "shop.order.confirmed"
DELIVERED, DEAD = pb.WEBHOOK_DELIVERY_STATUS_DELIVERED, pb.WEBHOOK_DELIVERY_STATUS_DEAD


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


async def subscribe(stack: Stack, url: str, *types: str) -> pb.Webhook:
    request = pb.CreateWebhookRequest(url=url, event_types=list(types or [CONFIRMED]))
    return (await stack.stub.CreateWebhook(request, metadata=ADMIN)).webhook


async def deliveries(stack: Stack, hook: pb.Webhook) -> list[pb.WebhookDelivery]:
    request = pb.ListWebhookDeliveriesRequest(webhook_id=hook.webhook_id)
    return list((await stack.stub.ListWebhookDeliveries(request, metadata=ADMIN)).deliveries)


async def settled(stack: Stack, hook: pb.Webhook, status: int, within: float = 15.0) -> pb.WebhookDelivery:
    """The webhook's one delivery once it reached `status`."""
    found: list[pb.WebhookDelivery] = []

    async def reached() -> bool:
        nonlocal found
        found = await deliveries(stack, hook)
        return len(found) == 1 and found[0].status == status

    await eventually(reached, within=within)
    return found[0]


def for_order(order_id: str) -> Callable[[Post], bool]:
    return lambda post: post.event_type == CONFIRMED and order_id.encode() in post.body


async def arrived(receiver: WebhookReceiver, order_id: str, count: int = 1) -> list[Post]:
    return await asyncio.to_thread(receiver.wait_for, for_order(order_id), count)


def signed(post: Post, secret: str) -> bool:
    return verify(secret, post.headers["Shop-Signature"], post.body, int(time.time()))


async def test_a_confirmed_order_is_posted_signed(stack: Stack, receiver: WebhookReceiver) -> None:
    hook = await subscribe(stack, receiver.url)
    assert hook.secret.startswith("whsec_") and hook.active
    order = await stack.place()
    [post] = await arrived(receiver, order.order_id)
    assert signed(post, hook.secret)
    assert not signed(post, hook.secret + "x")
    body = json.loads(post.body)
    assert (body["type"], body["id"]) == (CONFIRMED, post.headers["Shop-Event-Id"])
    assert body["data"]["order_id"] == order.order_id and isinstance(body["created"], int)
    delivery = await settled(stack, hook, DELIVERED)
    assert delivery.event_id == body["id"] and delivery.attempts == 1
    [attempt] = delivery.attempt_log
    assert (attempt.status_code, attempt.error, attempt.response_body) == (200, "", "answered 200")
    # The secret is shown on create (and rotate) only.
    got = await stack.stub.GetWebhook(pb.GetWebhookRequest(webhook_id=hook.webhook_id), metadata=ADMIN)
    assert got.webhook.secret == "" and got.webhook.url == receiver.url


async def test_failures_back_off_die_and_a_replay_delivers(stack: Stack, receiver: WebhookReceiver) -> None:
    receiver.default = 503
    hook = await subscribe(stack, receiver.url)
    order = await stack.place()
    dead = await settled(stack, hook, DEAD)
    assert dead.attempts == stack.settings.webhook_max_attempts == 4
    assert [a.status_code for a in dead.attempt_log] == [503] * 4 and dead.last_error == "HTTP 503"
    posts = await arrived(receiver, order.order_id, 4)
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(posts)]
    # Pauses of base·2^(n-1) capped at 0.4 s, drawn between half and all of it.
    assert all(gap >= 0.09 for gap in gaps), gaps
    assert all(signed(post, hook.secret) for post in posts)
    assert len({post.headers["Shop-Event-Id"] for post in posts}) == 1

    receiver.default = 200
    replay = pb.ReplayWebhookDeliveriesRequest(webhook_id=hook.webhook_id)
    assert (await stack.stub.ReplayWebhookDeliveries(replay, metadata=ADMIN)).replayed == 1
    delivered = await settled(stack, hook, DELIVERED)
    assert delivered.attempts == 1 and [a.status_code for a in delivered.attempt_log] == [503] * 4 + [200]
    [*_, last] = await arrived(receiver, order.order_id, 5)
    assert signed(last, hook.secret)
    # Nothing dead is left: replaying all again replays none.
    assert (await stack.stub.ReplayWebhookDeliveries(replay, metadata=ADMIN)).replayed == 0


async def test_a_failure_is_retried_until_the_endpoint_answers(stack: Stack, receiver: WebhookReceiver) -> None:
    receiver.answers = [500, 302]  # a redirect is a failure: the metadata address it names is not called
    hook = await subscribe(stack, receiver.url)
    order = await stack.place()
    delivery = await settled(stack, hook, DELIVERED)
    assert [a.status_code for a in delivery.attempt_log] == [500, 302, 200]
    assert len(await arrived(receiver, order.order_id, 3)) == 3


async def test_one_delivery_is_replayed_and_a_rotated_secret_signs(stack: Stack, receiver: WebhookReceiver) -> None:
    hook = await subscribe(stack, receiver.url)
    order = await stack.place()
    delivery = await settled(stack, hook, DELIVERED)
    rotated = await stack.stub.RotateWebhookSecret(
        pb.RotateWebhookSecretRequest(webhook_id=hook.webhook_id), metadata=ADMIN
    )
    assert rotated.webhook.secret not in ("", hook.secret)
    request = pb.ReplayWebhookDeliveriesRequest(webhook_id=hook.webhook_id, delivery_id=delivery.delivery_id)
    assert (await stack.stub.ReplayWebhookDeliveries(request, metadata=ADMIN)).replayed == 1
    first, again = await arrived(receiver, order.order_id, 2)
    assert first.body == again.body and signed(again, rotated.webhook.secret) and not signed(again, hook.secret)


async def test_an_inactive_webhook_gets_nothing(stack: Stack, receiver: WebhookReceiver) -> None:
    hook = await subscribe(stack, receiver.url)
    update = pb.UpdateWebhookRequest(webhook_id=hook.webhook_id, active=False)
    assert not (await stack.stub.UpdateWebhook(update, metadata=ADMIN)).webhook.active
    order = await stack.place()
    await stack.recorded(order.order_id)  # the order's mail went: its event was consumed
    await asyncio.sleep(0.5)
    assert await deliveries(stack, hook) == [] and not receiver.posts(for_order(order.order_id))


async def test_a_redelivered_event_makes_one_delivery(stack: Stack, receiver: WebhookReceiver) -> None:
    hook = await subscribe(stack, receiver.url)
    order = await stack.place()
    await settled(stack, hook, DELIVERED)
    msg = await stack.stored_event(CONFIRMED, order.order_id)
    async with httpx.AsyncClient() as client:
        hooks = Webhooks(
            stack.runtime.db,
            client,
            Backoff(1, timedelta(seconds=1), timedelta(seconds=1)),
            allow_private=True,
            lease=timedelta(seconds=60),
            concurrency=1,
        )

        def consumer(durable: str) -> EventConsumer:
            return EventConsumer(
                stack.runtime.db,
                stack.runtime.js,
                store.inbox,
                service="notifications",
                name=durable,
                source_service="order",
                subjects=list(ORDER_EVENTS),
                handler=hooks.handle,
            )

        assert await consumer(ORDER_WEBHOOKS).apply_once(msg) is False  # its inbox knows the message
        assert await consumer("webhook-replay").apply_once(msg) is True  # a new inbox key: no new delivery
    assert len(await deliveries(stack, hook)) == 1
    await asyncio.sleep(0.5)
    assert len(receiver.posts(for_order(order.order_id))) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_fields", "fields"),
    [
        ({"url": "", "event_types": [CONFIRMED]}, {"url"}),
        ({"url": "http://hooks.example.com/x", "event_types": [CONFIRMED]}, {"url"}),
        ({"url": "ftp://hooks.example.com/x", "event_types": [CONFIRMED]}, {"url"}),
        ({"url": "https://user:pw@hooks.example.com/x", "event_types": [CONFIRMED]}, {"url"}),
        ({"url": "https://hooks.example.com/x", "event_types": []}, {"event_types"}),
        ({"url": "https://hooks.example.com/x", "event_types": ["shop.order.placed"]}, {"event_types[0]"}),
    ],
)
async def test_a_bad_subscription_is_refused_and_changes_nothing(
    stack: Stack, request_fields: dict[str, object], fields: set[str]
) -> None:
    async with stack.runtime.db.connect() as conn:
        before = (await conn.execute(sa.text("SELECT count(*) FROM webhooks"))).scalar()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stack.stub.CreateWebhook(pb.CreateWebhookRequest(**request_fields), metadata=ADMIN)  # type: ignore[arg-type]
    info = parse_rpc_error(raised.value)
    assert info.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in info.violations} == fields
    async with stack.runtime.db.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM webhooks"))).scalar() == before


async def test_a_create_retried_with_its_request_id_makes_one_webhook(stack: Stack) -> None:
    request = pb.CreateWebhookRequest(url="https://hooks.example.com/x", event_types=[CONFIRMED], request_id="rq-1")
    first = (await stack.stub.CreateWebhook(request, metadata=ADMIN)).webhook
    again = (await stack.stub.CreateWebhook(request, metadata=ADMIN)).webhook
    assert (again.webhook_id, again.secret) == (first.webhook_id, first.secret)


async def test_only_admins_manage_webhooks(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stack.stub.ListWebhooks(pb.ListWebhooksRequest(), metadata=(("x-shop-role", "service"),))
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_the_signature_is_stripes_scheme() -> None:
    body = b'{"id":"e1"}'
    header = signature("whsec_k", 1700000000, body)
    assert header == "t=1700000000,v1=" + hmac.new(b"whsec_k", b"1700000000." + body, "sha256").hexdigest()
    assert verify("whsec_k", header, body, 1700000100)
    assert not verify("whsec_k", header, body, 1700000000 + 301)  # too old: a replayed capture


def test_backoff_doubles_with_jitter_and_stops_at_the_bound() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    top = Backoff(5, timedelta(seconds=10), timedelta(seconds=60), draw=lambda low, high: high)
    low = Backoff(5, timedelta(seconds=10), timedelta(seconds=60), draw=lambda low, high: low)
    assert [(top.next_attempt(n, now) - now).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 60]  # type: ignore[operator]
    assert [(low.next_attempt(n, now) - now).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 30]  # type: ignore[operator]
    assert top.next_attempt(5, now) is None


async def test_settled_deliveries_past_the_retention_are_deleted_with_their_log(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    hook = await subscribe(stack, receiver.url)
    await stack.place()
    delivery = await settled(stack, hook, DELIVERED)
    db = stack.runtime.db
    async with db.transaction() as conn:
        await conn.execute(
            sa.text("UPDATE webhook_deliveries SET created_at = now() - interval '40 days' WHERE id = :d"),
            {"d": delivery.delivery_id},
        )
    assert await workers.sweep(db, webhook_store.delete_settled, timedelta(days=30)) >= 1
    assert await deliveries(stack, hook) == []
    async with db.connect() as conn:
        left = await conn.execute(
            sa.text("SELECT count(*) FROM webhook_attempts WHERE delivery_id = :d"), {"d": delivery.delivery_id}
        )
        assert left.scalar() == 0


async def test_a_stock_level_change_is_posted_from_the_inventory_stream(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    changed = "shop.inventory.stock_level_changed"
    hook = await subscribe(stack, receiver.url, changed)
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    event = inventory_events.StockLevelChanged(
        sku=sku, location_id="wh-1", on_hand=5, available=5, total_available=5, cause="set", stock_version=3
    )
    event.meta.event_id = str(uuid.uuid4())
    await stack.runtime.js.publish(changed, event.SerializeToString(), headers={"Nats-Msg-Id": event.meta.event_id})
    [post] = await asyncio.to_thread(receiver.wait_for, lambda p: p.event_type == changed and sku.encode() in p.body)
    assert signed(post, hook.secret)
    body = json.loads(post.body)
    assert body["id"] == event.meta.event_id == post.headers["Shop-Event-Id"]
    # The protobuf JSON mapping: 64-bit integers are strings.
    assert (body["data"]["sku"], body["data"]["available"], body["data"]["cause"]) == (sku, "5", "set")
