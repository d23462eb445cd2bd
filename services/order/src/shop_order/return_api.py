"""The return RPCs of the order servicer: validation at the edge, one use case each (`return_operations`)."""

from __future__ import annotations

from shop.order.v1 import order_pb2
from shop_order import codec, return_codec
from shop_order.api import (
    LOCATION_ID,
    MAX_LINES,
    MAX_NOTE,
    MAX_QUANTITY,
    Context,
    OrderServicer,
    actor_of,
    check_text,
    check_uuid,
)
from shop_order.approval_api import ApprovalRpcs
from shop_order.domain.returns import (
    InspectCommand,
    InspectedLine,
    RequestCommand,
    RequestedLine,
    ReturnMethod,
)
from shop_order.invoice_api import InvoiceRpcs
from shop_order.operations import Orders
from shop_order.return_operations import Returns
from shopkit.errors import Violations
from shopkit.identifiers import check_request_id, check_sku
from shopkit.personal_data import PersonalDataRpcs


def _request_command(request: order_pb2.RequestReturnRequest) -> RequestCommand:
    v = Violations()
    check_uuid(v, request.order_id, "order_id")
    check_request_id(v, request.request_id, "request_id")
    v.check(1 <= len(request.lines) <= MAX_LINES, "lines", f"must hold 1 to {MAX_LINES} lines")
    seen: set[str] = set()
    lines: list[RequestedLine] = []
    for i, item in enumerate(request.lines):
        check_uuid(v, item.line_id, f"lines[{i}].line_id")
        v.check(item.line_id not in seen, f"lines[{i}].line_id", "repeats an earlier line")
        seen.add(item.line_id)
        v.check(1 <= item.quantity <= MAX_QUANTITY, f"lines[{i}].quantity", f"must be 1 to {MAX_QUANTITY}")
        if item.exchange_sku:
            check_sku(v, item.exchange_sku, f"lines[{i}].exchange_sku")
        lines.append(RequestedLine(item.line_id, item.quantity, item.exchange_sku))
    reason = return_codec.RETURN_REASON_FROM_PB.get(request.reason)
    v.check(reason is not None, "reason", "is required: one of the ReturnReason values")
    method = return_codec.RETURN_METHOD_FROM_PB.get(request.method)
    v.check(method is not None, "method", "is required: RETURN_METHOD_MAIL or RETURN_METHOD_STORE")
    if method is ReturnMethod.STORE:
        v.check(bool(LOCATION_ID.match(request.store_id)), "store_id", "must be the inventory location id of a store")
    else:
        v.check(not request.store_id, "store_id", "is only for returns in a store")
    check_text(v, request.note, "note", limit=MAX_NOTE)
    v.raise_if_any()
    assert reason is not None and method is not None
    return RequestCommand(request.request_id, tuple(lines), reason, method, request.store_id, request.note.strip())


def _inspect_command(request: order_pb2.InspectReturnRequest) -> InspectCommand:
    v = Violations()
    check_uuid(v, request.return_id, "return_id")
    check_request_id(v, request.request_id, "request_id")
    v.check(1 <= len(request.lines) <= MAX_LINES, "lines", f"must hold 1 to {MAX_LINES} lines")
    seen: set[str] = set()
    for i, item in enumerate(request.lines):
        check_uuid(v, item.line_id, f"lines[{i}].line_id")
        v.check(item.line_id not in seen, f"lines[{i}].line_id", "repeats an earlier line")
        seen.add(item.line_id)
        for name in ("accepted_sellable", "accepted_unsellable", "rejected"):
            value = getattr(item, name)
            v.check(0 <= value <= MAX_QUANTITY, f"lines[{i}].{name}", f"must be 0 to {MAX_QUANTITY}")
    check_text(v, request.note, "note", limit=MAX_NOTE)
    v.raise_if_any()
    lines = tuple(
        InspectedLine(item.line_id, item.accepted_sellable, item.accepted_unsellable, item.rejected)
        for item in request.lines
    )
    return InspectCommand(request.request_id, lines, request.note.strip())


class ReturnRpcs:
    """Mixed into the OrderServicer."""

    returns: Returns

    async def RequestReturn(
        self, request: order_pb2.RequestReturnRequest, context: Context
    ) -> order_pb2.RequestReturnResponse:
        actor = actor_of(context)
        command = _request_command(request)
        ret, order = await self.returns.request(request.order_id, command, actor)
        return order_pb2.RequestReturnResponse(order_return=return_codec.order_return(ret, order))

    async def ReceiveReturn(
        self, request: order_pb2.ReceiveReturnRequest, context: Context
    ) -> order_pb2.ReceiveReturnResponse:
        actor = actor_of(context)
        v = Violations()
        check_uuid(v, request.return_id, "return_id")
        v.check(bool(LOCATION_ID.match(request.location_id)), "location_id", "must be an inventory location id")
        v.raise_if_any()
        ret, order = await self.returns.receive(request.return_id, request.location_id, actor)
        return order_pb2.ReceiveReturnResponse(order_return=return_codec.order_return(ret, order))

    async def InspectReturn(
        self, request: order_pb2.InspectReturnRequest, context: Context
    ) -> order_pb2.InspectReturnResponse:
        actor = actor_of(context)
        command = _inspect_command(request)
        ret, order = await self.returns.inspect(request.return_id, command, actor)
        return order_pb2.InspectReturnResponse(
            order_return=return_codec.order_return(ret, order), order=codec.order(order)
        )

    async def GetReturn(self, request: order_pb2.GetReturnRequest, context: Context) -> order_pb2.GetReturnResponse:
        actor = actor_of(context)
        v = Violations()
        check_uuid(v, request.return_id, "return_id")
        v.raise_if_any()
        ret, order = await self.returns.get(actor, request.return_id)
        return order_pb2.GetReturnResponse(order_return=return_codec.order_return(ret, order))

    async def ListReturns(
        self, request: order_pb2.ListReturnsRequest, context: Context
    ) -> order_pb2.ListReturnsResponse:
        actor = actor_of(context)
        v = Violations()
        check_uuid(v, request.order_id, "order_id")
        v.raise_if_any()
        found, order = await self.returns.list_returns(actor, request.order_id)
        return order_pb2.ListReturnsResponse(returns=[return_codec.order_return(r, order) for r in found])


class Servicer(InvoiceRpcs, PersonalDataRpcs, ReturnRpcs, ApprovalRpcs, OrderServicer):
    """The order service's servicer: the order RPCs (`api`), the return RPCs, the approvers' inbox and the
    invoice RPCs."""

    def __init__(self, orders: Orders, returns: Returns):
        super().__init__(orders)
        self.returns = returns
