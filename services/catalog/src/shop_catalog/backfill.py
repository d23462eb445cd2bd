"""The search projection's backfill: pages through pricing's base prices (ListBasePrices) and
inventory's stock totals (ListStockTotals) and writes them into the projection as reads
(`projection.set_prices`/`set_stock` with `read=True`, which order a read against the events by the
audit id or stock version both carry), refreshing the products of each page in the page's transaction.

Why: the projection follows events, and a catalog that was not listening (deployed after the prices
and stock were set, a consumer that lagged past the streams' retention, a new database) never learns
what did not change since. Runs are numbered in the one row of `search_backfill`:

- `requested`: the newest run asked for. The migration asks for the first, so a catalog that never
  ran one runs it when it starts; `request` (RebuildSearchProjection) asks for another;
- `started`: the run under way, with how far it got (each phase's next page token, and whether it is
  done), written in the transaction of each page: a replica that dies mid-run leaves a run that the
  next one resumes at its next page;
- `completed`: the newest run that finished (replicas that start later see it and do nothing).

One replica runs at a time: the runner holds a session-level advisory lock while it works (released
when its connection ends, even on a crash); the others find it taken and look again later.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from shop_catalog import projection
from shop_catalog.settings import CatalogSettings
from shopkit import tls
from shopkit.auth import metadata_for
from shopkit.clients import make_channel
from shopkit.db import Database
from shopkit.waits import wait_event

log = logging.getLogger("shop_catalog.backfill")

SERVICE = metadata_for("service")
# After a failed attempt (a peer not up yet when the stack starts, say), the next one comes this soon.
RETRY_SECONDS = 5.0
# The advisory lock of the runner: a fixed number of this purpose's own.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"shop_catalog.search_backfill").digest()[:8], "big", signed=True)

state_table = sa.Table(
    "search_backfill",
    projection.metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True),
    sa.Column("requested", sa.BigInteger, nullable=False),
    sa.Column("started", sa.BigInteger, nullable=False),
    sa.Column("completed", sa.BigInteger, nullable=False),
    sa.Column("prices_token", sa.Text, nullable=False),
    sa.Column("prices_done", sa.Boolean, nullable=False),
    sa.Column("stock_token", sa.Text, nullable=False),
    sa.Column("stock_done", sa.Boolean, nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
_ROW = state_table.c.id == 1


@dataclass(frozen=True)
class BackfillState:
    requested: int
    started: int
    completed: int
    prices_token: str
    prices_done: bool
    stock_token: str
    stock_done: bool
    completed_at: datetime | None

    @property
    def running(self) -> bool:
        return self.started > self.completed

    @property
    def pending(self) -> bool:
        return self.requested > self.completed


def _state(row: Any) -> BackfillState:
    return BackfillState(
        row.requested,
        row.started,
        row.completed,
        row.prices_token,
        row.prices_done,
        row.stock_token,
        row.stock_done,
        row.completed_at,
    )


# A page read from an owner: the rows to write, their SKUs, the next page's token ("" after the last).
Page = tuple[list[tuple[Any, ...]], list[str], str]
Write = Callable[[AsyncConnection, list[tuple[Any, ...]]], Awaitable[None]]


class Backfill:
    def __init__(
        self,
        db: Database,
        pricing: pricing_pb2_grpc.PricingServiceAsyncStub,
        inventory: inventory_pb2_grpc.InventoryServiceAsyncStub,
        *,
        page_size: int = 500,
        call_timeout: float = 10.0,
    ):
        self.db = db
        self.pricing = pricing
        self.inventory = inventory
        self.page_size = page_size
        self.call_timeout = call_timeout
        self._wake = asyncio.Event()

    async def state(self) -> BackfillState:
        async with self.db.connect() as conn:
            return _state((await conn.execute(sa.select(state_table).where(_ROW))).one())

    async def request(self) -> BackfillState:
        """Ask for a run. Idempotent: while one is pending nothing is added; while one runs, one more
        is queued (the running one may have passed what the caller wants to see again)."""
        async with self.db.transaction() as conn:
            row = (
                await conn.execute(
                    state_table.update()
                    .where(_ROW)
                    .values(
                        requested=sa.func.greatest(state_table.c.requested, state_table.c.started + 1),
                        updated_at=sa.func.now(),
                    )
                    .returning(*state_table.c)
                )
            ).one()
        self._wake.set()
        return _state(row)

    async def run_pending(self) -> bool:
        """Run what is asked for, if this replica gets the lock (False when another one holds it)."""
        async with self.db.connect() as lock:
            if not (await lock.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY)))).scalar_one():
                return False
            try:
                while (state := await self.state()).pending:
                    if not state.running:
                        state = await self._start()
                    await self._run(state)
            finally:
                await lock.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
        return True

    async def run_forever(self, poll_seconds: float) -> None:
        """The worker: runs what is pending now, then whenever asked here, or every `poll_seconds`
        (what other replicas were asked for, or a run a dead replica left)."""
        while True:
            wait = poll_seconds
            try:
                await self.run_pending()
            except Exception:  # a peer down, the database restarting: the run resumes at its page
                log.warning("search projection backfill interrupted; it resumes", exc_info=True)
                wait = min(poll_seconds, RETRY_SECONDS)
            await wait_event(self._wake, wait)
            self._wake.clear()

    async def _start(self) -> BackfillState:
        async with self.db.transaction() as conn:
            row = (
                await conn.execute(
                    state_table.update()
                    .where(_ROW)
                    .values(
                        started=state_table.c.requested,
                        prices_token="",
                        prices_done=False,
                        stock_token="",
                        stock_done=False,
                        updated_at=sa.func.now(),
                    )
                    .returning(*state_table.c)
                )
            ).one()
        log.info("search projection backfill started", extra={"run": row.started})
        return _state(row)

    async def _run(self, state: BackfillState) -> None:
        run = state.started
        if not state.prices_done:
            await self._pages(run, "prices", state.prices_token, self._price_page, _write_prices)
        if not state.stock_done:
            await self._pages(run, "stock", state.stock_token, self._stock_page, _write_stock)
        async with self.db.transaction() as conn:
            await conn.execute(
                state_table.update()
                .where(_ROW, state_table.c.started == run)
                .values(completed=run, completed_at=sa.func.now(), updated_at=sa.func.now())
            )
        log.info("search projection backfill completed", extra={"run": run})

    async def _pages(
        self, run: int, phase: str, token: str, read: Callable[[str], Awaitable[Page]], write: Write
    ) -> None:
        """Page through one owner from `token`; each page, its products' refresh and the next token
        are one transaction."""
        while True:
            rows, skus, token = await read(token)
            async with self.db.transaction() as conn:
                await write(conn, rows)
                await projection.refresh_skus(conn, skus)
                await conn.execute(
                    state_table.update()
                    .where(_ROW, state_table.c.started == run)
                    .values({f"{phase}_token": token, f"{phase}_done": not token, "updated_at": sa.func.now()})
                )
            if not token:
                return

    def _page(self, token: str) -> common_pb2.PageRequest:
        return common_pb2.PageRequest(page_size=self.page_size, page_token=token)

    async def _price_page(self, token: str) -> Page:
        response = await self.pricing.ListBasePrices(
            pricing_pb2.ListBasePricesRequest(page=self._page(token)), metadata=SERVICE, timeout=self.call_timeout
        )
        rows: list[tuple[Any, ...]] = [(p.sku, p.price.currency, p.price.amount, p.audit_id) for p in response.prices]
        return rows, [p.sku for p in response.prices], response.page.next_page_token

    async def _stock_page(self, token: str) -> Page:
        response = await self.inventory.ListStockTotals(
            inventory_pb2.ListStockTotalsRequest(page=self._page(token)), metadata=SERVICE, timeout=self.call_timeout
        )
        now = datetime.now(UTC)
        rows: list[tuple[Any, ...]] = [(t.sku, t.total_available, now, t.stock_version) for t in response.totals]
        return rows, [t.sku for t in response.totals], response.page.next_page_token


async def _write_prices(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    await projection.set_prices(conn, rows, read=True)


async def _write_stock(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    await projection.set_stock(conn, rows, read=True)


@dataclass
class BackfillWiring:
    backfill: Backfill
    channels: list[grpc.aio.Channel]

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close(grace=None)


def from_settings(db: Database, settings: CatalogSettings) -> BackfillWiring | None:
    """The backfill with its channels to pricing and inventory; None when either address is empty
    (a catalog without those peers keeps only what events bring)."""
    if not settings.pricing_addr or not settings.inventory_addr:
        return None
    identity = tls.from_settings(settings)
    timeout = settings.search_backfill_call_timeout_seconds
    pricing = make_channel(
        settings.pricing_addr, [pricing_pb2.DESCRIPTOR.services_by_name["PricingService"]], timeout, tls=identity
    )
    inventory = make_channel(
        settings.inventory_addr, [inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"]], timeout, tls=identity
    )
    backfill = Backfill(
        db,
        pricing_pb2_grpc.PricingServiceStub(pricing),
        inventory_pb2_grpc.InventoryServiceStub(inventory),
        page_size=settings.search_backfill_page_size,
        call_timeout=timeout,
    )
    return BackfillWiring(backfill, [pricing, inventory])
