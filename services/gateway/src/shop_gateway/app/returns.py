"""Returns and exchanges: a customer starts a return of their order (by mail or in a store; a guest does
through app.guest_orders); store staff (role store_staff, at the locations their token names) or an
admin receive it at a location and inspect it. The order service decides
(return windows, refunds, restock, the replacement order of an exchange); this edge checks the
caller's role, names the client's fields, and asks for an Idempotency-Key where money or stock moves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shop.order.v1 import order_pb2
from shop_gateway.app import mapping, models
from shop_gateway.app.access import require_role
from shop_gateway.app.backoffice.common import changing, require_key
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import MAX_QUANTITY, check_note
from shop_gateway.principal import SHOPPER_ROLES, Principal
from shopkit.errors import NotFound, PermissionDenied, Violations
from shopkit.identifiers import check_sku

STAFF_ROLES = ("store_staff", "admin")
# Paths of the order service's violations, as the client sent them.
FIELDS = {"request_id": "idempotency_key", "return_id": "id", "order_id": "order_id"}
REASONS = ("changed_mind", "wrong_size", "damaged", "defective", "wrong_item", "other")
METHODS = ("mail", "store")
MAX_LINES = 500


# --- results ---------------------------------------------------------------------------------------


@dataclass
class ReturnLine:
    line_id: str
    sku: str
    name: str
    requested_quantity: int
    accepted_sellable: int
    accepted_unsellable: int
    rejected: int
    exchange_sku: str
    refund_amount: models.Money


@dataclass
class Return:
    id: str
    order_id: str
    order_number: str
    status: str  # requested, received, refunded, exchanged or closed
    method: str  # mail or store
    store_id: str
    reason: str
    note: str
    lines: list[ReturnLine]
    receiving_location_id: str
    refund_amount: models.Money
    shipping_refund: models.Money
    refund_id: str
    exchange_order_id: str
    requested_at: str | None
    received_at: str | None
    inspected_at: str | None


@dataclass
class ReturnList:
    returns: list[Return] = field(default_factory=list)


# --- inputs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    line_id: str
    quantity: int
    exchange_sku: str = ""  # an exchange: the replacement variant (or the same SKU)


@dataclass(frozen=True)
class ReturnInput:
    lines: Sequence[LineInput]
    reason: str  # one of REASONS
    method: str  # mail or store
    store_id: str = ""  # method store: the store the goods are brought to
    note: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class InspectionInput:
    line_id: str
    accepted_sellable: int = 0
    accepted_unsellable: int = 0
    rejected: int = 0


def _enum(prefix: str, value: str) -> str:
    return f"{prefix}{value.upper()}"


def order_return(pb: order_pb2.Return) -> Return:
    return Return(
        id=pb.return_id,
        order_id=pb.order_id,
        order_number=pb.order_number,
        status=mapping.enum_name(order_pb2.ReturnStatus.DESCRIPTOR, pb.status, "RETURN_STATUS_"),
        method=mapping.enum_name(order_pb2.ReturnMethod.DESCRIPTOR, pb.method, "RETURN_METHOD_"),
        store_id=pb.store_id,
        reason=mapping.enum_name(order_pb2.ReturnReason.DESCRIPTOR, pb.reason, "RETURN_REASON_"),
        note=pb.note,
        lines=[
            ReturnLine(
                line_id=line.line_id,
                sku=line.sku,
                name=line.name,
                requested_quantity=line.requested_quantity,
                accepted_sellable=line.accepted_sellable,
                accepted_unsellable=line.accepted_unsellable,
                rejected=line.rejected,
                exchange_sku=line.exchange_sku,
                refund_amount=mapping.money(line.refund_amount),
            )
            for line in pb.lines
        ],
        receiving_location_id=pb.receiving_location_id,
        refund_amount=mapping.money(pb.refund_amount),
        shipping_refund=mapping.money(pb.shipping_refund),
        refund_id=pb.refund_id,
        exchange_order_id=pb.exchange_order_id,
        requested_at=mapping.timestamp(pb, "requested_at"),
        received_at=mapping.timestamp(pb, "received_at"),
        inspected_at=mapping.timestamp(pb, "inspected_at"),
    )


# --- customers -------------------------------------------------------------------------------------


async def request_return(shop: Shop, who: Principal, order_id: str, wanted: ReturnInput) -> Return:
    """Start a return (an exchange when a line names exchange_sku); the same Idempotency-Key again
    returns the same return."""
    require_role(who, (*SHOPPER_ROLES, *STAFF_ROLES))
    return await send_return_request(shop, return_request(order_id, wanted), who.metadata())


def return_request(order_id: str, wanted: ReturnInput) -> order_pb2.RequestReturnRequest:
    """The order service's request of a return, once the input holds (a customer's or a guest's)."""
    lines, method, store_id, note = wanted.lines, wanted.method, wanted.store_id, wanted.note
    violations = Violations()
    require_key(violations, wanted.idempotency_key)
    violations.check(1 <= len(lines) <= MAX_LINES, "lines", f"must hold 1 to {MAX_LINES} lines")
    for i, line in enumerate(lines):
        violations.check(1 <= line.quantity <= MAX_QUANTITY, f"lines[{i}].quantity", f"must be 1 to {MAX_QUANTITY}")
        if line.exchange_sku:
            check_sku(violations, line.exchange_sku, f"lines[{i}].exchange_sku")
    violations.check(wanted.reason in REASONS, "reason", f"must be one of {', '.join(REASONS)}")
    violations.check(method in METHODS, "method", 'must be "mail" or "store"')
    violations.check(method != "store" or bool(store_id), "store_id", "is required for a return in a store")
    violations.check(method == "store" or not store_id, "store_id", "is only for a return in a store")
    check_note(violations, note)
    violations.raise_if_any()
    if not order_id:
        raise NotFound("order", order_id)
    return order_pb2.RequestReturnRequest(
        order_id=order_id,
        request_id=wanted.idempotency_key,
        lines=[
            order_pb2.ReturnLineRequest(line_id=x.line_id, quantity=x.quantity, exchange_sku=x.exchange_sku)
            for x in lines
        ],
        reason=order_pb2.ReturnReason.Value(_enum("RETURN_REASON_", wanted.reason)),
        method=order_pb2.ReturnMethod.Value(_enum("RETURN_METHOD_", method)),
        store_id=store_id,
        note=note,
    )


