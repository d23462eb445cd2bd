"""A running pricing service per test module (fresh database, real gRPC, real NATS), shared by the
API, coupon and dynamic-pricing tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from nats.js import JetStreamContext

from shop.pricing.v1 import pricing_pb2_grpc
from shop_pricing.main import build
from shop_pricing.settings import PricingSettings
from shopkit import events as kit_events
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, grpc_address, peer


@dataclass
class PricingService:
    runtime: Runtime
    stub: pricing_pb2_grpc.PricingServiceAsyncStub
    settings: PricingSettings


@pytest.fixture(scope="module")
async def pricing(postgres: Postgres, nats_url: str) -> AsyncIterator[PricingService]:
    async with peer(build, PricingSettings, postgres, nats_url) as runtime:
        channel = grpc.aio.insecure_channel(grpc_address(runtime))
        settings = runtime.settings
        assert isinstance(settings, PricingSettings)
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
