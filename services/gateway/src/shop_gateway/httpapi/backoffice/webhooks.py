"""Outbound webhooks (role admin): subscribe an endpoint to event types, rotate its secret, read its
delivery log, replay deliveries. Signing and retries: docs/api.md "Webhooks"."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, Field

from shop_gateway.app.backoffice import webhooks
from shop_gateway.httpapi.backoffice.common import Body, IdempotencyKey, PageSize, PageToken, router
from shop_gateway.httpapi.backoffice.views import View
from shop_gateway.httpapi.deps import ShopDep, SignedIn

hooks = router("/v1/admin/webhooks", "back office: webhooks")

Url = Annotated[str, Field(max_length=2000, description="https; http to loopback only in development")]
EventTypes = Annotated[list[str], Field(min_length=1, max_length=20, description='e.g. ["shop.order.confirmed"]')]
Description = Annotated[str, Field(max_length=500)]


class WebhookView(View):
    webhook_id: str
    url: str
    event_types: list[str]
    active: bool
    secret: str = Field(description="whsec_...: in the answers of create and rotate only, else empty")
    description: str
    created_at: str | None
    updated_at: str | None


class WebhookPage(BaseModel):
    webhooks: list[WebhookView]
    next_page_token: str


class WebhookAttemptView(View):
    attempt: int
    status_code: int = Field(description="0: no answer (see error)")
    latency_ms: int
    error: str
    response_body: str = Field(description="the answer's first 1 KiB")
    at: str | None


class WebhookDeliveryView(View):
    delivery_id: str
    webhook_id: str
    event_id: str = Field(description="the Shop-Event-Id header and the payload's id")
    event_type: str
    status: str = Field(description="pending, delivered or dead")
    attempts: int = Field(description="since created or last replayed")
    last_error: str
    created_at: str | None
    next_attempt_at: str | None
    delivered_at: str | None
    attempt_log: list[WebhookAttemptView]
    payload: str = Field(description="the JSON body sent")


class DeliveryPage(BaseModel):
    deliveries: list[WebhookDeliveryView]
    next_page_token: str


class Replayed(BaseModel):
    replayed: int = Field(description="how many deliveries were queued again")


class WebhookBody(Body):
    url: Url
    event_types: EventTypes
    description: Description = ""


class WebhookChangeBody(Body):
    url: Url | None = None
    event_types: EventTypes | None = None
    active: bool | None = None
    description: Description | None = None


@hooks.post("", status_code=201, summary="Subscribe an endpoint to event types (admin)")
async def create_webhook(
    body: WebhookBody, shop: ShopDep, who: SignedIn, idempotency_key: IdempotencyKey = None
) -> WebhookView:
    """The answer holds the signing secret, shown this once (rotate to get a new one). The same
    Idempotency-Key answers the webhook it created."""
    made = await webhooks.create_webhook(
        shop, who, url=body.url, event_types=body.event_types, description=body.description, key=idempotency_key or ""
    )
    return WebhookView.of(made)


@hooks.get("", summary="Webhooks, newest first (admin)")
async def list_webhooks(
    shop: ShopDep, who: SignedIn, page_size: PageSize = 0, page_token: PageToken = ""
) -> WebhookPage:
    found, token = await webhooks.list_webhooks(shop, who, page_size, page_token)
    return WebhookPage(webhooks=[WebhookView.of(hook) for hook in found], next_page_token=token)


@hooks.get("/{webhook_id}", summary="One webhook, without its secret (admin)")
async def get_webhook(webhook_id: str, shop: ShopDep, who: SignedIn) -> WebhookView:
    return WebhookView.of(await webhooks.get_webhook(shop, who, webhook_id))


@hooks.patch("/{webhook_id}", summary="Change a webhook's URL, event types, description or active flag (admin)")
async def update_webhook(webhook_id: str, body: WebhookChangeBody, shop: ShopDep, who: SignedIn) -> WebhookView:
    """An inactive webhook gets no new deliveries and sends none of those waiting until it is active again."""
    change = webhooks.WebhookChange(body.url, body.event_types, body.active, body.description)
    return WebhookView.of(await webhooks.update_webhook(shop, who, webhook_id, change))


@hooks.post("/{webhook_id}/rotate-secret", summary="A new signing secret, shown this once (admin)")
async def rotate_webhook_secret(webhook_id: str, shop: ShopDep, who: SignedIn) -> WebhookView:
    return WebhookView.of(await webhooks.rotate_secret(shop, who, webhook_id))


@hooks.get("/{webhook_id}/deliveries", summary="A webhook's delivery log, newest first (admin)")
async def list_webhook_deliveries(
    webhook_id: str,
    shop: ShopDep,
    who: SignedIn,
    status: Annotated[str, Query(max_length=16, description="pending, delivered or dead")] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> DeliveryPage:
    found, token = await webhooks.list_deliveries(
        shop, who, webhook_id, status=status, page_size=page_size, page_token=page_token
    )
    return DeliveryPage(deliveries=[WebhookDeliveryView.of(d) for d in found], next_page_token=token)


@hooks.post("/{webhook_id}/deliveries/replay", summary="Send every dead delivery again (admin)")
async def replay_dead_deliveries(webhook_id: str, shop: ShopDep, who: SignedIn) -> Replayed:
    """Each gets a fresh budget of attempts; the log keeps the earlier ones."""
    return Replayed(replayed=await webhooks.replay(shop, who, webhook_id))


@hooks.post("/{webhook_id}/deliveries/{delivery_id}/replay", summary="Send one delivery again (admin)")
async def replay_delivery(webhook_id: str, delivery_id: str, shop: ShopDep, who: SignedIn) -> Replayed:
    """Whatever its status but pending (a delivered one too: a receiver that lost it)."""
    return Replayed(replayed=await webhooks.replay(shop, who, webhook_id, delivery_id))
