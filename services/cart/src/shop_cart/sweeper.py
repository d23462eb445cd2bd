"""Background workers that keep the cart tables tidy: one marks carts without activity for the idle
TTL ABANDONED, one deletes AddCartLine request ids past their retention.

Every replica runs them; batches are claimed with FOR UPDATE SKIP LOCKED, so replicas share the work
without waiting for each other and no cart is abandoned (or announced) twice. Time comes from the
service's clock, which tests replace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("shop_cart.sweeper")


class Sweeper:
    """Runs `step(batch_size)` (which returns how many rows it handled) batch after batch until a
    batch comes back short, then pauses for `interval`."""

    def __init__(self, name: str, step: Callable[[int], Awaitable[int]], *, batch_size: int, interval: float):
        self.name = name
        self.step = step
        self.batch_size = batch_size
        self.interval = interval

    async def sweep(self) -> int:
        """Handle everything that is due now; returns how many rows."""
        total = 0
        while True:
            count = await self.step(self.batch_size)
            total += count
            if count < self.batch_size:
                return total

    async def run(self) -> None:
        while True:
            try:
                count = await self.sweep()
            except Exception:
                log.exception("%s failed; retrying", self.name)
                count = 0
            if count:
                log.info("%s: %d rows", self.name, count, extra={"sweeper": self.name, "count": count})
            await asyncio.sleep(self.interval)
