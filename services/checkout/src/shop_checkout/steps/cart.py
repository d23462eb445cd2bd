"""The saga's cart call: CLEAR_CART (CheckOutCart), which marks the cart checked out for the order;
a cart that expired or was merged meanwhile is left as it is, and the order stands.
"""

from __future__ import annotations

import grpc

from shop.cart.v1 import cart_pb2
from shop_checkout.domain.model import Checkout, StepKind
from shop_checkout.domain.outcomes import CartCleared, Outcome, Succeeded
from shop_checkout.peers import PeerError, Peers


async def clear_cart(peers: Peers, c: Checkout) -> Outcome:
    kind = StepKind.CLEAR_CART
    assert c.order is not None
    request = cart_pb2.CheckOutCartRequest(
        cart_id=c.request.cart_id, checkout_id=c.checkout_id, order_id=c.order.order_id
    )
    try:
        await peers.call("cart", peers.cart.CheckOutCart, request)
    except PeerError as exc:
        if exc.code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
            # The order stands; a cart that expired or was merged meanwhile is left as it is.
            return Succeeded(kind, CartCleared(note=f"cart left as it was: {exc.info.message}"))
        raise
    return Succeeded(kind, CartCleared())
