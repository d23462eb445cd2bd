"""A customer's carts: export and erasure (docs/architecture.md "Personal data").

A cart is no record anyone must keep: erasure deletes the customer's carts with their lines and
requests, and the guest carts that were merged into them (their lines became the customer's).
A checked-out cart's order lives on in the order service, which keeps what accounting needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shop_cart import store
from shopkit.personal_data import Changes, ServicePersonalData, records

SERVICE = "cart"
_carts, _lines = store.carts, store.cart_lines


def _of(customer_id: str) -> sa.ColumnElement[bool]:
    """The customer's carts and the guest carts merged into them."""
    own = sa.select(_carts.c.id).where(_carts.c.customer_id == customer_id).scalar_subquery()
    return sa.or_(_carts.c.customer_id == customer_id, _carts.c.merged_into_cart_id.in_(own))


class CartPersonalData(ServicePersonalData):
    service = SERVICE
    erasures, outbox = store.customer_erasures, store.outbox

    async def export(self, customer_id: str) -> Mapping[str, Any]:
        async with self.db.connect() as conn:
            carts = records(await conn.execute(sa.select(_carts).where(_of(customer_id)).order_by(_carts.c.created_at)))
            ids = [cart["id"] for cart in carts]
            lines = records(
                await conn.execute(
                    sa.select(_lines).where(_lines.c.cart_id.in_(ids)).order_by(_lines.c.cart_id, _lines.c.position)
                )
            )
            return {
                "carts": carts,
                "cart_lines": lines,
                "erasures": await self.log(conn, customer_id),
            }

    async def erase_in(self, conn: AsyncConnection, customer_id: str) -> Changes:
        ids = [row.id for row in await conn.execute(sa.select(_carts.c.id).where(_of(customer_id)).with_for_update())]
        if not ids:
            return {"carts": 0, "cart_lines": 0}
        lines = await conn.execute(sa.delete(_lines).where(_lines.c.cart_id.in_(ids)))
        # Merged guest carts point at the customer's carts: they go first.
        await conn.execute(sa.delete(_carts).where(_carts.c.id.in_(ids), _carts.c.merged_into_cart_id.is_not(None)))
        await conn.execute(sa.delete(_carts).where(_carts.c.id.in_(ids)))
        return {"carts": len(ids), "cart_lines": lines.rowcount}
