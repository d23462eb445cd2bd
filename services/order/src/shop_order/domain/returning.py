"""What each return command does: pure functions from the order, its returns and the command to a
ReturnDecision (the order's Decision — history, refund, effects — and the return after it), or a
refusal. A repeat of a step that already happened returns a decision that changes nothing."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from shop_order.domain import decisions, exchanges
from shop_order.domain.decisions import Decision, RefundCommand, Steps
from shop_order.domain.model import (
    NOT_ORDER_OWNER,
    REQUEST_ID_REUSED,
    Actor,
    Change,
    LineQuantity,
    Order,
    OrderStatus,
)
from shop_order.domain.returns import (
    NOT_RETURN_STAFF,
    ORDER_NOT_RETURNABLE,
    PRODUCT_NOT_RETURNABLE,
    RETURN_ALREADY_INSPECTED,
    RETURN_ALREADY_RECEIVED,
    RETURN_NOT_RECEIVED,
    RETURN_WINDOW_CLOSED,
    STAFF_ROLES,
    InspectCommand,
    ProductTerms,
    RequestCommand,
    Return,
    ReturnLine,
    ReturnStatus,
    exchanged_units,
    paid_per_line,
    returnable_units,
    shipping_refund,
    units_amount,
    window_ends,
    with_lines,
)
from shopkit.errors import AlreadyExists, FailedPrecondition, FieldViolation, InvalidArgument, PermissionDenied
from shopkit.money import Money

# Orders whose delivered goods may come back (a REFUNDED order has nothing left to return).
RETURNABLE_ORDERS = frozenset({OrderStatus.PARTIALLY_FULFILLED, OrderStatus.FULFILLED, OrderStatus.COMPLETED})


@dataclass(frozen=True, slots=True)
class ReturnDecision:
    order: Decision  # about the order: history entries, the refund and the effects it owes
    ret: Return  # the return after the command
    changed: bool = False  # whether the return itself changed (written with version + 1)
    new: bool = False  # a new return (inserted)
    restock: tuple[tuple[str, str, int], ...] = ()  # (sku, location, units) owed to inventory
    replacement: Decision | None = None  # an exchange: the placing decision of the replacement order


def unchanged(order: Order, ret: Return) -> ReturnDecision:
    return ReturnDecision(Decision(order), ret)


def can_see(order: Order, actor: Actor) -> bool:
    """Staff who process returns see every return; otherwise whoever sees the order."""
    return actor.role in STAFF_ROLES or decisions.can_see(order, actor)


def check_staff(actor: Actor) -> None:
    if actor.role not in STAFF_ROLES:
        raise PermissionDenied("only store staff or an admin may receive and inspect returns", reason=NOT_RETURN_STAFF)


def _reused(request_id: str) -> AlreadyExists:
    return AlreadyExists(
        f"request_id {request_id!r} was used for a different return step",
        reason=REQUEST_ID_REUSED,
        metadata={"request_id": request_id},
    )


# --- request -----------------------------------------------------------------------------------


def request(
    order: Order,
    returns: tuple[Return, ...],
    command: RequestCommand,
    terms: Mapping[str, ProductTerms],
    actor: Actor,
    now: datetime,
) -> ReturnDecision:
    """Start a return of delivered units, within each product's window; the same request_id again
    is the same return."""
    existing = next((r for r in returns if r.request_id == command.request_id), None)
    if existing is not None:
        if existing.fingerprint != command.fingerprint:
            raise _reused(command.request_id)
        return unchanged(order, existing)
    if actor.role not in STAFF_ROLES and not (actor.id and actor.id == order.customer_id):
        # The order's own customer, not merely a B2B colleague who may see it.
        raise PermissionDenied("only the order's customer or store staff may return its goods", reason=NOT_ORDER_OWNER)
    if order.status not in RETURNABLE_ORDERS:
        raise decisions.refuse(
            order, ORDER_NOT_RETURNABLE, f"order {order.order_id} is {order.status}: nothing to return"
        )
    available = returnable_units(order, returns)
    problems: list[FieldViolation] = []
    for i, q in enumerate(command.lines):
        line = order.line(q.line_id)
        if line is None:
            problems.append(FieldViolation(f"lines[{i}].line_id", "is not a line of this order"))
            continue
        if q.quantity > available[line.line_id]:
            problems.append(
                FieldViolation(
                    f"lines[{i}].quantity", f"exceeds the {available[line.line_id]} units that may be returned"
                )
            )
        if q.exchange_sku:
            wanted, own = terms.get(q.exchange_sku), terms.get(line.sku)
            if wanted is None or own is None or not wanted.product_id or wanted.product_id != own.product_id:
                problems.append(FieldViolation(f"lines[{i}].exchange_sku", "must be a variant of the same product"))
    if problems:
        raise InvalidArgument(problems)
    lines: list[ReturnLine] = []
    for q in command.lines:
        line = order.line(q.line_id)
        assert line is not None
        rule = terms.get(line.sku, ProductTerms())
        meta = {"order_id": order.order_id, "line_id": line.line_id, "sku": line.sku}
        if not rule.returnable:
            raise FailedPrecondition(f"{line.sku} cannot be returned", reason=PRODUCT_NOT_RETURNABLE, metadata=meta)
        ends = window_ends(order, line.line_id, rule.window_days)
        if ends is None or now > ends:
            raise FailedPrecondition(
                f"the {rule.window_days}-day return window of {line.sku} has closed",
                reason=RETURN_WINDOW_CLOSED,
                metadata={**meta, "window_days": str(rule.window_days)},
            )
        lines.append(ReturnLine(line.line_id, line.sku, line.name, q.quantity, exchange_sku=q.exchange_sku))
    ret = Return(
        return_id=str(uuid.uuid4()),
        order_id=order.order_id,
        request_id=command.request_id,
        status=ReturnStatus.REQUESTED,
        method=command.method,
        reason=command.reason,
        lines=tuple(lines),
        currency=order.currency,
        fingerprint=command.fingerprint,
        store_id=command.store_id,
        note=command.note,
        requested_at=now,
    )
    steps = Steps(order, actor, now)
    steps.step(Change.RETURN_REQUESTED, reason=command.reason.value, note=f"return {ret.return_id} by {ret.method}")
    return ReturnDecision(steps.decision(), ret, changed=True, new=True)


# --- receive -----------------------------------------------------------------------------------


def receive(order: Order, ret: Return, location_id: str, actor: Actor, now: datetime) -> ReturnDecision:
    check_staff(actor)
    if ret.status is not ReturnStatus.REQUESTED:
        if ret.receiving_location_id == location_id:
            return unchanged(order, ret)
        raise FailedPrecondition(
            f"return {ret.return_id} was received at {ret.receiving_location_id}",
            reason=RETURN_ALREADY_RECEIVED,
            metadata={"return_id": ret.return_id, "location_id": ret.receiving_location_id},
        )
    after = with_lines(ret, ret.lines, status=ReturnStatus.RECEIVED, receiving_location_id=location_id, received_at=now)
    steps = Steps(order, actor, now)
    steps.step(Change.RETURN_RECEIVED, note=f"return {ret.return_id} at {location_id}")
    return ReturnDecision(steps.decision(), after, changed=True)


# --- inspect -----------------------------------------------------------------------------------


def _inspected_lines(ret: Return, command: InspectCommand) -> dict[str, tuple[int, int, int]]:
    problems: list[FieldViolation] = []
    found: dict[str, tuple[int, int, int]] = {}
    for i, q in enumerate(command.lines):
        line = ret.line(q.line_id)
        if line is None:
            problems.append(FieldViolation(f"lines[{i}].line_id", "is not a line of this return"))
        elif q.accepted_sellable + q.accepted_unsellable + q.rejected != line.requested:
            problems.append(FieldViolation(f"lines[{i}]", f"must account for the {line.requested} units returned"))
        found[q.line_id] = (q.accepted_sellable, q.accepted_unsellable, q.rejected)
    missing = [line.line_id for line in ret.lines if line.line_id not in found]
    if missing:
        problems.append(FieldViolation("lines", f"every line of the return is required; missing {', '.join(missing)}"))
    if problems:
        raise InvalidArgument(problems)
    return found


def inspect(
    order: Order,
    returns: tuple[Return, ...],
    ret: Return,
    command: InspectCommand,
    terms: Mapping[str, ProductTerms],
    actor: Actor,
    now: datetime,
) -> ReturnDecision:
    """Record the inspection; refund the accepted units (and shipping, by the rule), owe the restock
    of the sellable ones, and place the replacement order of exchanged ones."""
    check_staff(actor)
    if ret.inspect_request_id:
        if ret.inspect_request_id != command.request_id:
            raise FailedPrecondition(
                f"return {ret.return_id} was inspected already",
                reason=RETURN_ALREADY_INSPECTED,
                metadata={"return_id": ret.return_id},
            )
        if ret.inspect_fingerprint != command.fingerprint:
            raise _reused(command.request_id)
        return unchanged(order, ret)
    if ret.status is not ReturnStatus.RECEIVED:
        raise FailedPrecondition(
            f"return {ret.return_id} is {ret.status}: it must be received first",
            reason=RETURN_NOT_RECEIVED,
            metadata={"return_id": ret.return_id},
        )
    found = _inspected_lines(ret, command)
    paid, before = paid_per_line(order), exchanged_units(returns)
    lines: list[ReturnLine] = []
    for rl in ret.lines:
        sellable, unsellable, rejected = found[rl.line_id]
        ol = order.line(rl.line_id)
        assert ol is not None
        done = ol.refunded_quantity + before.get(rl.line_id, 0)
        amount = units_amount(paid[rl.line_id], ol.quantity, done, sellable + unsellable)
        lines.append(
            dataclasses.replace(
                rl, accepted_sellable=sellable, accepted_unsellable=unsellable, rejected=rejected, refund_amount=amount
            )
        )
    # Exchanged units are bought again, not given back: only refunded units count as returned.
    refunding = {line.line_id: line.accepted for line in lines if not line.exchange_sku}
    leaves_nothing = all(
        line.refunded_quantity + refunding.get(line.line_id, 0) >= line.quantity for line in order.lines
    )
    shipping = shipping_refund(order, returns, ret, leaves_nothing) if any(line.accepted for line in lines) else 0
    refunded_lines = [line for line in lines if line.accepted and not line.exchange_sku]
    amount = min(order.refundable, sum(line.refund_amount for line in refunded_lines) + shipping)
    steps = Steps(order, actor, now)
    steps.step(Change.RETURN_INSPECTED, note=f"return {ret.return_id}: {command.note}".strip(": "))
    decision = steps.decision()
    status, refund_id = ReturnStatus.CLOSED, ""
    if amount > 0:
        refund_id = f"return-{ret.return_id}"
        refund = RefundCommand(
            refund_id,
            Money(amount, order.currency),
            tuple(LineQuantity(line.line_id, line.accepted) for line in refunded_lines),
            f"return {ret.return_id}: {ret.reason}",
        )
        refunded = decisions.refund(steps.order, refund, actor, now)
        decision = dataclasses.replace(refunded, entries=(*decision.entries, *refunded.entries))
        status = ReturnStatus.REFUNDED
    replacement = None
    after = with_lines(
        ret,
        tuple(lines),
        status=status,
        inspect_request_id=command.request_id,
        inspect_fingerprint=command.fingerprint,
        refund_amount=amount,
        shipping_refund=min(shipping, amount),
        refund_id=refund_id,
        inspected_at=now,
    )
    if after.exchanged:
        replacement = exchanges.place_replacement(order, after, terms, actor, now)
        after = dataclasses.replace(after, status=ReturnStatus.EXCHANGED, exchange_order_id=replacement.order.order_id)
        steps = Steps(decision.order, actor, now)
        steps.step(Change.EXCHANGED, note=f"return {ret.return_id}: replacement order {replacement.order.order_id}")
        decision = dataclasses.replace(decision, order=steps.order, entries=(*decision.entries, *steps.entries))
    restock = tuple(
        (line.sku, ret.receiving_location_id, line.accepted_sellable) for line in lines if line.accepted_sellable
    )
    return ReturnDecision(decision, after, changed=True, restock=restock, replacement=replacement)


Decide = Callable[[Order, tuple[Return, ...]], ReturnDecision]
