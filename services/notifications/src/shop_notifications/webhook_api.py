"""The webhook RPCs of shop.notifications.v1.NotificationsService (role admin; the gateway's
/v1/admin/webhooks and tooling call them). Each method decodes, calls one use case, encodes."""

from __future__ import annotations

from typing import Any

import grpc

from shop.common.v1 import common_pb2
from shop.notifications.v1 import notifications_pb2 as pb
from shop_notifications.webhooks import Webhooks
from shopkit.auth import require_role

Context = grpc.aio.ServicerContext[Any, Any]
ADMIN = ("admin",)  # not service: no other service manages webhooks


class WebhookRpcs:
    webhooks: Webhooks

    async def CreateWebhook(self, request: pb.CreateWebhookRequest, context: Context) -> pb.CreateWebhookResponse:
        require_role(context, ADMIN)
        return pb.CreateWebhookResponse(webhook=await self.webhooks.create(request))

    async def ListWebhooks(self, request: pb.ListWebhooksRequest, context: Context) -> pb.ListWebhooksResponse:
        require_role(context, ADMIN)
        found, token = await self.webhooks.listing(request.page)
        return pb.ListWebhooksResponse(webhooks=found, page=common_pb2.PageResponse(next_page_token=token))

    async def GetWebhook(self, request: pb.GetWebhookRequest, context: Context) -> pb.GetWebhookResponse:
        require_role(context, ADMIN)
        return pb.GetWebhookResponse(webhook=await self.webhooks.get(request.webhook_id))

    async def UpdateWebhook(self, request: pb.UpdateWebhookRequest, context: Context) -> pb.UpdateWebhookResponse:
        require_role(context, ADMIN)
        return pb.UpdateWebhookResponse(webhook=await self.webhooks.update(request))

    async def RotateWebhookSecret(
        self, request: pb.RotateWebhookSecretRequest, context: Context
    ) -> pb.RotateWebhookSecretResponse:
        require_role(context, ADMIN)
        return pb.RotateWebhookSecretResponse(webhook=await self.webhooks.rotate_secret(request.webhook_id))

    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: Context
    ) -> pb.ListWebhookDeliveriesResponse:
        require_role(context, ADMIN)
        found, token = await self.webhooks.deliveries(request)
        return pb.ListWebhookDeliveriesResponse(deliveries=found, page=common_pb2.PageResponse(next_page_token=token))

    async def ReplayWebhookDeliveries(
        self, request: pb.ReplayWebhookDeliveriesRequest, context: Context
    ) -> pb.ReplayWebhookDeliveriesResponse:
        require_role(context, ADMIN)
        replayed = await self.webhooks.replay(request.webhook_id, request.delivery_id)
        return pb.ReplayWebhookDeliveriesResponse(replayed=replayed)
