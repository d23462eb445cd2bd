"""Callers of PlaceOrder waiting for their checkout to settle (complete, fail or be held).

A saga running in this process hands each version it writes to the waiters of its checkout: they
read nothing and wake once, when it settles. A saga running elsewhere (another replica, or none yet)
is polled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from shop_checkout.domain.model import ACTIVE, Checkout
from shopkit.waits import wait_event

POLL_SECONDS = 0.25  # a checkout whose saga runs elsewhere


class _Watch:
    """The callers waiting for one checkout, and the latest version its saga wrote here."""

    def __init__(self) -> None:
        self.latest: Checkout | None = None
        self.changed = asyncio.Event()
        self.waiters = 0


class Waiters:
    def __init__(self, read: Callable[[str], Awaitable[Checkout | None]], runs_here: Callable[[str], bool]):
        self._read = read
        self._runs_here = runs_here
        self._watches: dict[str, _Watch] = {}

    async def settled(self, checkout_id: str, seconds: float) -> Checkout:
        """The checkout once it completed, failed or is held, or as it is after `seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        watch = self._watches.setdefault(checkout_id, _Watch())
        watch.waiters += 1
        try:
            while (remaining := deadline - loop.time()) > 0:
                watch.changed.clear()
                latest = watch.latest
                if latest is not None and latest.status not in ACTIVE:
                    return latest
                if not self._runs_here(checkout_id):
                    current = await self._checkout(checkout_id)
                    if current.status not in ACTIVE:
                        return current
                    remaining = min(remaining, POLL_SECONDS)
                await wait_event(watch.changed, remaining)
            return await self._checkout(checkout_id)
        finally:
            watch.waiters -= 1
            if not watch.waiters:
                del self._watches[checkout_id]

    def announce(self, checkout_id: str, checkout: Checkout | None) -> None:
        """Wake the waiters of a checkout: with its new version, or (None) to have them read it."""
        watch = self._watches.get(checkout_id)
        if watch is not None:
            watch.latest = checkout
            watch.changed.set()

    async def _checkout(self, checkout_id: str) -> Checkout:
        current = await self._read(checkout_id)
        assert current is not None  # waiters wait for checkouts that exist
        return current
