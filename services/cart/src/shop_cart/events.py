"""Events the cart service publishes, staged in the outbox inside the caller's transaction.

The service consumes no events: checkout tells it through CheckOutCart that an order exists.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from shop.cart.v1 import events_pb2
from shop.common.v1 import common_pb2
from shop_cart import store
from shop_cart.domain import Cart, item_count
from shopkit.outbox_driver import OutboxWriter
from shopkit.sqldriver import DriverConnection

CHECKED_OUT = "shop.cart.checked_out"
ABANDONED = "shop.cart.abandoned"
MERGED = "shop.cart.merged"

_outbox = OutboxWriter(store.outbox)


async def checked_out(conn: DriverConnection, cart: Cart) -> None:
    message = events_pb2.CartCheckedOut(
        cart_id=str(cart.cart_id),
        customer_id=cart.customer_id,
        checkout_id=cart.checkout_id,
        order_id=cart.order_id,
    )
    await _outbox.add(conn, [(CHECKED_OUT, message, str(cart.cart_id))])


async def abandoned(conn: DriverConnection, carts: Sequence[Cart]) -> None:
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
    await _outbox.add(conn, staged)


async def merged(conn: DriverConnection, guest_cart_id: str, cart: Cart) -> None:
    message = events_pb2.CartMerged(
        guest_cart_id=guest_cart_id, cart_id=str(cart.cart_id), customer_id=cart.customer_id
    )
    await _outbox.add(conn, [(MERGED, message, str(cart.cart_id))])
