"""Inbound ERP feeds (inventory's stock feeds, pricing's price-list feeds): the job and line tables,
their worker with a lease, the reading of CSV/JSONL lines, and the RPCs a service mixes in.

A feed is stored whole in one transaction (job row, then its lines, then the digest); a worker
claims it and applies it in batches. Each batch is ONE transaction: the service's changes (its own
operations' rules, versions and outbox events) and the batch's line outcomes and counts, written
only while this worker holds the lease and `lines_done` is what it read. A worker that lost its
lease, or crashed mid-batch, leaves no half batch: the next owner applies the batch once.

The package's modules: `lines` (reading uploads and lines), `tables` (the two tables, a line's
outcome), `worker` (claiming and applying), `rpcs` (the RPCs, settings, protobuf mapping).
"""

from shopkit.feeds.lines import MAX_LINE_CHARS, csv_to_objects, read_object, whole_number
from shopkit.feeds.rpcs import (
    MAX_FEED_ID,
    REQUEST_ID_REUSED,
    FeedRpcs,
    FeedSettings,
    feed_service,
    feed_to_proto,
)
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
    create_feed_tables,
    drop_feed_tables,
    feed_tables,
)
from shopkit.feeds.worker import ApplyBatch, FeedWorker, LeaseLost

__all__ = [
    "APPLIED",
    "DONE",
    "FAILED",
    "LINE_FAILED",
    "MAX_FEED_ID",
    "MAX_LINE_CHARS",
    "QUEUED",
    "REQUEST_ID_REUSED",
    "RUNNING",
    "SKIPPED",
    "UNCHANGED",
    "ApplyBatch",
    "FeedRpcs",
    "FeedSettings",
    "FeedTables",
    "FeedWorker",
    "LeaseLost",
    "Outcome",
    "create_feed_tables",
    "csv_to_objects",
    "drop_feed_tables",
    "feed_service",
    "feed_tables",
    "feed_to_proto",
    "read_object",
    "whole_number",
]
