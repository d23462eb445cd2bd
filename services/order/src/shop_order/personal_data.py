"""A customer's orders and returns: export and erasure (docs/architecture.md "Personal data").

Orders are records accounting and tax law make the shop keep: erasure keeps their amounts, lines,
taxes, dates, numbers and payment references, and replaces what names the person (the e-mail, the
names, phones and street lines of the ship-to and billing addresses) with the customer's pseudonym;
the tax address (country, region, postal code, city) stays. The notes a customer wrote on returns
are emptied. An erased order goes on: fulfilment, refunds and returns read none of these fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_order import store
from shop_order.return_store import returns
from shopkit.personal_data import (
    Changes,
    ServicePersonalData,
    is_erased_email,
    pseudonym_email,
    pseudonymise_address,
    records,
)

SERVICE = "order"
_orders = store.orders


class OrderPersonalData(ServicePersonalData):
    service = SERVICE
    erasures, outbox = store.customer_erasures, store.outbox

    async def export(self, customer_id: str) -> Mapping[str, Any]:
        ids = sa.select(_orders.c.id).where(_orders.c.customer_id == customer_id).scalar_subquery()

        def of(table: sa.Table, *order_by: sa.ColumnElement[Any]) -> sa.Select[Any]:
            return sa.select(table).where(table.c.order_id.in_(ids)).order_by(*order_by)

        async with self.db.connect() as conn:
            orders = await conn.execute(
                sa.select(_orders).where(_orders.c.customer_id == customer_id).order_by(_orders.c.created_at)
            )
            return {
                # The reservation and the fingerprint are bookkeeping between services, not the customer's.
                "orders": records(orders, leave_out=("fingerprint", "reservation_id", "version")),
                "order_lines": records(await conn.execute(of(store.order_lines, store.order_lines.c.order_id))),
                "fulfilments": records(await conn.execute(of(store.fulfilments, store.fulfilments.c.order_id))),
                "refunds": records(await conn.execute(of(store.refunds, store.refunds.c.order_id))),
                "returns": records(
                    await conn.execute(of(returns, returns.c.requested_at)),
                    leave_out=("fingerprint", "inspect_fingerprint", "version"),
                ),
                "history": records(
                    await conn.execute(
                        of(store.order_history, store.order_history.c.order_id, store.order_history.c.sequence)
                    )
                ),
                "erasures": await self.log(conn, customer_id),
            }

    async def erase_in(self, conn: AsyncConnection, customer_id: str) -> Changes:
        # The order rows are locked like any change of an order: a concurrent decision waits for the erasure.
        rows = await conn.execute(
            sa.select(_orders.c.id, _orders.c.email, _orders.c.ship_to, _orders.c.billing_address)
            .where(_orders.c.customer_id == customer_id)
            .order_by(_orders.c.id)
            .with_for_update()
        )
        changed: list[str] = []
        for row in rows:
            if is_erased_email(row.email):
                continue
            await conn.execute(
                sa.update(_orders)
                .where(_orders.c.id == row.id)
                .values(
                    email=pseudonym_email(customer_id),
                    ship_to=pseudonymise_address(row.ship_to, customer_id),
                    billing_address=pseudonymise_address(row.billing_address, customer_id),
                    # A change of the row like any other: readers holding the old version see it moved.
                    version=_orders.c.version + 1,
                )
            )
            changed.append(row.id)
        notes = await conn.execute(
            sa.update(returns).where(returns.c.order_id.in_(changed), returns.c.note != "").values(note="")
        )
        return {"orders": len(changed), "return_notes": notes.rowcount}
