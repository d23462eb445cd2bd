"""What the mail sender and the webhook sender share: the loop of a queue's sender worker, its
retention in batches, and the keyset pages of the API's lists."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shopkit import pagination
from shopkit.db import Database
from shopkit.errors import Violations
from shopkit.waits import wait_event

log = logging.getLogger("shop_notifications.workers")

Row = dict[str, Any]


async def run_sender(
    db: Database,
    send_due: Callable[[], Awaitable[int]],
    next_due: Callable[[AsyncConnection], Awaitable[datetime | None]],
    wakeup: asyncio.Event,
    *,
    poll: float,
    clock: Callable[[], datetime],
    what: str,
) -> None:
    """A sender worker: rounds while there is work; between them, sleep until woken by new work,
    until the next retry is due, or `poll` seconds at most."""
    while True:
        try:
            while await send_due():
                pass
            async with db.connect() as conn:
                due = await next_due(conn)
        except Exception:
            log.warning("%s round failed; trying again", what, exc_info=True)
            due = None
        pause = poll if due is None else max(0.0, min(poll, (due - clock()).total_seconds()))
        wakeup.clear()
        await wait_event(wakeup, pause)


async def sweep(
    db: Database,
    delete: Callable[[AsyncConnection, timedelta, int], Awaitable[int]],
    retention: timedelta,
    batch: int = 5000,
) -> int:
    """Delete what `delete` finds past `retention`, a batch per transaction; how many."""
    deleted = 0
    while True:
        async with db.transaction() as conn:
            removed = await delete(conn, retention, batch)
        deleted += removed
        if removed < batch:
            return deleted


async def run_retention(
    db: Database,
    delete: Callable[[AsyncConnection, timedelta, int], Awaitable[int]],
    retention: timedelta,
    *,
    what: str,
    every: float = 3600.0,
) -> None:
    """A retention worker: the tables hold what support may ask about, not everything ever sent."""
    while True:
        try:
            if removed := await sweep(db, delete, retention):
                log.info("old %s deleted", what, extra={"deleted": removed})
        except Exception:
            log.warning("%s retention round failed; trying again later", what, exc_info=True)
        await asyncio.sleep(every)


def decode_cursor(token: str, violations: Violations) -> tuple[datetime, uuid.UUID] | None:
    """The (created_at, id) after which a page starts; None for the first page."""
    cursor = pagination.decode_token(token)
    if cursor is None:
        return None
    try:
        at, row_id = cursor.get("t"), cursor.get("id")
        if not isinstance(at, str) or not isinstance(row_id, str):
            raise ValueError("not a cursor")
        after = (datetime.fromisoformat(at), uuid.UUID(row_id))
        if after[0].tzinfo is None:
            raise ValueError("a cursor's time has its offset")
    except ValueError:
        violations.add("page.page_token", "not a token this method gave")
        return None
    return after


def page(rows: list[Row], size: int) -> tuple[list[Row], str]:
    """The first `size` of `size + 1` rows read, and the token of the next page ("" when none)."""
    if len(rows) <= size:
        return rows, ""
    rows = rows[:size]
    last = rows[-1]
    return rows, pagination.encode_token({"t": last["created_at"].isoformat(), "id": str(last["id"])})
