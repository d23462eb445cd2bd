"""Inbound ERP feeds (inventory's stock feeds, pricing's price-list feeds): the job and line tables,
their worker with a lease, the reading of CSV/JSONL lines, and the RPCs a service mixes in.

A feed is stored whole in one transaction (job row, then its lines, then the digest); a worker
claims it and applies it in batches. Each batch is ONE transaction: the service's changes (its own
operations' rules, versions and outbox events) and the batch's line outcomes and counts, written
only while this worker holds the lease and `lines_done` is what it read. A worker that lost its
lease, or crashed mid-batch, leaves no half batch: the next owner applies the batch once.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import Field
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.common.v1 import feed_pb2
from shopkit import pagination
from shopkit.auth import require_role
from shopkit.db import Database
from shopkit.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound, Violations
from shopkit.settings import ServiceSettings

log = logging.getLogger("shopkit.feeds")
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
APPLIED, UNCHANGED, LINE_FAILED, SKIPPED = "applied", "unchanged", "failed", "skipped"
MAX_FEED_ID = 64
MAX_LINE_CHARS = 4096  # a stock or price line is far shorter: a longer one is reported, not applied
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
RETENTION_SWEEP_SECONDS = 3600.0
STATUS = {
    QUEUED: feed_pb2.FEED_STATUS_QUEUED,
    RUNNING: feed_pb2.FEED_STATUS_RUNNING,
    DONE: feed_pb2.FEED_STATUS_DONE,
    FAILED: feed_pb2.FEED_STATUS_FAILED,
}
LINE_STATUS = {
    None: feed_pb2.FEED_LINE_STATUS_PENDING,
    APPLIED: feed_pb2.FEED_LINE_STATUS_APPLIED,
    UNCHANGED: feed_pb2.FEED_LINE_STATUS_UNCHANGED,
    LINE_FAILED: feed_pb2.FEED_LINE_STATUS_FAILED,
    SKIPPED: feed_pb2.FEED_LINE_STATUS_SKIPPED,
}
Context = grpc.aio.ServicerContext[Any, Any]


class FeedSettings(ServiceSettings):
    """The settings of a service that takes ERP feeds (FEED_*)."""

    feed_worker_enabled: bool = Field(True, description="run the worker that applies stored feeds")
    feed_batch_lines: int = Field(500, ge=1, le=10_000, description="feed lines applied per transaction")
    feed_lease_seconds: float = Field(
        60.0, gt=0, description="a worker's hold on a running feed; a feed whose worker died is taken over after it"
    )
    feed_poll_seconds: float = Field(1.0, gt=0, description="pause of an idle feed worker between looks")
    feed_max_lines: int = Field(100_000, ge=1, description="most lines of one feed")
    feed_retention_days: int = Field(30, ge=1, description="finished feeds (and their line reports) kept this long")


# --- reading uploads (the gateway) ------------------------------------------------------------------


def csv_to_objects(lines: Sequence[str]) -> list[str]:
    """CSV lines (a header row first) as JSON objects keyed by the header, one per line; the header and
    blank lines become "" so that line numbers stay those of the upload. A row with more cells than
    the header keeps them under "" (the service reports it)."""
    if not lines:
        return []
    header = [name.strip() for name in next(csv.reader([lines[0]]))]
    out = [""]
    for text in lines[1:]:
        if not text.strip():
            out.append("")
            continue
        cells = next(csv.reader([text]), [])
        row: dict[str, Any] = {name: cell.strip() for name, cell in zip(header, cells, strict=False) if name}
        if len(cells) > len(header):
            row[""] = cells[len(header) :]
        out.append(json.dumps(row, separators=(",", ":")))
    return out


def read_object(text: str) -> dict[str, Any] | str:
    """A line's JSON object, or why it is none."""
    if len(text) > MAX_LINE_CHARS:
        return f"the line is longer than {MAX_LINE_CHARS} characters"
    try:
        found = json.loads(text)
    except ValueError as error:
        return f"not a JSON object: {error}"
    if not isinstance(found, dict):
        return "not a JSON object"
    if "" in found:
        return "the row has more cells than the header"
    return found


