"""What the chaos suite reads where each fact lives: the services' databases (as the embedded server's
superuser, over its unix socket) and JetStream's monitoring endpoint. It only reads."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from shop_devstack.seed import read_backlog

# The databases with an outbox (the sandbox has none: it publishes no events).
OUTBOX_DATABASES = ("catalog", "pricing", "cart", "checkout", "inventory", "order", "fraud")
DLQ_STREAM = "SHOP_DLQ"
LIVE_CHECKOUT = ("running", "compensating", "pending_review", "pending_approval", "action_required")
ACTIVE_CHECKOUT = ("running", "compensating")
LIVE_AUTHORISATION = ("authorized", "captured")  # money held or taken (not declined, failed or voided)

Place = tuple[str, str]  # (sku, location)

STOCK = """
WITH moved AS (
    SELECT a.sku, a.location_id,
           sum(a.quantity) FILTER (WHERE r.status = 'committed') AS committed,
           sum(a.quantity) FILTER (WHERE r.status = 'active') AS active
    FROM reservation_allocations a JOIN reservations r ON r.id = a.reservation_id
    GROUP BY a.sku, a.location_id
), adjusted AS (
    SELECT line->>'sku' AS sku, line->>'location_id' AS location_id, sum((line->>'quantity')::bigint) AS units
    FROM stock_adjustments, jsonb_array_elements(lines) AS line
    GROUP BY 1, 2
)
SELECT s.sku, s.location_id, s.on_hand, s.reserved,
       coalesce(m.committed, 0) AS committed, coalesce(m.active, 0) AS active, coalesce(j.units, 0) AS adjusted
FROM stock s LEFT JOIN moved m USING (sku, location_id) LEFT JOIN adjusted j USING (sku, location_id)
"""


@dataclass(frozen=True)
class Stock:
    on_hand: int
    reserved: int
    committed: int  # units of committed reservations: gone out with orders
    active: int  # units of active reservations
    # Units added (or taken) by keyed adjustments and restocks, e.g. a cancelled order's committed units
    # put back on the shelf (its reservation stays committed).
    adjusted: int = 0

    @property
    def conserved(self) -> int:
        """What no checkout changes: units on hand plus units that left with a committed reservation, less
        what adjustments and restocks added."""
        return self.on_hand + self.committed - self.adjusted


@dataclass(frozen=True)
class Before:
    started_at: datetime  # the server's clock when the run started
    stock: dict[Place, Stock]


@dataclass
class After:
    """The run's rows, read once everything settled."""

    checkouts: list[dict[str, Any]] = field(default_factory=list)  # the run's (by key prefix)
    live_checkouts: set[str] = field(default_factory=set)  # every live checkout's id (reservation ids)
    orders: list[dict[str, Any]] = field(default_factory=list)  # the run's checkouts' orders and newer ones
    existing_orders: set[str] = field(default_factory=set)  # of the ids the buyers were shown
    authorisations: list[dict[str, Any]] = field(default_factory=list)  # made since the start
    stock: dict[Place, Stock] = field(default_factory=dict)
    active_reservations: list[str] = field(default_factory=list)
    unpublished: dict[str, int] = field(default_factory=dict)  # database -> outbox rows not yet published
    pending_effects: int = 0  # the order service's payment effects still to do
    dead_letters: int | None = None  # None: NATS monitoring did not answer


def socket_dir(data_dir: Path) -> str:
    """The embedded server's unix socket folder (line 5 of postmaster.pid)."""
    return (data_dir / "pg" / "postmaster.pid").read_text().splitlines()[4]


