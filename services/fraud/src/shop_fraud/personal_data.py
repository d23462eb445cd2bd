"""What fraud holds about a customer: export and erasure (docs/architecture.md "Personal data").

The velocity counters, the customer's order history and the deny list hold keyed hashes only
(`domain.purchase.digest`): they stay, so the model keeps counting an erased customer's purchases.
What an assessment kept of the purchase in the clear goes: its e-mail becomes the customer's
pseudonym, its IP address and device id are dropped (their countries, the card's fingerprint,
amounts and the decision stay: analysts and the audit of past decisions read them). The erasure log
records that the customer was erased.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_fraud import tables
from shopkit.personal_data import Changes, ServicePersonalData, is_erased_email, pseudonym_email, records

SERVICE = "fraud"
_assessments, _reviews = tables.assessments, tables.reviews


class FraudPersonalData(ServicePersonalData):
    service = SERVICE
    erasures, outbox = tables.customer_erasures, tables.outbox

    async def export(self, customer_id: str) -> Mapping[str, Any]:
        of_customer = _assessments.c.customer_id == customer_id
        async with self.db.connect() as conn:
            assessments = records(
                await conn.execute(sa.select(_assessments).where(of_customer).order_by(_assessments.c.assessed_at))
            )
            ids = sa.select(_assessments.c.id).where(of_customer).scalar_subquery()
            reviews = records(
                await conn.execute(sa.select(_reviews).where(_reviews.c.assessment_id.in_(ids))),
                leave_out=("decided_by",),  # the analyst's identity is the shop's, not the customer's
            )
            return {
                "assessments": assessments,
                "reviews": reviews,
                "erasures": await self.log(conn, customer_id),
            }

    async def erase_in(self, conn: AsyncConnection, customer_id: str) -> Changes:
        rows = await conn.execute(
            sa.select(_assessments.c.id, _assessments.c.context)
            .where(_assessments.c.customer_id == customer_id)
            .with_for_update()
        )
        changed = 0
        for row in rows:
            if is_erased_email(row.context.get("email", "")):
                continue
            context = {**row.context, "email": pseudonym_email(customer_id), "ip": "", "device_id": ""}
            await conn.execute(sa.update(_assessments).where(_assessments.c.id == row.id).values(context=context))
            changed += 1
        return {"assessments": changed}
