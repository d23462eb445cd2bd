"""Who may see a product through GetProduct.

A shopper sees a product only while it is active and published to the shopper's channel: b2b roles
shop in `b2b`, every other caller (anonymous, customer, fraud analyst) in `web`, like the gateway's
listings. Staff (`admin`, `service`) see every product. Anyone else gets the NOT_FOUND of a product
that does not exist, so the answer does not reveal that it does.

The channels a product is shown in are worked out once, when its answer is kept in memory; each read
then costs the caller's role (established once per call by the kit) and a set lookup, no database
round trip.
"""

from __future__ import annotations

from typing import Any

import grpc

from shop.catalog.v1 import catalog_pb2
from shopkit.auth import ADMIN_ROLES, caller

Context = grpc.aio.ServicerContext[Any, Any]
Channels = frozenset[int]  # catalog_pb2.Channel values

STAFF_ROLES = frozenset(ADMIN_ROLES)
B2B_ROLES = frozenset({"b2b_buyer", "b2b_approver"})
HIDDEN: Channels = frozenset()


def shown_in(product: catalog_pb2.Product) -> Channels:
    """The channels whose shoppers may see `product`: its channels while it is active, none otherwise."""
    if product.status != catalog_pb2.PRODUCT_STATUS_ACTIVE:
        return HIDDEN
    return frozenset(product.channels)


def may_see(context: Context, channels: Channels) -> bool:
    """Whether the caller may see a product shown in `channels`."""
    role = caller(context).role
    if role in STAFF_ROLES:
        return True
    return (catalog_pb2.CHANNEL_B2B if role in B2B_ROLES else catalog_pb2.CHANNEL_WEB) in channels