class Facts:
    def __init__(self, data_dir: Path, nats_monitor_url: str):
        self.data_dir = data_dir
        self.nats_monitor_url = nats_monitor_url

    @asynccontextmanager
    async def database(self, name: str) -> AsyncIterator[Any]:
        conn = await asyncpg.connect(host=socket_dir(self.data_dir), user="postgres", database=name, timeout=15)
        try:
            yield conn
        finally:
            await conn.close()

    async def before(self) -> Before:
        async with self.database("inventory") as conn:
            # The seed's writes on disk first: a kill of PostgreSQL then recovers the run's writes, as a
            # server that has been up a while would, not the whole seed's.
            await conn.execute("CHECKPOINT")
            started_at = await conn.fetchval("SELECT now()")
            return Before(started_at, await _stock(conn))

    async def unsettled(self, key_prefix: str) -> dict[str, int]:
        """What still moves: the run's sagas, outbox rows, order effects, messages for the consumers."""
        left: dict[str, int] = {}
        async with self.database("checkout") as conn:
            left["sagas running"] = await conn.fetchval(
                "SELECT count(*) FROM checkouts WHERE idempotency_key LIKE $1 AND status = ANY($2)",
                f"{key_prefix}%",
                list(ACTIVE_CHECKOUT),
            )
        left["outbox rows"] = sum((await self._unpublished()).values())
        async with self.database("order") as conn:
            left["order effects"] = await conn.fetchval("SELECT count(*) FROM order_effects WHERE status = 'pending'")
        backlog = read_backlog(self.nats_monitor_url, limit=5.0)
        left["messages pending"] = backlog.total if backlog is not None else -1
        return {what: count for what, count in left.items() if count}

    async def after(self, before: Before, key_prefix: str, orders_shown: set[str]) -> After:
        found = After()
        async with self.database("checkout") as conn:
            found.checkouts = await _dicts(
                conn,
                "SELECT id::text, customer_key, idempotency_key, status, step, order_id, total_amount, "
                "state->'failure' AS failure FROM checkouts WHERE idempotency_key LIKE $1",
                f"{key_prefix}%",
            )
            rows = await conn.fetch("SELECT id::text FROM checkouts WHERE status = ANY($1)", list(LIVE_CHECKOUT))
            found.live_checkouts = {row["id"] for row in rows}
        run_ids = [c["id"] for c in found.checkouts]
        async with self.database("order") as conn:
            found.orders = await _dicts(
                conn,
                "SELECT id::text, checkout_id, status, payment_status, payment_kind, authorisation_id, total, "
                "captured_amount FROM orders WHERE checkout_id = ANY($1) OR created_at >= $2",
                run_ids,
                before.started_at,
            )
            shown = await conn.fetch("SELECT id::text FROM orders WHERE id::text = ANY($1)", sorted(orders_shown))
            found.existing_orders = {row["id"] for row in shown}
            found.pending_effects = await conn.fetchval("SELECT count(*) FROM order_effects WHERE status = 'pending'")
        async with self.database("sandbox") as conn:
            found.authorisations = await _dicts(
                conn,
                "SELECT id, status, amount, amount_captured, metadata->>'checkout_id' AS checkout_id "
                "FROM authorizations WHERE created_at >= $1",
                before.started_at,
            )
        async with self.database("inventory") as conn:
            found.stock = await _stock(conn)
            rows = await conn.fetch("SELECT id FROM reservations WHERE status = 'active'")
            found.active_reservations = [row["id"] for row in rows]
        found.unpublished = await self._unpublished()
        found.dead_letters = self.dead_letters()
        return found

    async def _unpublished(self) -> dict[str, int]:
        counts = {}
        for name in OUTBOX_DATABASES:
            async with self.database(name) as conn:
                counts[name] = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return counts

    def dead_letters(self) -> int | None:
        """Messages in the dead-letter stream; None when NATS monitoring does not answer."""
        try:
            with urllib.request.urlopen(f"{self.nats_monitor_url}/jsz?streams=true", timeout=5) as response:
                report = json.load(response)
        except (OSError, ValueError):
            return None
        for account in report.get("account_details") or []:
            for stream in account.get("stream_detail") or []:
                if stream.get("name") == DLQ_STREAM:
                    return int((stream.get("state") or {}).get("messages", 0))
        return 0  # no dead-letter stream: nothing was ever dead-lettered


async def _stock(conn: Any) -> dict[Place, Stock]:
    return {
        (row["sku"], row["location_id"]): Stock(
            *(int(row[name]) for name in ("on_hand", "reserved", "committed", "active", "adjusted"))
        )
        for row in await conn.fetch(STOCK)
    }


async def _dicts(conn: Any, query: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in await conn.fetch(query, *args)]
