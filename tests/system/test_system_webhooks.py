"""Outbound webhooks through the gateway on the launched stack: an admin subscribes a receiver (in
this test process) to shop.order.confirmed, a shopper buys, and the receiver gets the event with a
valid Shop-Signature; then the receiver fails: the delivery is retried, dead after the stack's
WEBHOOK_MAX_ATTEMPTS (3, see conftest), and a replay through the API delivers it, signed again. The
same over the gateway's gRPC IntegrationsService: subscribe, deliver, rotate the secret, replay."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import grpc
import httpx

from shop.notifications.v1 import notifications_pb2 as hooks_pb
from shop.storefront.v1 import integrations_pb2_grpc
from shop_devstack.layout import GATEWAY_GRPC_PORT
from shop_notifications.webhook_domain import verify
from shopkit.testing_webhooks import Post, WebhookReceiver

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import Backstage, NewShopper

    from shop_devstack.harness import Stack

CONFIRMED = "shop.order.confirmed"


def admin_headers(stack: Stack, http: httpx.Client) -> dict[str, str]:
    issued = http.post(
        f"{stack.gateway_url}/v1/auth/token", json={"username": f"ops-{uuid.uuid4().hex[:8]}", "role": "admin"}
    )
    assert issued.status_code == 200, issued.text
    return {"authorization": f"Bearer {issued.json()['access_token']}"}


def buy(new_shopper: NewShopper, sku: str) -> str:
    shopper = new_shopper("hooks")
    shopper.add_to_cart(sku, 1)
    placed = shopper.checkout(shopper.new_card())
    assert placed.status_code == 201, placed.text
    order_id: str = placed.json()["order_id"]
    return order_id


def signed(post: Post, secret: str) -> bool:
    return verify(secret, post.headers["Shop-Signature"], post.body, int(time.time()))


def test_a_webhook_is_delivered_failed_retried_dead_and_replayed(
    stack: Stack, http: httpx.Client, new_shopper: NewShopper, backstage: Backstage, trail_product: dict[str, Any]
) -> None:
    url = f"{stack.gateway_url}/v1/admin/webhooks"
    admin = admin_headers(stack, http)
    sku = trail_product["variants"][0]["sku"]
    with WebhookReceiver() as receiver:
        body = {"url": receiver.url, "event_types": [CONFIRMED], "description": "system test"}
        created = http.post(url, json=body, headers={**admin, "Idempotency-Key": uuid.uuid4().hex})
        assert created.status_code == 201, created.text
        hook = created.json()
        secret, deliveries = hook["secret"], f"{url}/{hook['webhook_id']}/deliveries"
        assert secret.startswith("whsec_")
        assert http.get(f"{url}/{hook['webhook_id']}", headers=admin).json()["secret"] == ""

        # Delivered, signed.
        first = buy(new_shopper, sku)
        [post] = receiver.wait_for(lambda p: p.event_type == CONFIRMED and first.encode() in p.body, within=30)
        assert signed(post, secret)
        payload = json.loads(post.body)
        assert payload["type"] == CONFIRMED and payload["data"]["order_id"] == first
        assert payload["id"] == post.headers["Shop-Event-Id"]

        # The receiver fails: retried, then dead.
        receiver.default = 500
        second = buy(new_shopper, sku)

        def log_of(order_id: str) -> dict[str, Any]:
            answer = http.get(deliveries, headers=admin)
            assert answer.status_code == 200, answer.text
            found: list[dict[str, Any]] = [d for d in answer.json()["deliveries"] if order_id in d["payload"]]
            [delivery] = found
            return delivery

        dead = backstage.eventually(lambda: log_of(second), lambda d: d["status"] == "dead", within=30)
        assert [a["status_code"] for a in dead["attempt_log"]] == [500, 500, 500]
        failed = receiver.posts(lambda p: second.encode() in p.body)
        assert len(failed) == 3 and all(signed(p, secret) for p in failed)
        dead_only = http.get(deliveries, params={"status": "dead"}, headers=admin).json()["deliveries"]
        assert [d["delivery_id"] for d in dead_only] == [dead["delivery_id"]]

        # Replayed once it answers again: delivered, with a valid signature.
        receiver.default = 200
        replayed = http.post(f"{deliveries}/replay", headers=admin)
        assert replayed.status_code == 200 and replayed.json() == {"replayed": 1}, replayed.text
        done = backstage.eventually(lambda: log_of(second), lambda d: d["status"] == "delivered", within=30)
        assert [a["status_code"] for a in done["attempt_log"]] == [500, 500, 500, 200]
        last = receiver.wait_for(lambda p: second.encode() in p.body, count=4)[-1]
        assert signed(last, secret) and json.loads(last.body)["data"]["order_id"] == second

        # A shopper may not manage webhooks.
        shopper = new_shopper("nosy")
        assert http.get(url, headers=shopper.headers).status_code == 403
        http.patch(f"{url}/{hook['webhook_id']}", json={"active": False}, headers=admin).raise_for_status()


def test_webhooks_over_grpc_deliver_rotate_and_replay(
    stack: Stack, http: httpx.Client, new_shopper: NewShopper, trail_product: dict[str, Any]
) -> None:
    admin = (("authorization", admin_headers(stack, http)["authorization"]),)
    sku = trail_product["variants"][0]["sku"]
    with (
        WebhookReceiver() as receiver,
        grpc.insecure_channel(f"127.0.0.1:{GATEWAY_GRPC_PORT + stack.offset}") as channel,
    ):
        stub = integrations_pb2_grpc.IntegrationsServiceStub(channel)  # type: ignore[no-untyped-call]
        create = hooks_pb.CreateWebhookRequest(url=receiver.url, event_types=[CONFIRMED], request_id=uuid.uuid4().hex)
        hook = stub.CreateWebhook(create, metadata=admin).webhook
        assert stub.CreateWebhook(create, metadata=admin).webhook.webhook_id == hook.webhook_id

        first = buy(new_shopper, sku)
        [post] = receiver.wait_for(lambda p: p.event_type == CONFIRMED and first.encode() in p.body, within=30)
        assert signed(post, hook.secret)

        rotated = stub.RotateWebhookSecret(
            hooks_pb.RotateWebhookSecretRequest(webhook_id=hook.webhook_id), metadata=admin
        )
        assert rotated.webhook.secret not in ("", hook.secret)
        log = stub.ListWebhookDeliveries(
            hooks_pb.ListWebhookDeliveriesRequest(webhook_id=hook.webhook_id), metadata=admin
        )
        [delivery] = [d for d in log.deliveries if first in d.payload]
        replay = hooks_pb.ReplayWebhookDeliveriesRequest(webhook_id=hook.webhook_id, delivery_id=delivery.delivery_id)
        assert stub.ReplayWebhookDeliveries(replay, metadata=admin).replayed == 1
        again = receiver.wait_for(lambda p: first.encode() in p.body, count=2, within=30)[-1]
        assert signed(again, rotated.webhook.secret)

        off = hooks_pb.UpdateWebhookRequest(webhook_id=hook.webhook_id, active=False)
        assert not stub.UpdateWebhook(off, metadata=admin).webhook.active
