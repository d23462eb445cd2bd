"""The gRPC servicer of shop.customers.v1.IntegrationClientsService: admins (through the gateway)
and the gateway itself (role service) alone; each method calls one use case and encodes."""

from __future__ import annotations

from typing import Any

import grpc

from shop.customers.v1 import integration_clients_pb2 as pb
from shop.customers.v1 import integration_clients_pb2_grpc
from shop_customers.integrations import mapping
from shop_customers.integrations.operations import IntegrationClients
from shopkit.auth import ADMIN_ROLES, require_role

Context = grpc.aio.ServicerContext[Any, Any]


class IntegrationClientsServicer(integration_clients_pb2_grpc.IntegrationClientsServiceServicer):
    def __init__(self, clients: IntegrationClients):
        self.clients = clients

    async def CreateIntegrationClient(
        self, request: pb.CreateIntegrationClientRequest, context: Context
    ) -> pb.CreateIntegrationClientResponse:
        require_role(context, ADMIN_ROLES)
        client, secret = await self.clients.create(request.name, tuple(request.scopes), request.request_id)
        return pb.CreateIntegrationClientResponse(client=mapping.client(client), client_secret=secret)

    async def RotateIntegrationClientSecret(
        self, request: pb.RotateIntegrationClientSecretRequest, context: Context
    ) -> pb.RotateIntegrationClientSecretResponse:
        require_role(context, ADMIN_ROLES)
        client, secret = await self.clients.rotate(request.client_id, request.grace_seconds)
        return pb.RotateIntegrationClientSecretResponse(client=mapping.client(client), client_secret=secret)

    async def RevokeIntegrationClient(
        self, request: pb.RevokeIntegrationClientRequest, context: Context
    ) -> pb.RevokeIntegrationClientResponse:
        require_role(context, ADMIN_ROLES)
        return pb.RevokeIntegrationClientResponse(client=mapping.client(await self.clients.revoke(request.client_id)))

    async def GetIntegrationClient(
        self, request: pb.GetIntegrationClientRequest, context: Context
    ) -> pb.GetIntegrationClientResponse:
        require_role(context, ADMIN_ROLES)
        return pb.GetIntegrationClientResponse(client=mapping.client(await self.clients.get(request.client_id)))

    async def ListIntegrationClients(
        self, request: pb.ListIntegrationClientsRequest, context: Context
    ) -> pb.ListIntegrationClientsResponse:
        require_role(context, ADMIN_ROLES)
        return pb.ListIntegrationClientsResponse(clients=[mapping.client(c) for c in await self.clients.list()])

    async def AuthenticateIntegrationClient(
        self, request: pb.AuthenticateIntegrationClientRequest, context: Context
    ) -> pb.AuthenticateIntegrationClientResponse:
        require_role(context, ADMIN_ROLES)
        client = await self.clients.authenticate(request.client_id, request.client_secret)
        return pb.AuthenticateIntegrationClientResponse(client=mapping.client(client))
