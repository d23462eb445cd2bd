"""Idempotency-Key: one effect per key, and the same answer to every repeat.

A request with a key runs in one transaction that first takes a transaction-scoped advisory
lock on (endpoint, key). A concurrent request with the same key waits on that lock (at most
IDEMPOTENCY_WAIT_MS, else 409 `request_in_progress`), then finds the stored answer and replays
it. The answer is stored in the transaction of the effect, so a crash loses both or neither; the
primary key (key, endpoint) backs the rule that there is at most one answer.

Stored: every answer of a request that executed (2xx, declines, not-found, state conflicts).
Not stored: rejected input (422 validation_error), `idempotency_key_reused`, `request_in_progress`,
processing errors (502) and unexpected failures (5xx) — a retry with the same key runs again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from shop_sandbox import store
from shop_sandbox.errors import ApiError, IdempotencyKeyReused, RequestInProgress
from shopkit.db import Database, DriverConnection
from shopkit.problems import PROBLEM_JSON

REPLAYED_HEADER = "Idempotent-Replayed"
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of an expired lock_timeout


@dataclass(frozen=True)
class Reply:
    status: int
    body: Mapping[str, Any]
    stored: bool = True  # False: a transient outcome; a retry with the same key runs again
    replayed: bool = False  # the stored answer of an earlier request with the same key


Effect = Callable[[DriverConnection], Awaitable[Reply]]


def lock_scope(endpoint: str, key: str) -> str:
    return f"{endpoint}\n{key}"


class Idempotency:
    def __init__(self, db: Database, *, secret: bytes, wait_ms: int, latency_ms: int) -> None:
        self.db = db
        self.secret = secret
        self.wait_ms = wait_ms
        self.latency_ms = latency_ms

    def request_hash(self, body: Mapping[str, Any]) -> str:
        """Keyed, so that a stored hash of a tokenisation request reveals nothing about the card."""
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return hmac.new(self.secret, canonical.encode(), hashlib.sha256).hexdigest()

    async def execute(self, key: str | None, endpoint: str, body: Mapping[str, Any], effect: Effect) -> Reply:
        """Run `effect` once per (key, endpoint); returns its reply, or the stored one (replayed)."""
        if key is None:
            async with self.db.driver_transaction() as conn:
                return await self._run(conn, effect, raise_errors=True)
        request_hash = self.request_hash(body)
        async with self.db.driver_transaction() as conn:
            await self._lock(conn, endpoint, key)
            stored = await store.find_response(conn, key, endpoint)
            if stored is not None:
                if not hmac.compare_digest(stored.request_hash, request_hash):
                    raise IdempotencyKeyReused(
                        f"the Idempotency-Key {key!r} was used with a different request to {endpoint}"
                    )
                return Reply(stored.status_code, stored.body, replayed=True)
            reply = await self._run(conn, effect, raise_errors=False)
            if reply.stored:
                await store.save_response(conn, key, endpoint, request_hash, reply.status, reply.body)
        return reply

    async def _lock(self, conn: DriverConnection, endpoint: str, key: str) -> None:
        try:
            await store.lock_key(conn, lock_scope(endpoint, key), self.wait_ms)
        except asyncpg.PostgresError as error:
            if error.sqlstate == LOCK_NOT_AVAILABLE:
                raise RequestInProgress(
                    f"a request with the Idempotency-Key {key!r} is being processed; retry later"
                ) from None
            raise

    async def _run(self, conn: DriverConnection, effect: Effect, *, raise_errors: bool) -> Reply:
        """The simulated processing time, then the effect. An ApiError undoes the effect's writes
        (savepoint) and becomes the reply, so that it can be stored under the key."""
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        if raise_errors:
            return await effect(conn)
        try:
            async with conn.driver.transaction():  # a savepoint
                return await effect(conn)
        except ApiError as error:
            return Reply(error.status, error.body(), stored=error.stored)


def media_type(reply: Reply) -> str:
    return PROBLEM_JSON if reply.status >= 400 else "application/json"
