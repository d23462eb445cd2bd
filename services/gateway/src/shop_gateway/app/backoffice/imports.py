"""Bulk product imports: a JSONL upload the gateway hands to the catalog's importer in batches, with its
progress and a report of every line.

Why batches: the catalog's ImportProducts answers one summary at the end of its stream. One call per batch
of lines (each its own stream, its line numbers shifted back to the upload's) gives progress as lines are
applied, and every failed line's errors (a summary lists at most the catalog's IMPORT_MAX_REPORTED_ERRORS).
The importer upserts by slug and a line it already applied changes nothing, so a batch that failed can be
sent again; two lines of one upload with the same slug in different batches: the later one wins.

Where the state lives: in this gateway replica's memory (the catalog has no import resource, and this
part adds no catalog storage). An import is read back from the replica that took it (the answer's
Location; behind a load balancer, sticky routing or a single back-office replica); the last
`RETAINED` imports are kept; an import running when the replica stops ends there, and the same upload
again finishes it (lines applied before change nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shopkit.errors import FieldViolation

log = logging.getLogger("shop_gateway.imports")

RETAINED = 100  # imports kept for reading back, the oldest finished dropped first
MAX_RUNNING = 4  # imports one replica runs at once: each holds its upload in memory
BATCH_LINES = 200  # lines per ImportProducts call (below the catalog's error-report cap)
BATCH_BYTES = 1024 * 1024  # and at most this much text per call (within gRPC's message size)


@dataclass
class LineFailure:
    line: int
    slug: str
    message: str
    errors: list[FieldViolation] = field(default_factory=list)


@dataclass
class ProductImport:
    import_id: str
    started_by: str
    lines_total: int
    status: str = "running"  # running, done or failed (the catalog could not be reached: `error`)
    lines_done: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    error: str = ""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    blank: set[int] = field(default_factory=set)
    failures: dict[int, LineFailure] = field(default_factory=dict)

    def line_status(self, line: int) -> str:
        """ok, failed, blank, or pending (not applied yet, or never: the import failed before it)."""
        if line in self.failures:
            return "failed"
        if line in self.blank:
            return "blank"
        return "ok" if line <= self.lines_done else "pending"


Batch = list[str]
ApplyBatch = Callable[[Batch, int, ProductImport], Coroutine[Any, Any, None]]  # lines, offset, the import


@dataclass
class ProductImports:
    """The imports of this replica, and the tasks that run them."""

    imports: dict[str, ProductImport] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def running(self) -> int:
        return sum(1 for item in self.imports.values() if item.status == "running")

    def get(self, import_id: str) -> ProductImport | None:
        return self.imports.get(import_id)

    def start(self, started_by: str, lines: list[str], apply: ApplyBatch) -> ProductImport:
        job = ProductImport(str(uuid.uuid4()), started_by, len(lines))
        self.imports[job.import_id] = job
        self._forget_old()
        task = asyncio.create_task(self._run(job, lines, apply), name=f"product-import-{job.import_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return job

    async def _run(self, job: ProductImport, lines: list[str], apply: ApplyBatch) -> None:
        try:
            for offset, batch in _batches(lines):
                await apply(batch, offset, job)
                job.lines_done = offset + len(batch)
            job.status = "done"
        except Exception as error:  # the catalog stayed unreachable past the channel's retries, or refused
            log.warning("product import failed", extra={"import_id": job.import_id, "error": str(error)})
            job.status, job.error = "failed", getattr(error, "message", None) or str(error) or type(error).__name__
        finally:
            job.finished_at = datetime.now(UTC)

    def _forget_old(self) -> None:
        finished = sorted(
            (item for item in self.imports.values() if item.status != "running"), key=lambda item: item.started_at
        )
        for item in finished[: max(0, len(self.imports) - RETAINED)]:
            del self.imports[item.import_id]

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _batches(lines: list[str]) -> Iterator[tuple[int, Batch]]:
    """(offset, lines) of at most BATCH_LINES lines and BATCH_BYTES of text."""
    start, size = 0, 0
    for index, line in enumerate(lines):
        if index > start and (index - start >= BATCH_LINES or size + len(line) > BATCH_BYTES):
            yield start, lines[start:index]
            start, size = index, 0
        size += len(line)
    if start < len(lines):
        yield start, lines[start:]
