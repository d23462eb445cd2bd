"""The use cases of integration clients: create, rotate, revoke, read, and authenticate a client."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from shop_customers import events
from shop_customers.integrations import store
from shop_customers.integrations.domain import (
    IntegrationClient,
    check_grace,
    check_new_client,
    hash_secret,
    is_client_id,
    new_client_id,
    new_secret,
)
from shop_customers.operations import Clock, utc_now
from shopkit.db import Database
from shopkit.errors import FailedPrecondition, NotFound, Unauthenticated

log = logging.getLogger("shop_customers.integrations")


def invalid_client() -> Unauthenticated:
    # One answer for an unknown id, a wrong secret and a revoked client: nothing to probe.
    return Unauthenticated("the client id or secret is not valid", reason="INVALID_CLIENT")


class IntegrationClients:
    def __init__(self, db: Database, clock: Clock = utc_now):
        self.db = db
        self.clock = clock

    async def create(self, name: str, scopes: tuple[str, ...], request_id: str) -> tuple[IntegrationClient, str]:
        """The new client and its secret; a repeated request_id answers the first client and no secret."""
        scopes = tuple(dict.fromkeys(scopes))
        check_new_client(name, scopes, request_id)
        now = self.clock()
        client = IntegrationClient(new_client_id(), name.strip(), scopes, created_at=now, secret_rotated_at=now)
        secret = new_secret()
        async with self.db.transaction() as conn:
            if await store.insert_client(conn, client, hash_secret(secret), request_id):
                await events.integration_client_changed(conn, client, "created")
                log.info("integration client created", extra={"client_id": client.client_id, "scopes": scopes})
                return client, secret
            repeated = await store.by_request(conn, request_id)
        if repeated is None:  # pragma: no cover - the conflict was on this request id
            raise NotFound("integration client", request_id)
        return repeated, ""

    async def rotate(self, client_id: str, grace_seconds: int) -> tuple[IntegrationClient, str]:
        grace = check_grace(grace_seconds)
        secret = new_secret()
        async with self.db.transaction() as conn:
            client = await self._locked(conn, client_id)
            if client.revoked:
                raise FailedPrecondition("a revoked client gets no new secret", reason="CLIENT_REVOKED")
            now = self.clock()
            until = now + timedelta(seconds=grace)
            await store.rotate(conn, client_id, hash_secret(secret), now, until)
            rotated = replace(
                client, secret_rotated_at=now, previous_secret_expires_at=until, version=client.version + 1
            )
            await events.integration_client_changed(conn, rotated, "secret_rotated")
        log.info("integration client secret rotated", extra={"client_id": client_id, "grace_seconds": grace})
        return rotated, secret

    async def revoke(self, client_id: str) -> IntegrationClient:
        async with self.db.transaction() as conn:
            client = await self._locked(conn, client_id)
            if client.revoked:
                return client  # revoking twice changes nothing
            now = self.clock()
            await store.revoke(conn, client_id, now)
            revoked = replace(client, revoked_at=now, version=client.version + 1)
            await events.integration_client_changed(conn, revoked, "revoked")
        log.info("integration client revoked", extra={"client_id": client_id})
        return revoked

    async def get(self, client_id: str) -> IntegrationClient:
        if not is_client_id(client_id):
            raise NotFound("integration client", client_id[:64])
        async with self.db.connect() as conn:
            found = await store.client(conn, client_id)
        if found is None:
            raise NotFound("integration client", client_id)
        return found[0]

    async def list(self) -> list[IntegrationClient]:
        async with self.db.connect() as conn:
            return await store.clients(conn)

    async def authenticate(self, client_id: str, secret: str) -> IntegrationClient:
        if not is_client_id(client_id) or not secret or len(secret) > 256:
            raise invalid_client()
        async with self.db.connect() as conn:
            found = await store.client(conn, client_id)
        if found is None or found[0].revoked or not found[1].accepts(secret, self.clock()):
            raise invalid_client()
        return found[0]

    async def _locked(self, conn: AsyncConnection, client_id: str) -> IntegrationClient:
        if not is_client_id(client_id):
            raise NotFound("integration client", client_id[:64])
        found = await store.client(conn, client_id, lock=True)
        if found is None:
            raise NotFound("integration client", client_id)
        return found[0]