def whole_number(row: dict[str, Any], name: str, violations: Violations, *, required: bool = True) -> int | None:
    """An integer field given as a JSON number or (CSV) as digits."""
    value = row.get(name)
    if value is None or value == "":
        if required:
            violations.add(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        violations.add(name, "must be a whole number")
        return None
    try:
        return int(value)
    except ValueError:
        violations.add(name, "must be a whole number")
        return None


# --- tables and storage -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedTables:
    jobs: sa.Table
    lines: sa.Table


def feed_tables(metadata: sa.MetaData, prefix: str) -> FeedTables:
    """`<prefix>s` (the jobs) and `<prefix>_lines`, e.g. stock_feeds and stock_feed_lines."""
    jobs = sa.Table(
        f"{prefix}s",
        metadata,
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("feed_id", sa.Text, nullable=False),
        sa.Column("body_digest", sa.Text, nullable=False),  # the same feed id with another body is refused
        sa.Column("started_by", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("lines_total", sa.BigInteger, nullable=False),
        sa.Column("lines_done", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("applied", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("unchanged", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("failed", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.Text, nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        # The worker's claim looks for queued feeds and running ones whose lease ran out.
        sa.Index(f"{prefix}s_unfinished_idx", "started_at", postgresql_where=sa.text("finished_at IS NULL")),
        # Names spelled out: the service's naming convention and a migration's bare metadata agree.
        sa.PrimaryKeyConstraint("id", name=f"{prefix}s_pkey"),
        sa.UniqueConstraint("feed_id", name=f"{prefix}s_feed_id_key"),
    )
    lines = sa.Table(
        f"{prefix}_lines",
        metadata,
        sa.Column("job_id", UUID(as_uuid=True), nullable=False),
        sa.Column("line", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=True),
        sa.Column("key", sa.Text, nullable=False, server_default=""),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("violations", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.PrimaryKeyConstraint("job_id", "line", name=f"{prefix}_lines_pkey"),
        sa.ForeignKeyConstraint(["job_id"], [jobs.c.id], name=f"{prefix}_lines_job_id_fkey", ondelete="CASCADE"),
    )
    return FeedTables(jobs, lines)


def create_feed_tables(bind: sa.Connection, prefix: str) -> None:
    """For a service's migration: the tables as `feed_tables` declares them now (a later change of
    them comes with a migration of its own in each service that has feeds)."""
    tables = feed_tables(sa.MetaData(), prefix)
    tables.jobs.create(bind)
    tables.lines.create(bind)


def drop_feed_tables(bind: sa.Connection, prefix: str) -> None:
    tables = feed_tables(sa.MetaData(), prefix)
    tables.lines.drop(bind)
    tables.jobs.drop(bind)


@dataclass(frozen=True)
class Outcome:
    """What one line did: APPLIED, UNCHANGED, LINE_FAILED or SKIPPED."""

    status: str
    key: str = ""
    message: str = ""
    violations: tuple[tuple[str, str], ...] = ()  # (field, description)

    @staticmethod
    def failed(key: str, message: str, violations: Sequence[FieldViolation] = ()) -> Outcome:
        return Outcome(LINE_FAILED, key, message, tuple((v.field, v.description) for v in violations))


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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), self.poll_seconds)

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


# --- the RPCs --------------------------------------------------------------------------------------


class FeedRpcs:
    """Start, Get and ListLines of one kind of feed; a service's servicer delegates to it."""

    def __init__(self, db: Database, tables: FeedTables, *, noun: str, max_lines: int, worker: FeedWorker | None):
        self.db, self.t, self.noun, self.max_lines, self.worker = db, tables, noun, max_lines, worker

    async def start(self, request: feed_pb2.StartFeedRequest, context: Context) -> feed_pb2.Feed:
        require_role(context)
        violations = Violations()
        violations.check(bool(request.feed_id), "feed_id", "is required: the sender's idempotency key")
        violations.check(len(request.feed_id) <= MAX_FEED_ID, "feed_id", f"at most {MAX_FEED_ID} characters")
        violations.check(len(request.lines) <= self.max_lines, "lines", f"more than {self.max_lines} lines")
        violations.check(any(t.strip() for t in request.lines), "lines", f"holds no {self.noun} line")
        violations.raise_if_any()
        digest = hashlib.sha256(request.started_by.encode() + b"\x00")
        for text in request.lines:
            digest.update(f"{len(text)}:{text}\x00".encode())
        j, job_id = self.t.jobs, uuid.uuid4()
        async with self.db.transaction() as conn:
            values = {
                "id": job_id,
                "feed_id": request.feed_id,
                "body_digest": digest.hexdigest(),
                "started_by": request.started_by,
                "status": QUEUED,
                "lines_total": len(request.lines),
            }
            # A concurrent start with the same feed id waits on the unique key until this one ends.
            statement = insert(j).values(values).on_conflict_do_nothing(index_elements=["feed_id"]).returning(j.c.id)
            if (await conn.execute(statement)).first():
                rows = [{"job_id": job_id, "line": n, "text": t} for n, t in enumerate(request.lines, start=1)]
                await conn.execute(sa.insert(self.t.lines), rows)
            found = (await conn.execute(sa.select(j).where(j.c.feed_id == request.feed_id))).mappings().one()
        if found["body_digest"] != digest.hexdigest():
            raise AlreadyExists(
                f"feed_id {request.feed_id!r} was used for another {self.noun} feed",
                reason=REQUEST_ID_REUSED,
                metadata={"feed_id": request.feed_id, "id": str(found["id"])},
            )
        if self.worker is not None:
            self.worker.wakeup.set()
        return feed_to_proto(found)

    async def get(self, request: feed_pb2.GetFeedRequest, context: Context) -> feed_pb2.Feed:
        require_role(context)
        async with self.db.connect() as conn:
            return feed_to_proto(await self._existing(conn, request.id))

    async def lines(self, request: feed_pb2.ListFeedLinesRequest, context: Context) -> feed_pb2.ListFeedLinesResponse:
        require_role(context)
        size = pagination.page_size(request.page.page_size)
        cursor = pagination.decode_token(request.page.page_token)
        after = cursor.get("l", 0) if cursor else 0
        if not isinstance(after, int):
            raise InvalidArgument([FieldViolation("page.page_token", "is not a token this service issued")])
        lines = self.t.lines
        async with self.db.connect() as conn:
            job = await self._existing(conn, request.id)
            query = sa.select(lines).where(lines.c.job_id == job["id"], lines.c.line > after)
            if request.failed_only:
                query = query.where(lines.c.status == LINE_FAILED)
            rows = (await conn.execute(query.order_by(lines.c.line).limit(size + 1))).mappings().all()
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = pagination.encode_token({"l": rows[-1]["line"]})
        return feed_pb2.ListFeedLinesResponse(lines=[_line(r) for r in rows], next_page_token=token)

    async def _existing(self, conn: AsyncConnection, feed: str) -> Any:
        """The feed; NOT_FOUND also for an id that is no UUID (no feed has it)."""
        try:
            key = uuid.UUID(feed)
        except ValueError:
            raise NotFound(f"{self.noun} feed", feed) from None
        found = (await conn.execute(sa.select(self.t.jobs).where(self.t.jobs.c.id == key))).mappings().first()
        if found is None:
            raise NotFound(f"{self.noun} feed", feed)
        return found


def feed_service(
    db: Database,
    settings: FeedSettings,
    tables: FeedTables,
    apply: ApplyBatch,
    *,
    noun: str,
    on_commit: Callable[[], None],
) -> FeedRpcs:
    """A service's feed RPCs with their worker (None when FEED_WORKER_ENABLED is false; main runs it)."""
    worker = None
    if settings.feed_worker_enabled:
        worker = FeedWorker(
            db,
            tables,
            apply,
            on_commit=on_commit,
            batch_lines=settings.feed_batch_lines,
            lease_seconds=settings.feed_lease_seconds,
            poll_seconds=settings.feed_poll_seconds,
            retention_days=settings.feed_retention_days,
        )
    return FeedRpcs(db, tables, noun=noun, max_lines=settings.feed_max_lines, worker=worker)


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def feed_to_proto(row: Any) -> feed_pb2.Feed:
    message = feed_pb2.Feed(
        id=str(row["id"]),
        feed_id=row["feed_id"],
        started_by=row["started_by"],
        status=STATUS[row["status"]],
        lines_total=row["lines_total"],
        lines_done=row["lines_done"],
        applied=row["applied"],
        unchanged=row["unchanged"],
        failed=row["failed"],
        error=row["error"],
        started_at=_timestamp(row["started_at"]),
    )
    if row["finished_at"] is not None:
        message.finished_at.CopyFrom(_timestamp(row["finished_at"]))
    return message


def _line(row: Any) -> feed_pb2.FeedLine:
    return feed_pb2.FeedLine(
        line=row["line"],
        status=LINE_STATUS[row["status"]],
        key=row["key"],
        message=row["message"],
        field_violations=[
            feed_pb2.FeedFieldViolation(field=v["field"], description=v["description"]) for v in row["violations"]
        ],
    )
