"""A running fraud service per test module (fresh database, real gRPC, real NATS) with a clock the
tests move, and builders of purchase contexts that keep tests short."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from nats.js import JetStreamContext

import shop_fraud
from shop.common.v1 import common_pb2
from shop.fraud.v1 import fraud_pb2, fraud_pb2_grpc
from shop_fraud.main import build
from shop_fraud.settings import FraudSettings
from shopkit import events as kit_events
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, running

MIGRATIONS = Path(shop_fraud.__file__).parent / "migrations"
SERVICE = metadata_for("service")  # checkout assesses as `service`
ANALYST = metadata_for("fraud_analyst", customer_id="analyst-1")


class Clock:
    """What the service takes as "now"; tests set and move it instead of sleeping."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def unique() -> str:
    return uuid.uuid4().hex[:12]


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def money(amount: int, currency: str = "USD") -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency=currency)


@dataclass
class FraudService:
    runtime: Runtime
    stub: fraud_pb2_grpc.FraudServiceAsyncStub
    settings: FraudSettings
    clock: Clock

    unique = staticmethod(unique)
    money = staticmethod(money)

    def context(self, **fields: Any) -> fraud_pb2.PurchaseContext:
        """A clean purchase: an established customer buying 50 USD at home, with keys no other test uses.
        `fields` override PurchaseContext fields; account_created_at=None makes a guest's purchase."""
        now = self.clock()
        tag = unique()
        number = int(tag[:6], 16)
        amount = fields.pop("amount", 5_000)
        values: dict[str, Any] = {
            "customer_id": f"cust-{tag}",
            "email": f"buyer-{tag}@example.com",
            "account_created_at": now - timedelta(days=400),
            "amount": money(amount),
            "ip": f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}",
            "ip_country": "DE",
            "device_id": f"dev-{tag}",
            "card_fingerprint": f"card-{tag}",
            "card_country": "DE",
            "billing_country": "DE",
            "shipping_country": "DE",
            "lines": [fraud_pb2.AssessedLine(sku="SHOE-42", quantity=1, unit_price=money(amount))],
            "channel": "web",
        }
        values.update(fields)
        created = values.pop("account_created_at")
        pb = fraud_pb2.PurchaseContext(**values)
        if created is not None:
            pb.account_created_at.CopyFrom(timestamp(created))
        return pb

    def guest(self, **fields: Any) -> fraud_pb2.PurchaseContext:
        return self.context(customer_id="", account_created_at=None, **fields)

    def review_context(self, **fields: Any) -> fraud_pb2.PurchaseContext:
        """A guest's 1,200 USD order from abroad with a foreign card, shipped elsewhere: REVIEW by default."""
        values: dict[str, Any] = {"amount": 120_000, "ip_country": "US", "card_country": "US", "shipping_country": "FR"}
        values.update(fields)
        return self.guest(**values)

    @staticmethod
    async def fails(call: Any) -> RpcErrorInfo:
        """Await a call that must fail; its decoded error."""
        try:
            await call
        except grpc.aio.AioRpcError as error:
            return parse_rpc_error(error)
        raise AssertionError("the call succeeded")

    async def assess(
        self, pb: fraud_pb2.PurchaseContext, checkout_id: str | None = None, metadata: Any = SERVICE
    ) -> fraud_pb2.Assessment:
        request = fraud_pb2.AssessRequest(checkout_id=checkout_id or f"co-{unique()}", context=pb)
        response = await self.stub.Assess(request, metadata=metadata)
        return response.assessment

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.runtime.db.transaction() as conn:
            result = await conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []

    async def count(self, table: str) -> int:
        rows = await self.sql(f"SELECT count(*) AS n FROM {table}")
        return int(rows[0].n)


def settings_for(url: str, nats_url: str, **overrides: Any) -> FraudSettings:
    values: dict[str, Any] = {
        "database_url": url,
        "nats_url": nats_url,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "metrics_port": 0,
        "outbox_poll_interval_seconds": 0.05,
        "log_level": "WARNING",
        "sweeper_enabled": False,  # tests sweep explicitly with the test clock
        "velocity_limits": {"card": [2, 3, 4]},  # small limits make the window tests short
    }
    values.update(overrides)
    return FraudSettings(**values)


@contextlib.asynccontextmanager
async def fraud_service(url: str, nats_url: str, clock: Clock, **overrides: Any) -> AsyncIterator[FraudService]:
    settings = settings_for(url, nats_url, **overrides)
    async with running(functools.partial(build, clock=clock), settings) as runtime:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.service.port}")
        try:
            yield FraudService(runtime, fraud_pb2_grpc.FraudServiceStub(channel), settings, clock)
        finally:
            await channel.close(grace=None)


@pytest.fixture(scope="module")
async def fraud_url(postgres: Postgres) -> str:
    return await asyncio.to_thread(postgres.migrated_database, MIGRATIONS, "fraud")


@pytest.fixture(scope="module")
async def fraud(fraud_url: str, nats_url: str) -> AsyncIterator[FraudService]:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    async with fraud_service(fraud_url, nats_url, clock) as service:
        yield service


StartFraud = Callable[..., contextlib.AbstractAsyncContextManager[FraudService]]


@pytest.fixture(scope="module")
def start_fraud(fraud_url: str, nats_url: str, fraud: FraudService) -> StartFraud:
    """Another instance on the module's database and clock, with other settings."""
    return functools.partial(fraud_service, fraud_url, nats_url, fraud.clock)


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    """The test's own NATS connection: closed (not drained) afterwards, so that its subscriptions
    never hold up the service's shutdown."""
    nc = await kit_events.connect(nats_url, "fraud-test")
    try:
        yield nc.jetstream()
    finally:
        await nc.close()
