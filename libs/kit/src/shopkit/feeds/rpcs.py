"""A feed's RPCs (Start, Get, ListLines) that a service's servicer delegates to, its settings, and the
feed and its lines as protobuf messages."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import grpc
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import Field
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.common.v1 import feed_pb2
from shopkit import pagination
from shopkit.auth import require_role
from shopkit.db import Database
from shopkit.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound, Violations
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
)
from shopkit.feeds.worker import ApplyBatch, FeedWorker
from shopkit.settings import ServiceSettings

MAX_FEED_ID = 64
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
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
