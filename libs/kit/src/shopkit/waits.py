"""Bounded waits of long-running loops: a worker's nap until it is woken, or its poll comes round."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, `seconds` at most; whether it is set."""
    # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that arrives as
    # the event is set, and the loop waiting here would then outlive its service's stop.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
