"""Guests' orders over HTTP: POST /v1/guest-orders/lookup trades an order number and the e-mail of its
checkout for an order token; with it (header X-Order-Token) a guest reads that order, starts a return of
it and follows its returns (see app/guest_orders.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header
from pydantic import BaseModel, Field

from shop_gateway.app import guest_orders as use
from shop_gateway.app import models
from shop_gateway.app import returns as returning
from shop_gateway.app.guest_tokens import ORDER_TOKEN_HEADER
from shop_gateway.httpapi.backoffice.common import Body, IdempotencyKey, router
from shop_gateway.httpapi.deps import Caller, Client, ShopDep
from shop_gateway.httpapi.returns import ReturnBody

guest_orders = router("/v1/guest-orders", "guest orders")

OrderToken = Annotated[
    str | None, Header(alias=ORDER_TOKEN_HEADER, description="the access_token of POST /v1/guest-orders/lookup")
]


class LookupBody(Body):
    order_number: str = Field(max_length=32, description="the order's number, e.g. SO-000123")
    email: str = Field(max_length=254, description="the e-mail address given at checkout")


class OrderAccessResponse(BaseModel):
    order_id: str
    order_number: str
    access_token: str = Field(description=f"send it as {ORDER_TOKEN_HEADER} to the routes of this order")
    expires_in: int = Field(description="seconds")


@guest_orders.post("/lookup", summary="Open a guest's order with its number and the checkout's e-mail")
async def lookup_guest_order(body: LookupBody, shop: ShopDep, _who: Caller, client: Client) -> OrderAccessResponse:
    """Guests only have their order number and e-mail: together they open the order for a short while
    (ORDER_ACCESS_TTL_SECONDS). An unknown number, a wrong e-mail and a signed-in customer's order
    all answer 404 alike; lookups are limited per client and per order number (429)."""
    found = await use.lookup(shop, client, order_number=body.order_number, email=body.email)
    return OrderAccessResponse(**vars(found))


@guest_orders.get("/{order_id}", summary="A guest's order")
async def get_guest_order(order_id: str, shop: ShopDep, _who: Caller, order_token: OrderToken = None) -> models.Order:
    return await use.get_order(shop, order_token or "", order_id)


@guest_orders.post("/{order_id}/returns", status_code=201, summary="Start a return of a guest's order")
async def request_guest_return(
    order_id: str,
    body: ReturnBody,
    shop: ShopDep,
    _who: Caller,
    order_token: OrderToken = None,
    idempotency_key: IdempotencyKey = None,
) -> returning.Return:
    """As POST /v1/orders/{order_id}/returns for customers: by mail or to a store, within the return
    windows; the same Idempotency-Key returns the same return."""
    return await use.request_return(shop, order_token or "", order_id, body.to_input(idempotency_key))


@guest_orders.get("/{order_id}/returns", summary="The returns of a guest's order")
async def list_guest_returns(
    order_id: str, shop: ShopDep, _who: Caller, order_token: OrderToken = None
) -> returning.ReturnList:
    return await use.list_returns(shop, order_token or "", order_id)
