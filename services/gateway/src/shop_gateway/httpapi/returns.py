"""Returns and exchanges over HTTP: customers start and follow returns of their orders; store staff
(role store_staff) and admins receive and inspect them (see app.returns)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shop_gateway.app import returns as use
from shop_gateway.httpapi.backoffice.common import Body, Id, IdempotencyKey, Quantity, Text, router
from shop_gateway.httpapi.deps import ShopDep, SignedIn

returns = router("/v1", "returns and exchanges")


class ReturnLineBody(Body):
    line_id: Id = Field(description="a line of the order")
    quantity: Quantity = Field(description="units to return: at most delivered minus already returned")
    exchange_sku: Id = Field("", description="an exchange: the replacement variant of the same product")


class ReturnBody(Body):
    lines: list[ReturnLineBody] = Field(min_length=1, max_length=500)
    reason: Literal["changed_mind", "wrong_size", "damaged", "defective", "wrong_item", "other"]
    method: Literal["mail", "store"]
    store_id: Id = Field("", description="method store: the store (inventory location) the goods are brought to")
    note: Text = ""

    def to_input(self, idempotency_key: str | None) -> use.ReturnInput:
        lines = [use.LineInput(x.line_id, x.quantity, x.exchange_sku) for x in self.lines]
        return use.ReturnInput(lines, self.reason, self.method, self.store_id, self.note, idempotency_key or "")


class ReceiveBody(Body):
    location_id: Id = Field(description="the inventory location (store or warehouse) where the goods arrived")


class InspectedLineBody(Body):
    line_id: Id
    accepted_sellable: int = Field(0, ge=0, le=1_000_000, description="back to stock where received")
    accepted_unsellable: int = Field(0, ge=0, le=1_000_000, description="taken back, written off")
    rejected: int = Field(0, ge=0, le=1_000_000, description="sent back to the customer, not refunded")


class InspectBody(Body):
    lines: list[InspectedLineBody] = Field(min_length=1, max_length=500, description="every line of the return")
    note: Text = ""


@returns.post("/orders/{order_id}/returns", status_code=201, summary="Start a return or an exchange")
async def request_return(
    order_id: str, body: ReturnBody, shop: ShopDep, who: SignedIn, idempotency_key: IdempotencyKey = None
) -> use.Return:
    """Delivered units of the caller's order come back by mail or to a store, within each product's
    return window (products that are not returnable are refused with 409 PRODUCT_NOT_RETURNABLE, a
    closed window with 409 RETURN_WINDOW_CLOSED). A line with `exchange_sku` asks for that variant
    instead of a refund. The same Idempotency-Key returns the same return."""
    return await use.request_return(shop, who, order_id, body.to_input(idempotency_key))


@returns.get("/orders/{order_id}/returns", summary="The returns of an order")
async def list_returns(order_id: str, shop: ShopDep, who: SignedIn) -> use.ReturnList:
    return await use.list_returns(shop, who, order_id)


@returns.get("/returns/{return_id}", summary="One return")
async def get_return(return_id: str, shop: ShopDep, who: SignedIn) -> use.Return:
    return await use.get_return(shop, who, return_id)


@returns.post("/returns/{return_id}/receive", summary="Receive a return at a location (store_staff, admin)")
async def receive_return(return_id: str, body: ReceiveBody, shop: ShopDep, who: SignedIn) -> use.Return:
    """Receiving it again at the same location changes nothing; at another, 409 RETURN_ALREADY_RECEIVED."""
    return await use.receive_return(shop, who, return_id, location_id=body.location_id)


@returns.post("/returns/{return_id}/inspect", summary="Inspect a received return (store_staff, admin)")
async def inspect_return(
    return_id: str, body: InspectBody, shop: ShopDep, who: SignedIn, idempotency_key: IdempotencyKey = None
) -> use.Return:
    """Accepted sellable units go back to stock where the return was received; the accepted amount is
    refunded to the original payment (status refunded), or the replacement order of an exchange is
    placed (status exchanged, exchange_order_id); nothing accepted: closed. Once per return: the same
    Idempotency-Key again returns it, another key 409 RETURN_ALREADY_INSPECTED."""
    lines = [use.InspectionInput(x.line_id, x.accepted_sellable, x.accepted_unsellable, x.rejected) for x in body.lines]
    return await use.inspect_return(
        shop, who, return_id, lines=lines, note=body.note, idempotency_key=idempotency_key or ""
    )
