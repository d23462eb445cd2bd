"""A feed's two tables (the jobs and their lines), declared once for every service that takes feeds,
and what one applied line did."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shopkit.errors import FieldViolation

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
APPLIED, UNCHANGED, LINE_FAILED, SKIPPED = "applied", "unchanged", "failed", "skipped"


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
