"""The import worker: every catalog replica runs one. It claims a queued import (or one whose lease ran
out: its worker died), applies its lines in batches through the ProductImporter, and records each
batch's line outcomes, counts and `lines_done`.

Why progress is exact after a crash: a batch's products and its progress commit in ONE transaction
(the importer's chunk transaction runs `record_batch` last), so a crash either keeps both or neither,
and the next worker resumes after `lines_done`. A batch the chunk transaction did not cover (every line
failed its checks, or the chunk hit a concurrent writer's constraint and rolled back) is recorded in a
transaction of its own right after; a crash before that record re-applies the batch, which is safe:
the importer upserts by slug and a line equal to the stored product changes nothing, failed lines
wrote nothing, and the record itself is conditional on `lines_done` (recorded once).

Why two workers never apply one import at once: the claim is `FOR UPDATE SKIP LOCKED` and sets a lease;
every record names the owner and the `lines_done` it read, so a worker that lost its lease (paused past
it) writes nothing: its record matches no row, and its batch's product writes roll back with it.
A stop (SIGTERM cancels the worker) gives the import back (queued) for the next worker to continue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shop_catalog import import_store as st
from shop_catalog import store
from shop_catalog.import_store import Counts, LeaseLost, LineOutcome
from shop_catalog.importer import ChunkOutcome, LineError, ProductImporter, parse_line
from shop_catalog.settings import CatalogSettings
from shopkit.db import Database

log = logging.getLogger("shop_catalog.import_worker")
RETENTION_SWEEP_SECONDS = 3600.0


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass
class _Batch:
    """The lines of one batch (number -> status when decided before the importer: blank or refused)."""

    first: int
    last: int
    decided: dict[int, LineOutcome] = field(default_factory=dict)
    recorded: bool = False


class ImportRun:
    """One worker's run of one claimed import: `step` applies the next batch until it says False."""

    def __init__(self, worker: ImportWorker, job: Any):
        self.worker = worker
        self.import_id: uuid.UUID = job["id"]
        self.lines_total: int = job["lines_total"]
        self.lines_done: int = job["lines_done"]
        self._batch: _Batch | None = None
        self._committed = False
        self.importer = ProductImporter(
            worker.db,
            store.outbox,
            chunk_size=worker.batch_lines + 1,  # only `step` flushes: one chunk a batch
            max_errors=sys.maxsize,  # every failure is recorded (errors are cleared after each batch)
            on_commit=self._on_commit,
            on_chunk=self._record_in_chunk,
        )
        self._primed = self.lines_done == 0

    def _on_commit(self) -> None:
        self._committed = True
        self.worker.on_commit()

    async def _prime(self) -> None:
        """Resuming: the lines applied before count for duplicate slugs and SKUs, as in one run."""
        after = 0
        while after < self.lines_done:
            async with self.worker.db.connect() as conn:
                rows = await st.pending_lines(conn, self.import_id, after, self.worker.batch_lines)
            for number, text, status, _ in rows:
                if number > self.lines_done:
                    break
                spec, _, _ = parse_line(text) if status == st.OK else (None, "", [])
                if spec is not None:
                    self.importer.remember(number, spec)
            after = rows[-1][0] if rows else self.lines_done
        self._primed = True

    async def step(self) -> bool:
        """Apply and record the next batch; False when the import is finished."""
        if not self._primed:
            await self._prime()
        async with self.worker.db.connect() as conn:
            rows = await st.pending_lines(conn, self.import_id, self.lines_done, self.worker.batch_lines)
        if not rows:
            async with self.worker.db.transaction() as conn:
                await st.finish(conn, self.import_id, self.worker.id, st.DONE)
            return False
        batch = _Batch(rows[0][0], rows[-1][0])
        self._batch, self._committed = batch, False
        self.importer.tally.errors.clear()
        for number, text, status, message in rows:
            if status == st.LINE_FAILED:  # refused by the uploader (not text, too long)
                batch.decided[number] = LineOutcome(number, st.LINE_FAILED, message=message)
            elif not text.strip():
                batch.decided[number] = LineOutcome(number, st.BLANK)
            else:
                await self.importer.add_line(number, text)
        await self.importer.flush()
        if not (batch.recorded and self._committed):
            async with self.worker.db.transaction() as conn:
                await self._record(conn, ChunkOutcome())
        self.lines_done = batch.last
        return True

    async def _record_in_chunk(self, conn: AsyncConnection, outcome: ChunkOutcome) -> None:
        await self._record(conn, outcome)

    async def _record(self, conn: AsyncConnection, outcome: ChunkOutcome) -> None:
        batch = self._batch
        assert batch is not None
        failures = [*self.importer.tally.errors]
        failures += [LineError(item.number, item.spec.slug, message, v) for item, message, v in outcome.failures]
        outcomes = dict(batch.decided)
        for failure in failures:
            pairs = tuple((v.field, v.description) for v in failure.violations)
            outcomes[failure.line] = LineOutcome(failure.line, st.LINE_FAILED, failure.slug, failure.message, pairs)
        refused = sum(1 for o in batch.decided.values() if o.status == st.LINE_FAILED)
        for number in range(batch.first, batch.last + 1):
            outcomes.setdefault(number, LineOutcome(number, st.OK))
        counts = Counts(outcome.created, outcome.updated, outcome.unchanged, len(failures) + refused)
        await st.record_batch(
            conn,
            self.import_id,
            self.worker.id,
            done_before=self.lines_done,
            outcomes=[outcomes[n] for n in sorted(outcomes)],
            counts=counts,
            lease=self.worker.lease,
        )
        batch.recorded = True


