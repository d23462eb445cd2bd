"""shopkit.waits: a loop's bounded wait for its event."""

from __future__ import annotations

import asyncio

import pytest

from shopkit.waits import wait_event


async def test_wait_event_says_whether_the_event_came_in_time() -> None:
    event = asyncio.Event()
    assert not await wait_event(event, 0.01)
    asyncio.get_running_loop().call_soon(event.set)
    assert await wait_event(event, 60)


async def test_a_stop_that_comes_as_the_event_is_set_is_not_swallowed() -> None:
    """The stop of a worker woken at the same moment: Python 3.11's wait_for returned the event's result."""
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_event(event, 60))
    for _ in range(5):  # until the task waits on the event (wait_for would wait in a task of its own)
        await asyncio.sleep(0)
    event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert waiting.cancelled()
