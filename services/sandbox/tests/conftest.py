"""Shared fixtures of the sandbox tests: the real HTTP server (uvicorn in this event loop) on a
free port, over a freshly migrated PostgreSQL database, reached with a real HTTP client."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from shop_sandbox import store
from shop_sandbox.main import build
from shop_sandbox.server import HttpService
from shop_sandbox.settings import SandboxSettings
from shopkit.testing import Postgres, running

MIGRATIONS = Path(store.__file__).parent / "migrations"
VALID_YEAR = datetime.now(UTC).year + 3


@dataclass
class Sandbox:
    """The running service, an HTTP client to it, and helpers that keep tests short."""

    service: HttpService
    http: httpx.AsyncClient

    @property
    def base_url(self) -> str:
        return self.service.base_url

    async def tokenise(self, number: str = "4242424242424242", **fields: Any) -> dict[str, Any]:
        card = {"number": number, "exp_month": 12, "exp_year": VALID_YEAR, "cvc": "123"}
        body: dict[str, Any] = {"card": card}
        for name, value in fields.items():
            (card if name in card else body)[name] = value
        response = await self.http.post("/v1/payment_methods", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def authorize(
        self, payment_method: str, amount: int = 1000, currency: str = "EUR", *, key: str | None = None, **extra: Any
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        body = {"payment_method": payment_method, "amount": amount, "currency": currency, **extra}
        return await self.http.post("/v1/authorizations", json=body, headers=headers)

    async def authorized(self, amount: int = 1000, **extra: Any) -> dict[str, Any]:
        """A fresh authorization of a card that succeeds."""
        method = await self.tokenise()
        response = await self.authorize(method["id"], amount, **extra)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.service.context.db.transaction() as conn:
            result = await conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []

    async def counts(self) -> dict[str, int]:
        """Rows per table: the witness that a rejected request changed nothing."""
        tables = ["payment_methods", "authorizations", "captures", "refunds", "idempotency_keys"]
        return {table: (await self.sql(f"SELECT count(*) AS n FROM {table}"))[0].n for table in tables}


def sandbox_settings(database_url: str, **overrides: Any) -> SandboxSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "log_format": "text",
        "db_pool_size": 25,
        "shutdown_grace_seconds": 5,
        **overrides,
    }
    return SandboxSettings(**values)


@asynccontextmanager
async def running_sandbox(
    settings: SandboxSettings, client_tls: ssl.SSLContext | None = None
) -> AsyncIterator[Sandbox]:
    """The server, and a client of it (over mutual TLS with `client_tls`: a context with a certificate)."""
    verify: ssl.SSLContext | bool = client_tls if client_tls is not None else True
    async with (
        running(build, settings) as service,
        httpx.AsyncClient(base_url=service.base_url, timeout=20, verify=verify) as http,
    ):
        yield Sandbox(service, http)


StartSandbox = Callable[..., AbstractAsyncContextManager[Sandbox]]


@pytest.fixture(scope="module")
def sandbox_url(postgres: Postgres) -> str:
    return postgres.migrated_database(MIGRATIONS, prefix="sandbox")


@pytest.fixture(scope="module")
async def sandbox(sandbox_url: str) -> AsyncIterator[Sandbox]:
    async with running_sandbox(sandbox_settings(sandbox_url)) as started:
        yield started


@pytest.fixture
def start_sandbox(sandbox_url: str) -> StartSandbox:
    """Another server with its own settings (on the module's database unless `database_url` is given;
    `client_tls`: the SSL context of the test's client, for a server with TLS files)."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[Sandbox]:
        client_tls = overrides.pop("client_tls", None)
        settings = sandbox_settings(overrides.pop("database_url", sandbox_url), **overrides)
        return running_sandbox(settings, client_tls)

    return start