class ImportWorker:
    """Claims imports and runs them, one at a time; `run` is the replica's background loop."""

    def __init__(self, db: Database, settings: CatalogSettings, on_commit: Callable[[], None], *, name: str = ""):
        self.db = db
        self.id = name or worker_id()
        self.on_commit = on_commit
        self.batch_lines = settings.import_batch_lines
        self.lease = timedelta(seconds=settings.import_lease_seconds)
        self.poll_seconds = settings.import_poll_seconds
        self.retention = timedelta(days=settings.import_retention_days)
        self._swept_at = 0.0

    async def claim(self) -> ImportRun | None:
        async with self.db.transaction() as conn:
            job = await st.claim(conn, self.id, self.lease)
        return None if job is None else ImportRun(self, job)

    async def run(self) -> None:
        while True:
            await self.sweep_if_due()
            run = await self.claim()
            if run is None:
                await asyncio.sleep(self.poll_seconds)
                continue
            await self.process(run)

    async def process(self, run: ImportRun) -> None:
        """Run a claimed import to its end; a stop gives it back; a lost lease leaves it to its new owner."""
        log.info("product import claimed", extra={"import_id": str(run.import_id), "lines_done": run.lines_done})
        heartbeat = asyncio.create_task(self._renew(run), name=f"import-lease-{run.import_id}")
        try:
            while await run.step():
                pass
        except LeaseLost:
            log.warning("product import lease lost", extra={"import_id": str(run.import_id)})
        except asyncio.CancelledError:
            await asyncio.shield(self._give_back(run))
            raise
        except Exception as error:  # a line can't break the loop (reported per line): this is the database
            log.exception("product import failed", extra={"import_id": str(run.import_id)})
            if _transient(error):
                await self._give_back(run)
            else:
                await self._fail(run, error)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, LeaseLost):
                await heartbeat

    async def _renew(self, run: ImportRun) -> None:
        """Long batches (a slow database) keep the lease: renewed at a third of its length."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            async with self.db.transaction() as conn:
                await st.renew(conn, run.import_id, self.id, self.lease)

    async def _give_back(self, run: ImportRun) -> None:
        with contextlib.suppress(Exception):
            async with self.db.transaction() as conn:
                await st.release(conn, run.import_id, self.id)

    async def _fail(self, run: ImportRun, error: Exception) -> None:
        async with self.db.transaction() as conn:
            await st.finish(conn, run.import_id, self.id, st.FAILED, str(error) or type(error).__name__)

    async def sweep_if_due(self) -> int:
        """Retention: imports finished more than IMPORT_RETENTION_DAYS ago are deleted (hourly)."""
        now = asyncio.get_running_loop().time()
        if self._swept_at and now - self._swept_at < RETENTION_SWEEP_SECONDS:
            return 0
        self._swept_at = now
        return await self.sweep()

    async def sweep(self) -> int:
        async with self.db.transaction() as conn:
            removed = await st.delete_finished_before(conn, datetime.now(UTC) - self.retention)
        if removed:
            log.info("product imports deleted (retention)", extra={"deleted": removed})
        return removed


def _transient(error: Exception) -> bool:
    """A connection problem: give the import back for a retry instead of failing it."""
    return isinstance(error, OSError | ConnectionError) or "connection" in type(error).__name__.lower()
