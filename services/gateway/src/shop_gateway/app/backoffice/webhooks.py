"""Outbound webhooks for admins: subscriptions (the secret shown on create and rotate only), the
delivery log and replays. The notifications service owns them (docs/architecture.md "Webhooks");
these use cases check the role and the gateway's bounds, then call it with the caller's identity."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from shop.common.v1 import common_pb2
from shop.notifications.v1 import notifications_pb2 as pb
from shop_gateway.app.backoffice.common import MAX_ID, check_text, require_admin
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.principal import Principal
from shopkit.errors import FieldViolation, InvalidArgument, NotFound, Violations

STATUSES = {
    "pending": pb.WEBHOOK_DELIVERY_STATUS_PENDING,
    "delivered": pb.WEBHOOK_DELIVERY_STATUS_DELIVERED,
    "dead": pb.WEBHOOK_DELIVERY_STATUS_DEAD,
}


@dataclass(frozen=True)
class WebhookChange:
    url: str | None = None
    event_types: list[str] | None = None
    active: bool | None = None
    description: str | None = None


def _id(value: str, what: str) -> str:
    if not value or len(value) > MAX_ID:
        raise NotFound(what, value)
    return value


async def _webhook(shop: Shop, who: Principal, method: str, request: Message) -> pb.Webhook:
    """Call one of notifications' RPCs that answer a webhook, as the caller."""
    with upstream("notifications"):
        response = await getattr(shop.backends.notifications, method)(request, metadata=who.metadata())
    webhook: pb.Webhook = response.webhook
    return webhook


async def create_webhook(
    shop: Shop, who: Principal, *, url: str, event_types: list[str], description: str, key: str
) -> pb.Webhook:
    require_admin(who)
    violations = Violations()
    check_text(violations, key, "idempotency_key")
    violations.raise_if_any()
    request = pb.CreateWebhookRequest(url=url, event_types=event_types, description=description, request_id=key)
    return await _webhook(shop, who, "CreateWebhook", request)


async def list_webhooks(shop: Shop, who: Principal, page_size: int, page_token: str) -> tuple[list[pb.Webhook], str]:
    require_admin(who)
    page = common_pb2.PageRequest(page_size=page_size, page_token=page_token)
    with upstream("notifications"):
        response = await shop.backends.notifications.ListWebhooks(
            pb.ListWebhooksRequest(page=page), metadata=who.metadata()
        )
    return list(response.webhooks), response.page.next_page_token


async def get_webhook(shop: Shop, who: Principal, webhook_id: str) -> pb.Webhook:
    require_admin(who)
    return await _webhook(shop, who, "GetWebhook", pb.GetWebhookRequest(webhook_id=_id(webhook_id, "webhook")))


async def update_webhook(shop: Shop, who: Principal, webhook_id: str, change: WebhookChange) -> pb.Webhook:
    require_admin(who)
    request = pb.UpdateWebhookRequest(webhook_id=_id(webhook_id, "webhook"))
    if change.url is not None:
        request.url = change.url
    if change.event_types is not None:
        request.event_types[:] = change.event_types
        request.update_event_types = True
    if change.active is not None:
        request.active = change.active
    if change.description is not None:
        request.description = change.description
    return await _webhook(shop, who, "UpdateWebhook", request)


async def rotate_secret(shop: Shop, who: Principal, webhook_id: str) -> pb.Webhook:
    require_admin(who)
    request = pb.RotateWebhookSecretRequest(webhook_id=_id(webhook_id, "webhook"))
    return await _webhook(shop, who, "RotateWebhookSecret", request)


async def list_deliveries(
    shop: Shop, who: Principal, webhook_id: str, *, status: str, page_size: int, page_token: str
) -> tuple[list[pb.WebhookDelivery], str]:
    require_admin(who)
    if status and status not in STATUSES:
        raise InvalidArgument([FieldViolation("status", f"must be one of {', '.join(STATUSES)}")])
    request = pb.ListWebhookDeliveriesRequest(
        webhook_id=_id(webhook_id, "webhook"),
        status=STATUSES.get(status, pb.WEBHOOK_DELIVERY_STATUS_UNSPECIFIED),
        page=common_pb2.PageRequest(page_size=page_size, page_token=page_token),
    )
    with upstream("notifications"):
        response = await shop.backends.notifications.ListWebhookDeliveries(request, metadata=who.metadata())
    return list(response.deliveries), response.page.next_page_token


async def replay(shop: Shop, who: Principal, webhook_id: str, delivery_id: str = "") -> int:
    """One delivery again (any status but pending), or every dead one of the webhook; how many."""
    require_admin(who)
    request = pb.ReplayWebhookDeliveriesRequest(
        webhook_id=_id(webhook_id, "webhook"), delivery_id=_id(delivery_id, "webhook delivery") if delivery_id else ""
    )
    with upstream("notifications"):
        response = await shop.backends.notifications.ReplayWebhookDeliveries(request, metadata=who.metadata())
    return int(response.replayed)
