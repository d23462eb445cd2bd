"""A customer's account: export and erasure (docs/architecture.md "Personal data").

Nothing of an account must be kept: erasure deletes the profile with its saved addresses and payment
methods (the provider's tokens; the provider keeps its own records) and the user's memberships of B2B
companies (the companies stay: they are the businesses', not the person's). The erasure log stays as the
record that the customer was erased. A later call of the customer sees an empty profile again, as
before a first change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_customers import tables
from shopkit.personal_data import Changes, ServicePersonalData, records

SERVICE = "customers"
_customers, _addresses, _methods = tables.customers, tables.addresses, tables.payment_methods
_members = tables.company_members


class CustomersPersonalData(ServicePersonalData):
    service = SERVICE
    erasures, outbox = tables.customer_erasures, tables.outbox

    async def export(self, customer_id: str) -> Mapping[str, Any]:
        def of(table: sa.Table) -> sa.Select[Any]:
            return sa.select(table).where(table.c.customer_id == customer_id)

        async with self.db.connect() as conn:
            return {
                "profiles": records(await conn.execute(of(_customers))),
                "addresses": records(
                    await conn.execute(of(_addresses).order_by(_addresses.c.created_at)), leave_out=("request_id",)
                ),
                "payment_methods": records(await conn.execute(of(_methods).order_by(_methods.c.created_at))),
                "company_memberships": records(
                    await conn.execute(sa.select(_members).where(_members.c.user_id == customer_id)),
                    leave_out=("request_id",),
                ),
                "erasures": await self.log(conn, customer_id),
            }

    async def erase_in(self, conn: AsyncConnection, customer_id: str) -> Changes:
        # Locked like every write of the customer's record, so a concurrent add waits and then finds none.
        found = await conn.execute(
            sa.select(_customers.c.customer_id).where(_customers.c.customer_id == customer_id).with_for_update()
        )
        memberships = await conn.execute(sa.delete(_members).where(_members.c.user_id == customer_id))
        if found.first() is None:
            return {"profiles": 0, "addresses": 0, "payment_methods": 0, "company_memberships": memberships.rowcount}
        addresses = await conn.execute(sa.delete(_addresses).where(_addresses.c.customer_id == customer_id))
        methods = await conn.execute(sa.delete(_methods).where(_methods.c.customer_id == customer_id))
        await conn.execute(sa.delete(_customers).where(_customers.c.customer_id == customer_id))
        return {
            "profiles": 1,
            "addresses": addresses.rowcount,
            "payment_methods": methods.rowcount,
            "company_memberships": memberships.rowcount,
        }
