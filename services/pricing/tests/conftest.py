"""A running pricing service per test module (fresh database, real gRPC, real NATS), shared by the
API, coupon and dynamic-pricing tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from nats.js import JetStreamContext

import shop_pricing
from shop.pricing.v1 import pricing_pb2_grpc
from shop_pricing.main import build
from shop_pricing.settings import PricingSettings
from shopkit import events as kit_events
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, running

MIGRATIONS = Path(shop_pricing.__file__).parent / "migrations"


@dataclass
class PricingService:
    runtime: Runtime
    stub: pricing_pb2_grpc.PricingServiceAsyncStub
    settings: PricingSettings


@pytest.fixture(scope="module")
async def pricing(postgres: Postgres, nats_url: str) -> AsyncIterator[PricingService]:
    url = await asyncio.to_thread(postgres.migrated_database, MIGRATIONS, "pricing")
    settings = PricingSettings(
        database_url=url,
        nats_url=nats_url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        outbox_poll_interval_seconds=0.05,
        log_level="WARNING",
    )
    async with running(build, settings) as runtime:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.service.port}")
        try:
            yield PricingService(runtime, pricing_pb2_grpc.PricingServiceStub(channel), settings)
        finally:
            await channel.close(grace=None)


@pytest.fixture
def unique() -> str:
    """A per-test prefix for SKUs, ids and codes: tests of a module share one database."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    """The test's own NATS connection: closed (not drained) afterwards, so that its subscriptions
    never hold up the service's shutdown."""
    nc = await kit_events.connect(nats_url, "pricing-test")
    try:
        yield nc.jetstream()
    finally:
        await nc.close()
