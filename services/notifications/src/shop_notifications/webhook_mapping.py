"""Outbound webhooks as the API returns them (rows ⇄ shop.notifications.v1 messages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shop.notifications.v1 import notifications_pb2 as pb
from shop_notifications.mapping import timestamp
from shop_notifications.webhook_domain import WebhookStatus

STATUS_TO_PB = {
    WebhookStatus.PENDING: pb.WEBHOOK_DELIVERY_STATUS_PENDING,
    WebhookStatus.DELIVERED: pb.WEBHOOK_DELIVERY_STATUS_DELIVERED,
    WebhookStatus.DEAD: pb.WEBHOOK_DELIVERY_STATUS_DEAD,
}
STATUS_FROM_PB = {value: key for key, value in STATUS_TO_PB.items()}


def webhook(row: Mapping[str, Any], *, secret: bool) -> pb.Webhook:
    """`secret`: only the answers of create and rotate carry it."""
    return pb.Webhook(
        webhook_id=str(row["id"]),
        url=row["url"],
        event_types=list(row["event_types"]),
        active=row["active"],
        secret=row["secret"] if secret else "",
        description=row["description"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


def delivery(row: Mapping[str, Any], attempts: Sequence[Mapping[str, Any]]) -> pb.WebhookDelivery:
    return pb.WebhookDelivery(
        delivery_id=str(row["id"]),
        webhook_id=str(row["webhook_id"]),
        event_id=row["event_id"],
        event_type=row["event_type"],
        status=STATUS_TO_PB[WebhookStatus(row["status"])],
        attempts=row["attempts"],
        last_error=row["last_error"],
        created_at=timestamp(row["created_at"]),
        next_attempt_at=timestamp(row["next_attempt_at"]),
        delivered_at=timestamp(row["delivered_at"]),
        payload=row["payload"],
        attempt_log=[
            pb.WebhookAttempt(
                attempt=entry["attempt"],
                status_code=entry["status_code"],
                latency_ms=entry["latency_ms"],
                error=entry["error"],
                response_body=entry["response_body"],
                at=timestamp(entry["at"]),
            )
            for entry in attempts
        ],
    )
