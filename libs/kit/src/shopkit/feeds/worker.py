"""The feed worker: every replica of a service that takes feeds runs one. It claims a queued feed
(or a running one whose lease ran out), and applies it in batches, each ONE transaction with its
line outcomes and counts, written only while it holds the lease and `lines_done` is what it read."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shopkit.db import Database
from shopkit.feeds.tables import (
    APPLIED,
    DONE,
    FAILED,
    LINE_FAILED,
    QUEUED,
    RUNNING,
    SKIPPED,
    UNCHANGED,
    FeedTables,
    Outcome,
)
from shopkit.waits import wait_event

log = logging.getLogger("shopkit.feeds")
RETENTION_SWEEP_SECONDS = 3600.0


class LeaseLost(Exception):
    """This worker no longer owns the feed (its lease expired and another worker took it)."""


# A service's batch: (line number, text) pairs, applied on the batch's connection; an outcome per line.
ApplyBatch = Callable[[AsyncConnection, Sequence[tuple[int, str]]], Awaitable[list[Outcome]]]


async def _claim(conn: AsyncConnection, t: FeedTables, worker: str, lease: timedelta) -> Any:
    """The oldest feed that is queued, or running with an expired lease (its worker died)."""
    j = t.jobs
    now = sa.func.now()
    due = sa.or_(j.c.status == QUEUED, sa.and_(j.c.status == RUNNING, j.c.lease_until < now))
    pick = sa.select(j.c.id).where(due).order_by(j.c.started_at).limit(1).with_for_update(skip_locked=True)
    statement = (
        sa.update(j)
        .where(j.c.id == pick.scalar_subquery())
        .values(status=RUNNING, claimed_by=worker, lease_until=now + lease)
        .returning(j)
    )
    return (await conn.execute(statement)).mappings().first()


async def _progress(
    conn: AsyncConnection, t: FeedTables, job: Any, worker: str, done_before: int, values: dict[str, Any]
) -> None:
    j = t.jobs
    statement = (
        sa.update(j)
        .where(j.c.id == job, j.c.claimed_by == worker, j.c.lines_done == done_before, j.c.status == RUNNING)
        .values(**values)
    )
    if (await conn.execute(statement)).rowcount != 1:
        raise LeaseLost(str(job))


class FeedWorker:
    """Claims feeds of one table pair and applies them; `run` is the replica's background loop."""

    def __init__(
        self,
        db: Database,
        tables: FeedTables,
        apply: ApplyBatch,
        *,
        on_commit: Callable[[], None],
        batch_lines: int,
        lease_seconds: float,
        poll_seconds: float,
        retention_days: int,
        name: str = "",
    ):
        self.db, self.t, self.apply, self.on_commit = db, tables, apply, on_commit
        self.id = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.batch_lines = batch_lines
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.retention = timedelta(days=retention_days)
        self.wakeup = asyncio.Event()
        self._swept_at = 0.0

    async def run(self) -> None:
        while True:
            try:
                await self.sweep_if_due()
                busy = await self.run_once()
            except Exception:  # the database is away: look again later (a claimed feed's lease runs out)
                log.exception("feed worker could not claim")
                busy = False
            if not busy:
                self.wakeup.clear()
                await wait_event(self.wakeup, self.poll_seconds)

    async def run_once(self) -> bool:
        """Claim one feed and run it to its end; False when none is due."""
        async with self.db.transaction() as conn:
            job = await _claim(conn, self.t, self.id, self.lease)
        if job is None:
            return False
        await self.process(job)
        return True

    async def process(self, job: Any) -> None:
        """Run a feed this worker claimed (its row) to its end; a stop gives it back."""
        try:
            done = job["lines_done"]
            while (done := await self.step(job["id"], done)) is not None:
                pass
        except LeaseLost:
            log.warning("feed lease lost", extra={"feed": str(job["id"])})
        except asyncio.CancelledError:  # the pod stops: another one continues after the last batch at once
            await asyncio.shield(self._give_back(job["id"]))
            raise
        except Exception as error:  # a line can't break the loop (reported per line): this is the database
            log.exception("feed failed", extra={"feed": str(job["id"])})
            j = self.t.jobs
            values = {"status": FAILED, "error": str(error) or type(error).__name__, "finished_at": sa.func.now()}
            with contextlib.suppress(Exception):
                async with self.db.transaction() as conn:
                    await conn.execute(
                        sa.update(j).where(j.c.id == job["id"], j.c.claimed_by == self.id).values(values)
                    )

    async def _give_back(self, job: uuid.UUID) -> None:
        j = self.t.jobs
        with contextlib.suppress(Exception):
            async with self.db.transaction() as conn:
                mine = sa.and_(j.c.id == job, j.c.claimed_by == self.id, j.c.status == RUNNING)
                await conn.execute(sa.update(j).where(mine).values(status=QUEUED, claimed_by=None, lease_until=None))

    async def step(self, job: uuid.UUID, done: int) -> int | None:
        """Apply the batch after line `done`; the new `lines_done`, or None when the feed is finished."""
        lines = self.t.lines
        async with self.db.transaction() as conn:
            query = (
                sa.select(lines.c.line, lines.c.text)
                .where(lines.c.job_id == job, lines.c.line > done)
                .order_by(lines.c.line)
                .limit(self.batch_lines)
            )
            rows = (await conn.execute(query)).all()
            lease = {"lease_until": sa.func.now() + self.lease}
            if not rows:
                await _progress(conn, self.t, job, self.id, done, {"status": DONE, "finished_at": sa.func.now()})
                return None
            todo = [(r.line, r.text) for r in rows if r.text.strip()]
            applied = dict(zip((n for n, _ in todo), await self.apply(conn, todo), strict=True))
            counts = {APPLIED: 0, UNCHANGED: 0, LINE_FAILED: 0}
            for number, outcome in applied.items():
                counts[outcome.status] = counts.get(outcome.status, 0) + 1
                await conn.execute(
                    sa.update(lines)
                    .where(lines.c.job_id == job, lines.c.line == number)
                    .values(
                        status=outcome.status,
                        key=outcome.key,
                        message=outcome.message,
                        violations=[{"field": f, "description": d} for f, d in outcome.violations],
                    )
                )
            blank = [r.line for r in rows if not r.text.strip()]
            if blank:
                await conn.execute(
                    sa.update(lines).where(lines.c.job_id == job, lines.c.line.in_(blank)).values(status=SKIPPED)
                )
            j = self.t.jobs
            values = {
                "lines_done": rows[-1].line,
                "applied": j.c.applied + counts[APPLIED],
                "unchanged": j.c.unchanged + counts[UNCHANGED],
                "failed": j.c.failed + counts[LINE_FAILED],
                **lease,
            }
            await _progress(conn, self.t, job, self.id, done, values)
        self.on_commit()
        return int(rows[-1].line)

    async def sweep_if_due(self) -> int:
        """Retention: feeds finished more than FEED_RETENTION_DAYS ago are deleted (hourly)."""
        now = asyncio.get_running_loop().time()
        if self._swept_at and now - self._swept_at < RETENTION_SWEEP_SECONDS:
            return 0
        self._swept_at = now
        cutoff = datetime.now(UTC) - self.retention
        async with self.db.transaction() as conn:
            j = self.t.jobs
            result = await conn.execute(sa.delete(j).where(j.c.finished_at < cutoff))
        return int(result.rowcount or 0)
