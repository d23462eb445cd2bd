"""A customer's mails: export and erasure (docs/architecture.md "Personal data").

A mail is a copy of what the order service holds, kept for support questions: erasure empties its
bodies and replaces its address with the customer's pseudonym, and a mail still waiting to go is
given up (marked failed: "customer erased"), so nothing more is sent to the person. Which mail was
sent when (kind, order, times, status) stays. Mails of later events about the customer's orders
are not written at all: the order's e-mail is the pseudonym by then (`Notifications.queue`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_notifications import tables
from shop_notifications.domain import DeliveryStatus
from shopkit.personal_data import Changes, ServicePersonalData, pseudonym_email, records

SERVICE = "notifications"
ERASED = "customer erased"
_mails = tables.mails


class NotificationsPersonalData(ServicePersonalData):
    service = SERVICE
    erasures, outbox = tables.customer_erasures, tables.outbox

    async def export(self, customer_id: str) -> Mapping[str, Any]:
        query = sa.select(_mails).where(_mails.c.customer_id == customer_id).order_by(_mails.c.created_at)
        async with self.db.connect() as conn:
            return {
                "mails": records(await conn.execute(query), leave_out=("event_id", "message_id", "attempts")),
                "erasures": await self.log(conn, customer_id),
            }

    async def erase_in(self, conn: AsyncConnection, customer_id: str) -> Changes:
        alias = pseudonym_email(customer_id)
        mine = sa.and_(_mails.c.customer_id == customer_id, _mails.c.recipient != alias)
        given_up = await conn.execute(
            sa.update(_mails)
            .where(mine, _mails.c.status == DeliveryStatus.PENDING.value)
            .values(status=DeliveryStatus.FAILED.value, last_error=ERASED)
        )
        erased = await conn.execute(
            sa.update(_mails).where(mine).values(recipient=alias, subject="", text_body="", html_body="")
        )
        return {"mails": erased.rowcount, "pending_mails_given_up": given_up.rowcount}
