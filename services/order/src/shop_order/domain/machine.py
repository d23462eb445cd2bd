"""The order state machine: which status may follow which, for the order, its payment and its
fulfilment. The migration installs the same tables as a trigger, so the database refuses what the
domain would refuse even if a bug slipped past it."""

from __future__ import annotations

from dataclasses import dataclass

from shop_order.domain.model import FulfilmentStatus, OrderStatus, PaymentStatus

OS = OrderStatus
PS = PaymentStatus
FS = FulfilmentStatus

ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OS.PENDING_REVIEW: frozenset({OS.PENDING_APPROVAL, OS.CONFIRMED, OS.CANCELLED}),
    OS.PENDING_APPROVAL: frozenset({OS.CONFIRMED, OS.CANCELLED}),
    OS.CONFIRMED: frozenset({OS.PARTIALLY_FULFILLED, OS.FULFILLED, OS.CANCELLED}),
    OS.PARTIALLY_FULFILLED: frozenset({OS.FULFILLED}),
    OS.FULFILLED: frozenset({OS.COMPLETED, OS.REFUNDED}),
    OS.COMPLETED: frozenset({OS.REFUNDED}),
    OS.CANCELLED: frozenset(),
    OS.REFUNDED: frozenset(),
}

PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PS.AUTHORISED: frozenset({PS.CAPTURED, PS.VOIDED}),
    PS.CAPTURED: frozenset({PS.PARTIALLY_REFUNDED, PS.REFUNDED}),
    PS.PARTIALLY_REFUNDED: frozenset({PS.REFUNDED}),
    PS.INVOICED: frozenset({PS.PARTIALLY_REFUNDED, PS.REFUNDED}),
    PS.VOIDED: frozenset(),
    PS.REFUNDED: frozenset(),
}

FULFILMENT_TRANSITIONS: dict[FulfilmentStatus, frozenset[FulfilmentStatus]] = {
    FS.UNFULFILLED: frozenset({FS.PARTIALLY_FULFILLED, FS.FULFILLED, FS.NOT_REQUIRED}),
    FS.PARTIALLY_FULFILLED: frozenset({FS.FULFILLED}),
    FS.FULFILLED: frozenset(),
    FS.NOT_REQUIRED: frozenset(),
}

# Where orders start: held for a fraud review, held for an approval, or confirmed.
INITIAL_STATUSES = frozenset({OS.PENDING_REVIEW, OS.PENDING_APPROVAL, OS.CONFIRMED})
HELD = frozenset({OS.PENDING_REVIEW, OS.PENDING_APPROVAL})
TERMINAL = frozenset(status for status, targets in ORDER_TRANSITIONS.items() if not targets)
# Nothing was fulfilled yet: the order may still be cancelled.
CANCELLABLE = frozenset({OS.PENDING_REVIEW, OS.PENDING_APPROVAL, OS.CONFIRMED})
FULFILLABLE = frozenset({OS.CONFIRMED, OS.PARTIALLY_FULFILLED})
# Accepted orders whose payment may be captured or refunded.
ACCEPTED = frozenset({OS.CONFIRMED, OS.PARTIALLY_FULFILLED, OS.FULFILLED, OS.COMPLETED})


def order_may_become(current: OrderStatus, target: OrderStatus) -> bool:
    return target in ORDER_TRANSITIONS[current]


def payment_may_become(current: PaymentStatus, target: PaymentStatus) -> bool:
    # Another partial refund keeps the status (the refunded amount grows).
    same_partial = current is target is PS.PARTIALLY_REFUNDED
    return same_partial or target in PAYMENT_TRANSITIONS[current]


def fulfilment_may_become(current: FulfilmentStatus, target: FulfilmentStatus) -> bool:
    # Another partial shipment keeps the status (quantities grow).
    same_partial = current is target is FS.PARTIALLY_FULFILLED
    return same_partial or target in FULFILMENT_TRANSITIONS[current]


@dataclass(frozen=True, slots=True)
class State:
    status: OrderStatus
    payment: PaymentStatus
    fulfilment: FulfilmentStatus


def allowed(before: State, after: State) -> bool:
    """Whether one step may move the three statuses from `before` to `after` (each may also stay)."""
    return (
        (after.status is before.status or order_may_become(before.status, after.status))
        and (after.payment is before.payment or payment_may_become(before.payment, after.payment))
        and (after.fulfilment is before.fulfilment or fulfilment_may_become(before.fulfilment, after.fulfilment))
        and consistent(after)
    )


def consistent(state: State) -> bool:
    """Combinations of the three statuses that may exist at all (also CHECK constraints)."""
    status, payment, fulfilment = state.status, state.payment, state.fulfilment
    if status in INITIAL_STATUSES:
        fulfilment_ok = fulfilment is FS.UNFULFILLED
    elif status is OS.PARTIALLY_FULFILLED:
        fulfilment_ok = fulfilment is FS.PARTIALLY_FULFILLED
    elif status is OS.CANCELLED:
        fulfilment_ok = fulfilment is FS.NOT_REQUIRED
    else:  # fulfilled, completed, refunded
        fulfilment_ok = fulfilment is FS.FULFILLED
    # A voided payment belongs to a cancelled order; a held order has not been captured or refunded.
    # A refunded order's money went back in full.
    payment_ok = (
        (payment is not PS.VOIDED or status is OS.CANCELLED)
        and (status not in HELD or payment in (PS.AUTHORISED, PS.INVOICED))
        and (status is not OS.REFUNDED or payment is PS.REFUNDED)
    )
    return fulfilment_ok and payment_ok
