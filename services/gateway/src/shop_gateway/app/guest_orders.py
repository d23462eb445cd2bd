"""Guests' own orders: a guest proves an order is theirs as shops ask it, with the order number and the
e-mail address of its checkout, and gets a short-lived order token for that one order. With the token
(header X-Order-Token) the guest reads the order, starts a return of it and follows its returns.

Enumeration is refused: an unknown number, a wrong e-mail and a customer's order (customers sign in)
all answer the same 404, and lookups are rate limited per client address and per order number (so
that many addresses cannot try e-mails for one number). The token is an HS256 JWT signed with the
gateway's own key (setting ORDER_ACCESS_SECRET), with an audience of its own: it is never a bearer
token (those are asymmetric only) and names exactly one order. The order service holds no guest
identity, so for a token's order the gateway asks it as itself (role service); the token is the check.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

import grpc

from shop.order.v1 import order_pb2
from shop_gateway.app import mapping, models, returns
from shop_gateway.app.errors import UpstreamError, upstream
from shop_gateway.app.shop import SERVICE_IDENTITY, Shop
from shop_gateway.principal import ClientInfo
from shopkit.errors import NotFound, Violations

NUMBER = re.compile(r"^SO-\d{6,20}$")
MAX_EMAIL = 254


@dataclass
class OrderAccess:
    """What a lookup answers: the order's id and number, and the token that opens it."""

    order_id: str
    order_number: str
    access_token: str
    expires_in: int  # seconds


def _same_email(given: str, kept: str) -> bool:
    # E-mail addresses compare without case (as the checkout's coupon limits do); in constant time.
    return hmac.compare_digest(given.strip().casefold().encode(), kept.strip().casefold().encode())


async def lookup(shop: Shop, client: ClientInfo, *, order_number: str, email: str) -> OrderAccess:
    """The order token of the guest order `order_number` bought with `email`; 404 for anything else."""
    violations = Violations()
    number = order_number.strip().upper()
    violations.check(bool(NUMBER.match(number)), "order_number", "must be an order number like SO-000123")
    violations.check(
        0 < len(email) <= MAX_EMAIL and "@" in email.strip("@"), "email", "must be the e-mail address of the checkout"
    )
    violations.raise_if_any()
    tokens = shop.order_tokens
    tokens.admit_lookup(client, number)
    try:
        response = await shop.backends.order.GetOrder(
            order_pb2.GetOrderRequest(number=number), metadata=SERVICE_IDENTITY
        )
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:
            raise UpstreamError.from_rpc("order", error, {"number": "order_number"}) from error
        response = None
    order = response.order if response is not None else None
    if order is None or order.customer_id or not _same_email(email, order.email):
        raise NotFound("order", number)  # unknown, someone else's or a customer's: the same answer
    return OrderAccess(order.order_id, order.number, tokens.issue(order.order_id), tokens.ttl)


def _opened(shop: Shop, token: str, order_id: str) -> str:
    if shop.order_tokens.order_of(token) != order_id:
        raise NotFound("order", order_id)  # the token opens another order
    return order_id


async def get_order(shop: Shop, token: str, order_id: str) -> models.Order:
    _opened(shop, token, order_id)
    with upstream("order", {"order_id": "id"}):
        response = await shop.backends.order.GetOrder(
            order_pb2.GetOrderRequest(order_id=order_id, view=order_pb2.ORDER_VIEW_BASIC), metadata=SERVICE_IDENTITY
        )
    return mapping.order(response.order)


async def request_return(shop: Shop, token: str, order_id: str, wanted: returns.ReturnInput) -> returns.Return:
    """A return of the token's order, by mail or to a store, checked as a customer's return is."""
    _opened(shop, token, order_id)
    return await returns.send_return_request(shop, returns.return_request(order_id, wanted), SERVICE_IDENTITY)


async def list_returns(shop: Shop, token: str, order_id: str) -> returns.ReturnList:
    _opened(shop, token, order_id)
    with upstream("order", returns.FIELDS):
        response = await shop.backends.order.ListReturns(
            order_pb2.ListReturnsRequest(order_id=order_id), metadata=SERVICE_IDENTITY
        )
    return returns.ReturnList(returns=[returns.order_return(r) for r in response.returns])
