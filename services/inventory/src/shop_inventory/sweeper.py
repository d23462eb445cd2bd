"""Background worker that expires overdue reservations and returns their stock.

Every replica runs one; batches are claimed with FOR UPDATE SKIP LOCKED, so replicas share the
work without waiting for each other and no reservation is expired twice.
"""

from __future__ import annotations

import asyncio
import logging

from shop_inventory.operations import Inventory

log = logging.getLogger("shop_inventory.sweeper")


class ReservationSweeper:
    def __init__(self, inventory: Inventory, *, batch_size: int, interval: float):
        self.inventory = inventory
        self.batch_size = batch_size
        self.interval = interval

    async def run(self) -> None:
        while True:
            try:
                expired = await self.inventory.expire_due(self.batch_size)
            except Exception:
                log.exception("reservation sweep failed; retrying")
                expired = 0
            if expired:
                log.info("expired reservations", extra={"count": expired})
            if expired < self.batch_size:
                await asyncio.sleep(self.interval)
