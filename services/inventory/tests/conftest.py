"""Shared fixture of the inventory tests: the service running on a fresh database, reached over gRPC."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop_inventory import store
from shop_inventory.main import build
from shop_inventory.settings import InventorySettings
from shopkit.auth import metadata_for
from shopkit.errors import RpcErrorInfo, parse_rpc_error
from shopkit.runtime import Runtime
from shopkit.testing import Postgres, running

MIGRATIONS = Path(store.__file__).parent / "migrations"
ADMIN = metadata_for("admin")
SERVICE = metadata_for("service")  # the checkout saga reserves as `service`


@dataclass
class Inventory:
    """The running service, its stub, and helpers that keep tests short."""

    runtime: Runtime
    stub: inventory_pb2_grpc.InventoryServiceAsyncStub
    settings: InventorySettings

    @staticmethod
    async def fails(call: Any) -> RpcErrorInfo:
        """Await a call that must fail; its decoded error."""
        try:
            await call
        except grpc.aio.AioRpcError as error:
            return parse_rpc_error(error)
        raise AssertionError("the call succeeded")

    @staticmethod
    def sku() -> str:
        return f"SKU-{uuid.uuid4().hex[:12]}"

    async def location(
        self,
        kind: str = "wh",
        *,
        priority: int = 100,
        country: str = "DE",
        click_and_collect: bool = False,
        active: bool = True,
    ) -> str:
        location_type = inventory_pb2.LOCATION_TYPE_WAREHOUSE if kind == "wh" else inventory_pb2.LOCATION_TYPE_STORE
        location_id = f"{kind}-{uuid.uuid4().hex[:10]}"
        await self.stub.CreateLocation(
            inventory_pb2.CreateLocationRequest(
                location=inventory_pb2.Location(
                    location_id=location_id,
                    type=location_type,
                    name=f"Location {location_id}",
                    country=country,
                    priority=priority,
                    click_and_collect=click_and_collect,
                    active=active,
                )
            ),
            metadata=ADMIN,
        )
        return location_id

    async def stock(self, sku: str, quantities: Mapping[str, int]) -> None:
        await self.stub.SetStock(
            inventory_pb2.SetStockRequest(
                entries=[
                    inventory_pb2.SetStockEntry(sku=sku, location_id=location_id, on_hand=on_hand)
                    for location_id, on_hand in quantities.items()
                ]
            ),
            metadata=ADMIN,
        )

    async def reserve(
        self,
        reservation_id: str,
        lines: Mapping[str, int],
        *,
        store_id: str = "",
        allow_split: bool = False,
        ttl_seconds: int = 0,
        country: str = "",
    ) -> inventory_pb2.Reservation:
        request = inventory_pb2.ReserveRequest(
            reservation_id=reservation_id,
            allow_split=allow_split,
            lines=[inventory_pb2.ReservationLine(sku=sku, quantity=q) for sku, q in lines.items()],
        )
        if store_id:
            request.pickup.store_id = store_id
        else:
            request.ship.country = country
        if ttl_seconds:
            request.ttl.seconds = ttl_seconds
        return (await self.stub.Reserve(request, metadata=SERVICE)).reservation

    async def levels(self, sku: str) -> dict[str, tuple[int, int]]:
        """(on_hand, reserved) per location, read from the database."""
        async with self.runtime.db.connect() as conn:
            rows = await conn.execute(
                sa.select(store.stock.c.location_id, store.stock.c.on_hand, store.stock.c.reserved).where(
                    store.stock.c.sku == sku
                )
            )
            return {row.location_id: (row.on_hand, row.reserved) for row in rows}

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.runtime.db.transaction() as conn:
            result = await conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []

    async def outbox_payloads(self, subject: str) -> list[bytes]:
        rows = await self.sql("SELECT payload FROM outbox WHERE subject = :s ORDER BY seq", s=subject)
        return [bytes(row.payload) for row in rows]


@pytest.fixture(scope="module")
def inventory_url(postgres: Postgres) -> str:
    return postgres.migrated_database(MIGRATIONS, prefix="inventory")


@pytest.fixture(scope="module")
async def inventory(inventory_url: str, nats_url: str) -> AsyncIterator[Inventory]:
    settings = InventorySettings(
        database_url=inventory_url,
        nats_url=nats_url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        log_format="text",
        sweeper_interval_seconds=0.1,
        db_pool_size=20,
        default_low_stock_threshold=5,
    )
    async with running(build, settings) as runtime:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.service.port}")
        yield Inventory(runtime, inventory_pb2_grpc.InventoryServiceStub(channel), settings)
        await channel.close(grace=None)
