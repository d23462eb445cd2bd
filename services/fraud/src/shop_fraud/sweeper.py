"""Background worker that deletes velocity observations past the longest window and orders past the
history period. Every replica may run one: batches are claimed with SKIP LOCKED."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from shop_fraud import store
from shop_fraud.operations import Clock
from shopkit.db import Database

log = logging.getLogger("shop_fraud.sweeper")


class RetentionSweeper:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        observation_retention: timedelta,
        history_retention: timedelta,
        batch_size: int,
        interval: float,
    ):
        self.db = db
        self.clock = clock
        self.observation_retention = observation_retention
        self.history_retention = history_retention
        self.batch_size = batch_size
        self.interval = interval

    async def sweep_once(self) -> int:
        """One batch from each table; returns how many rows went."""
        now = self.clock()
        deleted = 0
        async with self.db.transaction() as conn:
            deleted += await store.sweep(
                conn, store.observations, "at", now - self.observation_retention, self.batch_size
            )
        async with self.db.transaction() as conn:
            deleted += await store.sweep(
                conn, store.customer_orders, "placed_at", now - self.history_retention, self.batch_size
            )
        return deleted

    async def run(self) -> None:
        while True:
            try:
                deleted = await self.sweep_once()
            except Exception:
                log.exception("retention sweep failed; retrying")
                deleted = 0
            if deleted:
                log.info("swept expired counters", extra={"count": deleted})
            if deleted < self.batch_size:
                await asyncio.sleep(self.interval)
