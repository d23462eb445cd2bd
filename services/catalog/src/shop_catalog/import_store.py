"""Storage of durable product imports: the import jobs (status, counts, the worker's lease) and their
lines (the uploaded text, then each line's outcome). Tables share `store.metadata`; migration 0004.

The lease: a worker owns a running import while `claimed_by` is its id and `lease_until` is ahead;
every progress write names the owner and the `lines_done` it read, so a worker whose lease another
took over writes nothing (its statement matches no row and its whole batch transaction rolls back).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_catalog.store import metadata

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
OK, LINE_FAILED, BLANK = "ok", "failed", "blank"  # a line's outcome; NULL while pending

product_imports = sa.Table(
    "product_imports",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("request_id", sa.Text, nullable=False),
    # Digest of who started it and the lines: the same request id with another upload is refused.
    sa.Column("body_digest", sa.Text, nullable=False),
    sa.Column("started_by", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("lines_total", sa.BigInteger, nullable=False),
    sa.Column("lines_done", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("created", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("updated", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("unchanged", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("failed", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claimed_by", sa.Text, nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("request_id", name="product_imports_request_id_key"),
)

product_import_lines = sa.Table(
    "product_import_lines",
    metadata,
    sa.Column(
        "import_id", UUID(as_uuid=True), sa.ForeignKey("product_imports.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("line", sa.BigInteger, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=True),
    sa.Column("slug", sa.Text, nullable=False, server_default=""),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("violations", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
)


@dataclass(frozen=True)
class LineOutcome:
    line: int
    status: str
    slug: str = ""
    message: str = ""
    violations: tuple[tuple[str, str], ...] = ()  # (field, description)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0


class LeaseLost(Exception):
    """This worker no longer owns the import (its lease expired and another worker took it)."""


Row = Any


async def import_by_id(conn: AsyncConnection, import_id: uuid.UUID) -> Row | None:
    query = sa.select(product_imports).where(product_imports.c.id == import_id)
    return (await conn.execute(query)).mappings().first()


async def import_by_request(conn: AsyncConnection, request_id: str) -> Row | None:
    query = sa.select(product_imports).where(product_imports.c.request_id == request_id)
    return (await conn.execute(query)).mappings().first()


async def open_import(conn: AsyncConnection, import_id: uuid.UUID, request_id: str, started_by: str) -> bool:
    """The import row, first in the upload's transaction (its lines refer to it); False when the request
    id is taken. A concurrent upload with the same request id waits here until the first one ends."""
    values = {
        "id": import_id,
        "request_id": request_id,
        "body_digest": "",
        "started_by": started_by,
        "status": QUEUED,
        "lines_total": 0,
    }
    statement = insert(product_imports).values(values).on_conflict_do_nothing(index_elements=["request_id"])
    return bool((await conn.execute(statement.returning(product_imports.c.id))).first())


async def insert_lines(conn: AsyncConnection, import_id: uuid.UUID, lines: Sequence[tuple[int, str, str]]) -> None:
    """(number, text, refusal): a line with a refusal is stored failed with it (its text is not kept)."""
    if lines:
        rows = [
            {
                "import_id": import_id,
                "line": number,
                "text": text,
                "status": LINE_FAILED if refusal else None,
                "message": refusal,
            }
            for number, text, refusal in lines
        ]
        await conn.execute(sa.insert(product_import_lines), rows)


async def close_upload(conn: AsyncConnection, import_id: uuid.UUID, digest: str, lines_total: int) -> None:
    statement = (
        sa.update(product_imports)
        .where(product_imports.c.id == import_id)
        .values(body_digest=digest, lines_total=lines_total)
    )
    await conn.execute(statement)


async def list_imports(conn: AsyncConnection, after: tuple[datetime, uuid.UUID] | None, limit: int) -> Sequence[Row]:
    """Newest first; keyset on (started_at, id)."""
    query = sa.select(product_imports)
    if after is not None:
        query = query.where(
            sa.tuple_(product_imports.c.started_at, product_imports.c.id)
            < sa.tuple_(sa.literal(after[0]), sa.literal(after[1]))
        )
    query = query.order_by(product_imports.c.started_at.desc(), product_imports.c.id.desc()).limit(limit)
    return (await conn.execute(query)).mappings().all()


async def list_lines(
    conn: AsyncConnection, import_id: uuid.UUID, *, after: int, limit: int, failed_only: bool
) -> Sequence[Row]:
    query = sa.select(product_import_lines).where(
        product_import_lines.c.import_id == import_id, product_import_lines.c.line > after
    )
    if failed_only:
        query = query.where(product_import_lines.c.status == LINE_FAILED)
    return (await conn.execute(query.order_by(product_import_lines.c.line).limit(limit))).mappings().all()


# --- the worker's side ---------------------------------------------------------------------------


async def claim(conn: AsyncConnection, worker: str, lease: timedelta) -> Row | None:
    """Take the oldest queued import, or a running one whose lease ran out (its worker died)."""
    now = sa.func.now()
    free = sa.or_(
        product_imports.c.status == QUEUED,
        sa.and_(product_imports.c.status == RUNNING, product_imports.c.lease_until < now),
    )
    query = (
        sa.select(product_imports.c.id)
        .where(free)
        .order_by(product_imports.c.started_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    found = (await conn.execute(query)).scalar_one_or_none()
    if found is None:
        return None
    statement = (
        sa.update(product_imports)
        .where(product_imports.c.id == found)
        .values(status=RUNNING, claimed_by=worker, lease_until=now + lease)
        .returning(*product_imports.c)
    )
    return (await conn.execute(statement)).mappings().one()


def _owned(import_id: uuid.UUID, worker: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        product_imports.c.id == import_id,
        product_imports.c.claimed_by == worker,
        product_imports.c.status == RUNNING,
    )


async def renew(conn: AsyncConnection, import_id: uuid.UUID, worker: str, lease: timedelta) -> None:
    statement = sa.update(product_imports).where(_owned(import_id, worker)).values(lease_until=sa.func.now() + lease)
    if not (await conn.execute(statement.returning(product_imports.c.id))).first():
        raise LeaseLost(str(import_id))


async def pending_lines(conn: AsyncConnection, import_id: uuid.UUID, after: int, limit: int) -> Sequence[Row]:
    query = (
        sa.select(
            product_import_lines.c.line,
            product_import_lines.c.text,
            product_import_lines.c.status,
            product_import_lines.c.message,
        )
        .where(product_import_lines.c.import_id == import_id, product_import_lines.c.line > after)
        .order_by(product_import_lines.c.line)
        .limit(limit)
    )
    return (await conn.execute(query)).all()


async def record_batch(
    conn: AsyncConnection,
    import_id: uuid.UUID,
    worker: str,
    *,
    done_before: int,
    outcomes: Sequence[LineOutcome],
    counts: Counts,
    lease: timedelta,
) -> None:
    """A batch's line outcomes and counts; LeaseLost (the caller's transaction rolls back) unless this
    worker still owns the import and no one recorded these lines meanwhile."""
    statement = (
        sa.update(product_imports)
        .where(_owned(import_id, worker), product_imports.c.lines_done == done_before)
        .values(
            lines_done=done_before + len(outcomes),
            created=product_imports.c.created + counts.created,
            updated=product_imports.c.updated + counts.updated,
            unchanged=product_imports.c.unchanged + counts.unchanged,
            failed=product_imports.c.failed + counts.failed,
            lease_until=sa.func.now() + lease,
        )
        .returning(product_imports.c.id)
    )
    if not (await conn.execute(statement)).first():
        raise LeaseLost(str(import_id))
    if outcomes:
        rows = [
            {
                "b_import_id": import_id,
                "b_line": o.line,
                "status": o.status,
                "slug": o.slug,
                "message": o.message,
                "violations": [{"field": f, "description": d} for f, d in o.violations],
            }
            for o in outcomes
        ]
        update = (
            sa.update(product_import_lines)
            .where(
                product_import_lines.c.import_id == sa.bindparam("b_import_id"),
                product_import_lines.c.line == sa.bindparam("b_line"),
            )
            .values(
                status=sa.bindparam("status"),
                slug=sa.bindparam("slug"),
                message=sa.bindparam("message"),
                violations=sa.bindparam("violations", type_=JSONB),
            )
        )
        await conn.execute(update, rows)


async def finish(conn: AsyncConnection, import_id: uuid.UUID, worker: str, status: str, error: str = "") -> None:
    statement = (
        sa.update(product_imports)
        .where(_owned(import_id, worker))
        .values(status=status, error=error, finished_at=sa.func.now(), claimed_by=None, lease_until=None)
    )
    await conn.execute(statement)


async def release(conn: AsyncConnection, import_id: uuid.UUID, worker: str) -> None:
    """Give a running import back (the worker stops): queued again, for the next worker to continue."""
    statement = (
        sa.update(product_imports)
        .where(_owned(import_id, worker))
        .values(status=QUEUED, claimed_by=None, lease_until=None)
    )
    await conn.execute(statement)


async def delete_finished_before(conn: AsyncConnection, cutoff: datetime) -> int:
    """Imports finished before `cutoff`, with their lines (ON DELETE CASCADE)."""
    statement = sa.delete(product_imports).where(product_imports.c.finished_at < cutoff)
    result = await conn.execute(statement.returning(product_imports.c.id))
    return len(result.all())
