"""Background worker that marks carts without activity for the idle TTL ABANDONED.

Every replica runs one; batches are claimed with FOR UPDATE SKIP LOCKED, so replicas share the work
without waiting for each other and no cart is abandoned (or announced) twice. Time comes from the
service's clock, which tests replace.
"""

from __future__ import annotations

import asyncio
import logging

from shop_cart.operations import Carts

log = logging.getLogger("shop_cart.sweeper")


class AbandonedCartSweeper:
    def __init__(self, carts: Carts, *, batch_size: int, interval: float):
        self.carts = carts
        self.batch_size = batch_size
        self.interval = interval

    async def sweep(self) -> int:
        """Abandon every cart that is due now, batch after batch; returns how many."""
        total = 0
        while True:
            count = await self.carts.abandon_idle(self.batch_size)
            total += count
            if count < self.batch_size:
                return total

    async def run(self) -> None:
        while True:
            try:
                count = await self.sweep()
            except Exception:
                log.exception("abandoned-cart sweep failed; retrying")
                count = 0
            if count:
                log.info("abandoned idle carts", extra={"count": count})
            await asyncio.sleep(self.interval)
