"""Returns (RMAs) as plain data and the pure decisions about them.

A return belongs to its order: each step locks the order, appends an entry to the order's history
(RETURN_REQUESTED, RETURN_RECEIVED, RETURN_INSPECTED, then REFUNDED or EXCHANGED) and is decided
here from the order, its returns and the command. Its status moves REQUESTED -> RECEIVED ->
INSPECTED -> REFUNDED | EXCHANGED | CLOSED; INSPECTED is left in the step that enters it.

Money: a line's paid amount is its line total less its share of the order-level discount plus its
tax (the line's own tax; for orders without per-line tax a share of tax_total; nothing more when
prices include the tax) — shares proportional to line totals. Units refund that amount
proportionally, rounded so that returning every unit refunds exactly the line's paid amount.
Shipping (with its tax) is refunded once: with the return that leaves nothing of the order
unrefunded, or with the first return whose reason is the shop's fault (damaged, defective, wrong
item). Exchanged units count as kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shop_order.domain.model import Order, fingerprint


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    RECEIVED = "received"
    INSPECTED = "inspected"
    REFUNDED = "refunded"
    CLOSED = "closed"
    EXCHANGED = "exchanged"


class ReturnMethod(StrEnum):
    MAIL = "mail"
    STORE = "store"


class ReturnReason(StrEnum):
    CHANGED_MIND = "changed_mind"
    WRONG_SIZE = "wrong_size"
    DAMAGED = "damaged"
    DEFECTIVE = "defective"
    WRONG_ITEM = "wrong_item"
    OTHER = "other"


SHOP_FAULT = frozenset({ReturnReason.DAMAGED, ReturnReason.DEFECTIVE, ReturnReason.WRONG_ITEM})
OPEN = frozenset({ReturnStatus.REQUESTED, ReturnStatus.RECEIVED})
# Roles that process returns: receive and inspect any order's returns, see them all.
STAFF_ROLES = frozenset({"store_staff", "admin", "service"})

# ErrorInfo reasons.
ORDER_NOT_RETURNABLE = "ORDER_NOT_RETURNABLE"
PRODUCT_NOT_RETURNABLE = "PRODUCT_NOT_RETURNABLE"
RETURN_WINDOW_CLOSED = "RETURN_WINDOW_CLOSED"
RETURN_NOT_RECEIVED = "RETURN_NOT_RECEIVED"
RETURN_ALREADY_RECEIVED = "RETURN_ALREADY_RECEIVED"
RETURN_ALREADY_INSPECTED = "RETURN_ALREADY_INSPECTED"
NOT_RETURN_STAFF = "NOT_RETURN_STAFF"


@dataclass(frozen=True, slots=True)
class ProductTerms:
    """What the catalog says about returning a product."""

    returnable: bool = True
    window_days: int = 30
    product_id: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class ReturnLine:
    line_id: str
    sku: str
    name: str
    requested: int
    accepted_sellable: int = 0
    accepted_unsellable: int = 0
    rejected: int = 0
    exchange_sku: str = ""
    refund_amount: int = 0

    @property
    def accepted(self) -> int:
        return self.accepted_sellable + self.accepted_unsellable


@dataclass(frozen=True, slots=True)
class Return:
    return_id: str
    order_id: str
    request_id: str
    status: ReturnStatus
    method: ReturnMethod
    reason: ReturnReason
    lines: tuple[ReturnLine, ...]
    currency: str
    fingerprint: str
    store_id: str = ""
    note: str = ""
    receiving_location_id: str = ""
    inspect_request_id: str = ""
    inspect_fingerprint: str = ""
    refund_amount: int = 0
    shipping_refund: int = 0
    refund_id: str = ""
    exchange_order_id: str = ""
    requested_at: datetime | None = None
    received_at: datetime | None = None
    inspected_at: datetime | None = None
    version: int = 1

    def line(self, line_id: str) -> ReturnLine | None:
        return next((line for line in self.lines if line.line_id == line_id), None)

    @property
    def exchanged(self) -> bool:
        return any(line.exchange_sku and line.accepted for line in self.lines)


@dataclass(frozen=True, slots=True)
class RequestedLine:
    line_id: str
    quantity: int
    exchange_sku: str = ""


@dataclass(frozen=True, slots=True)
class RequestCommand:
    request_id: str
    lines: tuple[RequestedLine, ...]
    reason: ReturnReason
    method: ReturnMethod
    store_id: str = ""
    note: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(
            {
                "lines": sorted((q.line_id, q.quantity, q.exchange_sku) for q in self.lines),
                "reason": self.reason.value,
                "method": self.method.value,
                "store": self.store_id,
                "note": self.note,
            }
        )


@dataclass(frozen=True, slots=True)
class InspectedLine:
    line_id: str
    accepted_sellable: int
    accepted_unsellable: int
    rejected: int


@dataclass(frozen=True, slots=True)
class InspectCommand:
    request_id: str
    lines: tuple[InspectedLine, ...]
    note: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(
            {
                "lines": sorted(
                    (q.line_id, q.accepted_sellable, q.accepted_unsellable, q.rejected) for q in self.lines
                ),
                "note": self.note,
            }
        )


# --- quantities -------------------------------------------------------------------------------


def exchanged_units(returns: tuple[Return, ...]) -> dict[str, int]:
    """Units per order line that earlier returns exchanged (they are not in refunded_quantity)."""
    units: dict[str, int] = {}
    for ret in returns:
        if ret.status is ReturnStatus.EXCHANGED:
            for line in ret.lines:
                if line.exchange_sku:
                    units[line.line_id] = units.get(line.line_id, 0) + line.accepted
    return units


def returnable_units(order: Order, returns: tuple[Return, ...]) -> dict[str, int]:
    """Per order line: fulfilled units not yet refunded, exchanged or in an open return."""
    taken = exchanged_units(returns)
    for ret in returns:
        if ret.status in OPEN:
            for line in ret.lines:
                taken[line.line_id] = taken.get(line.line_id, 0) + line.requested
    return {line.line_id: line.returnable - taken.get(line.line_id, 0) for line in order.lines}


def window_ends(order: Order, line_id: str, days: int) -> datetime | None:
    """The end of a line's return window: `days` after the last fulfilment that carried it."""
    delivered = [
        f.fulfilled_at
        for f in order.fulfilments
        if f.fulfilled_at is not None and any(q.line_id == line_id for q in f.lines)
    ]
    return max(delivered) + timedelta(days=days) if delivered else None


