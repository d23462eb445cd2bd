"""Events the cart service publishes, staged in the outbox inside the caller's transaction.

The service consumes no events: checkout tells it through CheckOutCart that an order exists.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncConnection

from shop.cart.v1 import events_pb2
from shop.common.v1 import common_pb2
from shop_cart import store
from shop_cart.domain import Cart, item_count
from shopkit.outbox import add_events

CHECKED_OUT = "shop.cart.checked_out"
ABANDONED = "shop.cart.abandoned"
MERGED = "shop.cart.merged"


async def checked_out(conn: AsyncConnection, cart: Cart) -> None:
    message = events_pb2.CartCheckedOut(
        cart_id=str(cart.cart_id),
        customer_id=cart.customer_id,
        checkout_id=cart.checkout_id,
        order_id=cart.order_id,
    )
    await add_events(conn, store.outbox, [(CHECKED_OUT, message, str(cart.cart_id))])


async def abandoned(conn: AsyncConnection, carts: Sequence[Cart]) -> None:
    staged: list[tuple[str, Message, str]] = []
    for cart in carts:
        last_activity = Timestamp()
        last_activity.FromDatetime(cart.last_activity_at)
        message = events_pb2.CartAbandoned(
            cart_id=str(cart.cart_id),
            customer_id=cart.customer_id,
            skus=[line.sku for line in cart.lines],
            item_count=item_count(cart),
            total=common_pb2.Money(amount=cart.pricing.total, currency=cart.currency),
            last_activity_at=last_activity,
        )
        staged.append((ABANDONED, message, str(cart.cart_id)))
    await add_events(conn, store.outbox, staged)


async def merged(conn: AsyncConnection, guest_cart_id: str, cart: Cart) -> None:
    message = events_pb2.CartMerged(
        guest_cart_id=guest_cart_id, cart_id=str(cart.cart_id), customer_id=cart.customer_id
    )
    await add_events(conn, store.outbox, [(MERGED, message, str(cart.cart_id))])
