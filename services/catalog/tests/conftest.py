"""One catalog service (real PostgreSQL, real NATS, real gRPC channel) shared by the catalog tests,
and a small client helper. Tests keep to their own categories, slugs and SKUs (unique suffixes)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from nats.js import JetStreamContext

import shop_catalog
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.common.v1 import common_pb2
from shop.inventory.v1 import events_pb2 as inventory_events
from shop.pricing.v1 import events_pb2 as pricing_events
from shop_catalog import events
from shop_catalog.main import build
from shop_catalog.settings import CatalogSettings
from shopkit import events as kit_events
from shopkit.auth import metadata_for
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, running

MIGRATIONS = Path(shop_catalog.__file__).parent / "migrations"
ADMIN = metadata_for("admin")
SERVICE = metadata_for("service")
CUSTOMER = metadata_for("customer", customer_id="c-1")
_AUDIT_IDS = itertools.count(10**9)  # audit ids grow as pricing's do
ALL_CHANNELS = (catalog_pb2.CHANNEL_WEB, catalog_pb2.CHANNEL_MOBILE, catalog_pb2.CHANNEL_B2B, catalog_pb2.CHANNEL_POS)


@dataclass
class Catalog:
    runtime: Runtime
    stub: catalog_pb2_grpc.CatalogServiceAsyncStub
    ADMIN = ADMIN
    SERVICE = SERVICE
    CUSTOMER = CUSTOMER
    # How long the search projection may take to show events: the consumers start with the session,
    # and a busy machine slows them.
    WITHIN = 30.0

    @staticmethod
    def unique(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    async def category(self, slug: str, parent_id: str = "", name: str = "") -> catalog_pb2.Category:
        request = catalog_pb2.CreateCategoryRequest(
            category=catalog_pb2.Category(slug=slug, name=name or slug.title(), parent_id=parent_id)
        )
        return await self.stub.CreateCategory(request, metadata=ADMIN)

    @staticmethod
    def product(
        slug: str,
        category_id: str,
        skus: Sequence[str],
        *,
        name: str = "",
        description: str = "",
        brand: str = "",
        attributes: dict[str, str] | None = None,
        variant_attributes: Sequence[dict[str, str]] = (),
        channels: Sequence[catalog_pb2.Channel.ValueType] = ALL_CHANNELS,
        status: catalog_pb2.ProductStatus.ValueType = catalog_pb2.PRODUCT_STATUS_ACTIVE,
    ) -> catalog_pb2.Product:
        return catalog_pb2.Product(
            slug=slug,
            name=name or slug.replace("-", " ").title(),
            description=description,
            brand=brand,
            category_id=category_id,
            attributes=attributes or {},
            channels=channels,
            status=status,
            variants=[
                catalog_pb2.Variant(sku=sku, attributes=variant_attributes[i] if i < len(variant_attributes) else {})
                for i, sku in enumerate(skus)
            ],
        )

    async def create(self, product: catalog_pb2.Product, request_id: str = "") -> catalog_pb2.Product:
        request = catalog_pb2.CreateProductRequest(product=product, request_id=request_id)
        return await self.stub.CreateProduct(request, metadata=ADMIN)

    @staticmethod
    async def publish_price(
        js: JetStreamContext, sku: str, amount: int, currency: str = "EUR", *, audit_id: int = 0, message_id: str = ""
    ) -> Any:
        """Publish pricing's price_changed for a SKU's base price, as pricing's relay would."""
        await kit_events.ensure_stream(js, kit_events.stream_config("pricing"))
        event = pricing_events.PriceChanged(
            sku=sku,
            new_price=common_pb2.Money(amount=amount, currency=currency),
            cause=pricing_events.PRICE_CHANGE_CAUSE_BASE_PRICE_SET,
            audit_id=audit_id or next(_AUDIT_IDS),
        )
        headers = {"Nats-Msg-Id": message_id or str(uuid.uuid4())}
        return await js.publish(events.PRICE_CHANGED, event.SerializeToString(), headers=headers)

    @staticmethod
    async def publish_stock(js: JetStreamContext, sku: str, total_available: int) -> Any:
        """Publish inventory's stock_level_changed for a SKU, as inventory's relay would."""
        await kit_events.ensure_stream(js, kit_events.stream_config("inventory"))
        event = inventory_events.StockLevelChanged(sku=sku, location_id="wh-1", total_available=total_available)
        event.meta.occurred_at.GetCurrentTime()
        headers = {"Nats-Msg-Id": str(uuid.uuid4())}
        return await js.publish(events.STOCK_LEVEL_CHANGED, event.SerializeToString(), headers=headers)


@pytest.fixture(scope="session")
def catalog_database_url(postgres: Postgres) -> str:
    # A plain fixture: alembic runs its own event loop.
    return postgres.migrated_database(MIGRATIONS, prefix="catalog")


@pytest.fixture(scope="session")
async def catalog_runtime(catalog_database_url: str, nats_url: str) -> AsyncIterator[Runtime]:
    settings = CatalogSettings(
        database_url=catalog_database_url,
        nats_url=nats_url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        log_format="text",
        import_chunk_size=500,
        outbox_poll_interval_seconds=0.05,
        # No search backfill here: no pricing or inventory runs beside this catalog (its tests build one).
        pricing_addr="",
        inventory_addr="",
    )
    async with running(build, settings) as runtime:
        yield runtime


@pytest.fixture(scope="session")
async def catalog(catalog_runtime: Runtime) -> AsyncIterator[Catalog]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{catalog_runtime.service.port}") as channel:
        yield Catalog(catalog_runtime, catalog_pb2_grpc.CatalogServiceStub(channel))


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    """The test's own NATS connection (closed, not drained, afterwards)."""
    nc = await kit_events.connect(nats_url, "catalog-test")
    try:
        yield nc.jetstream()
    finally:
        await nc.close()
