"""Integration clients as protobuf messages (the API's answers and the events)."""

from __future__ import annotations

from shop.customers.v1 import integration_clients_pb2 as pb
from shop_customers.integrations.domain import IntegrationClient
from shop_customers.mapping import timestamp


def client(value: IntegrationClient) -> pb.IntegrationClient:
    return pb.IntegrationClient(
        client_id=value.client_id,
        name=value.name,
        scopes=list(value.scopes),
        revoked=value.revoked,
        created_at=timestamp(value.created_at),
        secret_rotated_at=timestamp(value.secret_rotated_at),
        previous_secret_expires_at=timestamp(value.previous_secret_expires_at),
        revoked_at=timestamp(value.revoked_at),
        version=value.version,
    )