# --- money ------------------------------------------------------------------------------------


def _shares(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights`, by cumulative floors (the parts add up to total)."""
    whole = sum(weights)
    if whole <= 0:
        return [0 for _ in weights]
    parts, running, given = [], 0, 0
    for weight in weights:
        running += weight
        upto = total * running // whole
        parts.append(upto - given)
        given = upto
    return parts


def paid_per_line(order: Order) -> dict[str, int]:
    """What the customer paid for each line: line total less its share of the order-level discount,
    plus its tax (the line's own, or a share of tax_total for orders without per-line tax; nothing
    more when prices include the tax)."""
    totals = [line.line_total.amount for line in order.lines]
    order_discount = max(0, order.totals.discount_total.amount - sum(line.discount.amount for line in order.lines))
    discounts = _shares(order_discount, totals)
    if order.totals.tax_included:
        taxes = [0 for _ in order.lines]
    elif any(line.tax for line in order.lines):
        taxes = [line.tax for line in order.lines]
    else:
        taxes = _shares(order.totals.tax_total.amount, totals)
    return {
        line.line_id: max(0, total - discount + tax)
        for line, total, discount, tax in zip(order.lines, totals, discounts, taxes, strict=True)
    }


def shipping_paid(order: Order) -> int:
    """Shipping with its tax: what tax_total holds beyond the lines' own tax is the shipping's."""
    shipping = order.totals.shipping_total.amount
    if not order.totals.tax_included and any(line.tax for line in order.lines):
        shipping += max(0, order.totals.tax_total.amount - sum(line.tax for line in order.lines))
    return shipping


def units_amount(paid: int, quantity: int, before: int, units: int) -> int:
    """The paid amount of `units` more units of a line of `quantity` after `before` were returned."""
    if quantity <= 0 or units <= 0:
        return 0
    return paid * (before + units) // quantity - paid * before // quantity


def shipping_refund(order: Order, returns: tuple[Return, ...], ret: Return, leaves_nothing: bool) -> int:
    """The shipping this return refunds: all of it, once, when the shop was at fault or nothing of the
    order remains unreturned after it."""
    already = sum(r.shipping_refund for r in returns if r.return_id != ret.return_id)
    if already or not (ret.reason in SHOP_FAULT or leaves_nothing):
        return 0
    return shipping_paid(order)


def with_lines(ret: Return, lines: tuple[ReturnLine, ...], **changes: object) -> Return:
    return dataclasses.replace(ret, lines=lines, version=ret.version + 1, **changes)  # type: ignore[arg-type]
