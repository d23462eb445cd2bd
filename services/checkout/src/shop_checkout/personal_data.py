"""A customer's checkouts: export and erasure (docs/architecture.md "Personal data").

A finished checkout is pseudonymised like its order: the e-mail, the names, phones and street lines of
its addresses become the customer's pseudonym, the client's IP and device id are dropped; amounts,
lines, the payment's references and the tax address (country, region, postal code, city) stay. A
checkout still running is left alone (its saga owns the row; the erasure reports it under
`checkouts_in_progress`, and a later erasure with a new request id finishes the job).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_checkout import store
from shopkit.personal_data import (
    Changes,
    ServicePersonalData,
    is_erased_email,
    pseudonym_email,
    pseudonymise_address,
    records,
)

SERVICE = "checkout"
_checkouts = store.checkouts


def pseudonymise_state(state: dict[str, Any], customer_id: str) -> dict[str, Any]:
    request = dict(state["request"])
    request["email"] = pseudonym_email(customer_id)
    request["client_ip"] = ""
    request["device_id"] = ""
    request["billing_address"] = pseudonymise_address(request.get("billing_address"), customer_id)
    fulfilment = dict(request.get("fulfilment") or {})
    if "address" in fulfilment:
        fulfilment["address"] = pseudonymise_address(fulfilment["address"], customer_id)
    request["fulfilment"] = fulfilment
    return {**state, "request": request}


class CheckoutPersonalData(ServicePersonalData):
    service = SERVICE
    erasures, outbox = store.customer_erasures, store.outbox

    async def export(self, customer_id: str) -> Mapping[str, Any]:
        query = (
            sa.select(_checkouts)
            .where(_checkouts.c.customer_id == customer_id)
            .order_by(_checkouts.c.created_at, _checkouts.c.id)
        )
        async with self.db.connect() as conn:
            # The lease is the saga's bookkeeping, not the customer's data.
            rows = records(await conn.execute(query), leave_out=("lease_owner", "lease_expires_at", "fingerprint"))
            return {"checkouts": rows, "erasures": await self.log(conn, customer_id)}

    async def erase_in(self, conn: AsyncConnection, customer_id: str) -> Changes:
        rows = await conn.execute(
            sa.select(_checkouts.c.id, _checkouts.c.state, _checkouts.c.finished_at)
            .where(_checkouts.c.customer_id == customer_id)
            .with_for_update()
        )
        changed = running = 0
        for row in rows:
            if row.finished_at is None:
                running += 1
                continue
            if is_erased_email(row.state["request"].get("email", "")):
                continue  # erased before
            state = pseudonymise_state(row.state, customer_id)
            await conn.execute(sa.update(_checkouts).where(_checkouts.c.id == row.id).values(state=state))
            changed += 1
        return {"checkouts": changed, "checkouts_in_progress": running}
