"""The outbox insert for units of work on the driver (`Database.driver_transaction`).

Same rows as `shopkit.outbox.add_events` (ids, `meta` filled, trace headers), staged with one prepared
statement whatever the number of events: the rows travel as arrays and are unnested in order, so their
`seq` keeps the order they were staged in. `OutboxWriter.select` gives the rows as a SELECT, for a
service that stages its events inside a larger statement (a data-modifying CTE).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from shopkit import tracing
from shopkit.sqldriver import DriverConnection, DriverQuery

Staged = Sequence[tuple[str, Message, str]]  # (subject, message, aggregate id)


@dataclass(frozen=True)
class EventRows:
    ids: list[uuid.UUID]
    subjects: list[str]
    payloads: list[bytes]
    headers: dict[str, str]

    def params(self) -> dict[str, Any]:
        """The parameters of `OutboxWriter.select` / `OutboxWriter.insert`."""
        return {
            "event_ids": self.ids,
            "event_subjects": self.subjects,
            "event_payloads": self.payloads,
            "event_headers": self.headers,
        }


def event_rows(staged: Staged) -> EventRows:
    """Outbox rows for the events; fills `meta` (event id, time, aggregate id) when the message has it."""
    now = datetime.now(UTC)
    rows = EventRows([], [], [], tracing.inject_headers())
    for subject, message, aggregate_id in staged:
        event_id = uuid.uuid4()
        if "meta" in message.DESCRIPTOR.fields_by_name:
            meta = message.meta  # type: ignore[attr-defined]
            meta.event_id = str(event_id)
            meta.occurred_at.FromDatetime(now)
            if aggregate_id:
                meta.aggregate_id = aggregate_id
        rows.ids.append(event_id)
        rows.subjects.append(subject)
        rows.payloads.append(message.SerializeToString())
    return rows


class OutboxWriter:
    """Stages events in one service's outbox table on a driver connection."""

    def __init__(self, outbox: sa.Table):
        self.outbox = outbox
        self.select = sa.select(
            sa.func.unnest(sa.bindparam("event_ids", type_=ARRAY(UUID(as_uuid=True)))).label("id"),
            sa.func.unnest(sa.bindparam("event_subjects", type_=ARRAY(sa.Text))).label("subject"),
            sa.func.unnest(sa.bindparam("event_payloads", type_=ARRAY(sa.LargeBinary))).label("payload"),
            sa.bindparam("event_headers", type_=JSONB).label("headers"),
        )
        columns = [outbox.c.id, outbox.c.subject, outbox.c.payload, outbox.c.headers]
        self.insert = outbox.insert().from_select(columns, self.select)
        self._query = DriverQuery(self.insert)

    async def add(self, conn: DriverConnection, staged: Staged) -> list[uuid.UUID]:
        """Stage the events in the caller's transaction with one statement."""
        if not staged:
            return []
        rows = event_rows(staged)
        await conn.execute(self._query, **rows.params())
        return rows.ids