async def send_return_request(
    shop: Shop, request: order_pb2.RequestReturnRequest, metadata: Sequence[tuple[str, str]]
) -> Return:
    with upstream("order", FIELDS):
        response = await shop.backends.order.RequestReturn(request, metadata=tuple(metadata))
    return order_return(response.order_return)


async def list_returns(shop: Shop, who: Principal, order_id: str) -> ReturnList:
    require_role(who, (*SHOPPER_ROLES, *STAFF_ROLES))
    if not order_id:
        raise NotFound("order", order_id)
    with upstream("order", FIELDS):
        response = await shop.backends.order.ListReturns(
            order_pb2.ListReturnsRequest(order_id=order_id), metadata=who.metadata()
        )
    return ReturnList(returns=[order_return(r) for r in response.returns])


async def get_return(shop: Shop, who: Principal, return_id: str) -> Return:
    require_role(who, (*SHOPPER_ROLES, *STAFF_ROLES))
    if not return_id:
        raise NotFound("return", return_id)
    with upstream("order", FIELDS):
        response = await shop.backends.order.GetReturn(
            order_pb2.GetReturnRequest(return_id=return_id), metadata=who.metadata()
        )
    return order_return(response.order_return)


# --- store staff -----------------------------------------------------------------------------------


def require_location(who: Principal, location_id: str) -> None:
    """Store staff act only at the locations their token names (claim shop_locations); an admin anywhere."""
    if who.role == "store_staff" and location_id not in who.locations:
        raise PermissionDenied(
            f"store staff may handle returns only at their own locations, not at {location_id!r}",
            reason="LOCATION_NOT_ASSIGNED",
            metadata={"location_id": location_id, "locations": ",".join(who.locations)},
        )


async def receive_return(shop: Shop, who: Principal, return_id: str, *, location_id: str) -> Return:
    """The goods arrived at `location_id` (a store or a warehouse); receiving again there changes nothing."""
    require_role(who, STAFF_ROLES)
    violations = Violations()
    violations.check(bool(location_id), "location_id", "is required")
    violations.raise_if_any()
    require_location(who, location_id)
    with upstream("order", FIELDS):
        response = await shop.backends.order.ReceiveReturn(
            order_pb2.ReceiveReturnRequest(return_id=return_id, location_id=location_id), metadata=who.metadata()
        )
    return order_return(response.order_return)


async def inspect_return(
    shop: Shop,
    who: Principal,
    return_id: str,
    *,
    lines: Sequence[InspectionInput],
    note: str = "",
    idempotency_key: str = "",
) -> Return:
    """Per line: accepted sellable (restocked where received), accepted unsellable (written off) and
    rejected units (sent back). The accepted amount is refunded to the original payment, or the
    replacement order of an exchange is placed."""
    require_role(who, STAFF_ROLES)
    violations = Violations()
    require_key(violations, idempotency_key)
    violations.check(1 <= len(lines) <= MAX_LINES, "lines", f"must hold 1 to {MAX_LINES} lines")
    check_note(violations, note)
    violations.raise_if_any()
    if who.role == "store_staff":  # inspected where it was received (a return not yet received: the service says)
        received = await get_return(shop, who, return_id)
        if received.receiving_location_id:
            require_location(who, received.receiving_location_id)
    request = order_pb2.InspectReturnRequest(
        return_id=return_id,
        request_id=idempotency_key,
        lines=[
            order_pb2.InspectedLine(
                line_id=x.line_id,
                accepted_sellable=x.accepted_sellable,
                accepted_unsellable=x.accepted_unsellable,
                rejected=x.rejected,
            )
            for x in lines
        ],
        note=note,
    )
    # Restocked units change what public answers show: cached ones are dropped.
    with changing(shop, "order", FIELDS):
        response = await shop.backends.order.InspectReturn(request, metadata=who.metadata())
    return order_return(response.order_return)
