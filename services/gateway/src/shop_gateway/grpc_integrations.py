"""The integrations over gRPC (shop.storefront.v1.IntegrationsService): ERP feeds, webhooks and machine
clients, thin adapters over the same use cases as their HTTP routes; the resources are the owning
services' own messages."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from shop.common.v1 import feed_pb2
from shop.customers.v1 import integration_clients_pb2 as clients_pb
from shop.notifications.v1 import notifications_pb2 as hooks_pb
from shop.storefront.v1 import integrations_pb2 as pb
from shop.storefront.v1 import integrations_pb2_grpc
from shop_gateway.app import integration_clients
from shop_gateway.app.backoffice import feeds, webhooks
from shop_gateway.app.backoffice.catalog import UploadTooLarge
from shop_gateway.app.backoffice.feeds import FeedKind
from shop_gateway.gateway import Gateway
from shop_gateway.grpcapi import Context, StorefrontServicer
from shop_gateway.principal import Principal

DELIVERY_STATUSES = {value: name for name, value in webhooks.STATUSES.items()}


class IntegrationsServicer(integrations_pb2_grpc.IntegrationsServiceServicer):
    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.shop = gateway.shop
        self.edge = StorefrontServicer(gateway)  # authentication, scopes, rate limits and client facts as there

    async def _admit(self, context: Context) -> Principal:
        who, _ = await self.edge._admit(context)
        return who

    # --- ERP feeds ---

    async def _start(self, kind: FeedKind, request: pb.StartFeedRequest, context: Context) -> feed_pb2.Feed:
        who = await self._admit(context)
        feeds.require_sender(who, kind)
        if len(request.lines) > self.shop.settings.feed_max_lines:
            raise UploadTooLarge(f"the feed has more than {self.shop.settings.feed_max_lines} lines")
        return await feeds.send_feed(
            self.shop, who, kind, list(request.lines), feed_id=request.feed_id, content_type=request.content_type
        )

    async def _lines(
        self, kind: FeedKind, request: feed_pb2.ListFeedLinesRequest, context: Context
    ) -> feed_pb2.ListFeedLinesResponse:
        return await feeds.read_lines(
            self.shop,
            await self._admit(context),
            kind,
            request.id,
            failed_only=request.failed_only,
            page_size=request.page.page_size,
            page_token=request.page.page_token,
        )

    async def StartStockFeed(self, request: pb.StartFeedRequest, context: Context) -> feed_pb2.Feed:
        return await self._start(feeds.STOCK, request, context)

    async def GetStockFeed(self, request: feed_pb2.GetFeedRequest, context: Context) -> feed_pb2.Feed:
        return await feeds.read_feed(self.shop, await self._admit(context), feeds.STOCK, request.id)

    async def ListStockFeedLines(
        self, request: feed_pb2.ListFeedLinesRequest, context: Context
    ) -> feed_pb2.ListFeedLinesResponse:
        return await self._lines(feeds.STOCK, request, context)

    async def StartPriceFeed(self, request: pb.StartFeedRequest, context: Context) -> feed_pb2.Feed:
        return await self._start(feeds.PRICE, request, context)

    async def GetPriceFeed(self, request: feed_pb2.GetFeedRequest, context: Context) -> feed_pb2.Feed:
        return await feeds.read_feed(self.shop, await self._admit(context), feeds.PRICE, request.id)

    async def ListPriceFeedLines(
        self, request: feed_pb2.ListFeedLinesRequest, context: Context
    ) -> feed_pb2.ListFeedLinesResponse:
        return await self._lines(feeds.PRICE, request, context)

    # --- webhooks ---

    async def CreateWebhook(
        self, request: hooks_pb.CreateWebhookRequest, context: Context
    ) -> hooks_pb.CreateWebhookResponse:
        webhook = await webhooks.create_webhook(
            self.shop,
            await self._admit(context),
            url=request.url,
            event_types=list(request.event_types),
            description=request.description,
            key=request.request_id,
        )
        return hooks_pb.CreateWebhookResponse(webhook=webhook)

    async def ListWebhooks(
        self, request: hooks_pb.ListWebhooksRequest, context: Context
    ) -> hooks_pb.ListWebhooksResponse:
        who = await self._admit(context)
        found, token = await webhooks.list_webhooks(self.shop, who, request.page.page_size, request.page.page_token)
        response = hooks_pb.ListWebhooksResponse(webhooks=found)
        response.page.next_page_token = token
        return response

    async def GetWebhook(self, request: hooks_pb.GetWebhookRequest, context: Context) -> hooks_pb.GetWebhookResponse:
        webhook = await webhooks.get_webhook(self.shop, await self._admit(context), request.webhook_id)
        return hooks_pb.GetWebhookResponse(webhook=webhook)

    async def UpdateWebhook(
        self, request: hooks_pb.UpdateWebhookRequest, context: Context
    ) -> hooks_pb.UpdateWebhookResponse:
        change = webhooks.WebhookChange(
            url=request.url if request.HasField("url") else None,
            event_types=list(request.event_types) if request.update_event_types else None,
            active=request.active if request.HasField("active") else None,
            description=request.description if request.HasField("description") else None,
        )
        webhook = await webhooks.update_webhook(self.shop, await self._admit(context), request.webhook_id, change)
        return hooks_pb.UpdateWebhookResponse(webhook=webhook)

    async def RotateWebhookSecret(
        self, request: hooks_pb.RotateWebhookSecretRequest, context: Context
    ) -> hooks_pb.RotateWebhookSecretResponse:
        webhook = await webhooks.rotate_secret(self.shop, await self._admit(context), request.webhook_id)
        return hooks_pb.RotateWebhookSecretResponse(webhook=webhook)

    async def ListWebhookDeliveries(
        self, request: hooks_pb.ListWebhookDeliveriesRequest, context: Context
    ) -> hooks_pb.ListWebhookDeliveriesResponse:
        found, token = await webhooks.list_deliveries(
            self.shop,
            await self._admit(context),
            request.webhook_id,
            status=DELIVERY_STATUSES.get(request.status, ""),
            page_size=request.page.page_size,
            page_token=request.page.page_token,
        )
        response = hooks_pb.ListWebhookDeliveriesResponse(deliveries=found)
        response.page.next_page_token = token
        return response

    async def ReplayWebhookDeliveries(
        self, request: hooks_pb.ReplayWebhookDeliveriesRequest, context: Context
    ) -> hooks_pb.ReplayWebhookDeliveriesResponse:
        who = await self._admit(context)
        replayed = await webhooks.replay(self.shop, who, request.webhook_id, request.delivery_id)
        return hooks_pb.ReplayWebhookDeliveriesResponse(replayed=replayed)

    # --- machine clients ---

    async def _clients(self, method: str, request: Message, context: Context) -> Any:
        return await integration_clients.call(self.shop, await self._admit(context), method, request)

    async def CreateIntegrationClient(
        self, request: clients_pb.CreateIntegrationClientRequest, context: Context
    ) -> clients_pb.CreateIntegrationClientResponse:
        created: clients_pb.CreateIntegrationClientResponse = await self._clients(
            "CreateIntegrationClient", request, context
        )
        return created

    async def RotateIntegrationClientSecret(
        self, request: clients_pb.RotateIntegrationClientSecretRequest, context: Context
    ) -> clients_pb.RotateIntegrationClientSecretResponse:
        rotated: clients_pb.RotateIntegrationClientSecretResponse = await self._clients(
            "RotateIntegrationClientSecret", request, context
        )
        return rotated

    async def RevokeIntegrationClient(
        self, request: clients_pb.RevokeIntegrationClientRequest, context: Context
    ) -> clients_pb.RevokeIntegrationClientResponse:
        revoked: clients_pb.RevokeIntegrationClientResponse = await self._clients(
            "RevokeIntegrationClient", request, context
        )
        if self.gateway.clients is not None:
            self.gateway.clients.forget(request.client_id)  # this replica refuses at once, as over HTTP
        return revoked

    async def GetIntegrationClient(
        self, request: clients_pb.GetIntegrationClientRequest, context: Context
    ) -> clients_pb.GetIntegrationClientResponse:
        found: clients_pb.GetIntegrationClientResponse = await self._clients("GetIntegrationClient", request, context)
        return found

    async def ListIntegrationClients(
        self, request: clients_pb.ListIntegrationClientsRequest, context: Context
    ) -> clients_pb.ListIntegrationClientsResponse:
        found: clients_pb.ListIntegrationClientsResponse = await self._clients(
            "ListIntegrationClients", request, context
        )
        return found
