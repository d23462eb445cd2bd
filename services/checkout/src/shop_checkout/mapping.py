"""Protobuf <-> domain mapping, for the servicer and for the calls the saga makes."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from shop.checkout.v1 import checkout_pb2
from shop.common.v1 import common_pb2
from shop.fraud.v1 import fraud_pb2
from shop.order.v1 import order_pb2
from shop_checkout.domain.model import (
    Address,
    ApprovalPeriod,
    CancelReason,
    CardPayment,
    Checkout,
    Customer,
    Decision,
    FailureCode,
    InvoicePayment,
    OrderStatus,
    Pickup,
    Ship,
    Status,
    StepKind,
    StepState,
)
from shopkit.money import Money

STATUS_TO_PB = {
    Status.RUNNING: checkout_pb2.CHECKOUT_STATUS_RUNNING,
    Status.PENDING_REVIEW: checkout_pb2.CHECKOUT_STATUS_PENDING_REVIEW,
    Status.PENDING_APPROVAL: checkout_pb2.CHECKOUT_STATUS_PENDING_APPROVAL,
    Status.ACTION_REQUIRED: checkout_pb2.CHECKOUT_STATUS_ACTION_REQUIRED,
    Status.COMPENSATING: checkout_pb2.CHECKOUT_STATUS_COMPENSATING,
    Status.COMPLETED: checkout_pb2.CHECKOUT_STATUS_COMPLETED,
    Status.FAILED: checkout_pb2.CHECKOUT_STATUS_FAILED,
}
STATUS_FROM_PB = {pb: status for status, pb in STATUS_TO_PB.items()}
STEP_TO_PB = {kind: checkout_pb2.CheckoutStepKind.Value(f"CHECKOUT_STEP_KIND_{kind.name}") for kind in StepKind}
STATE_TO_PB = {state: checkout_pb2.StepState.Value(f"STEP_STATE_{state.name}") for state in StepState}
FAILURE_TO_PB = {code: checkout_pb2.FailureCode.Value(f"FAILURE_CODE_{code.name}") for code in FailureCode}
PERIOD_FROM_PB = {
    checkout_pb2.APPROVAL_PERIOD_UNSPECIFIED: ApprovalPeriod.ORDER,
    checkout_pb2.APPROVAL_PERIOD_ORDER: ApprovalPeriod.ORDER,
    checkout_pb2.APPROVAL_PERIOD_DAY: ApprovalPeriod.DAY,
    checkout_pb2.APPROVAL_PERIOD_WEEK: ApprovalPeriod.WEEK,
    checkout_pb2.APPROVAL_PERIOD_MONTH: ApprovalPeriod.MONTH,
}
DECISION_FROM_PB: dict[int, Decision] = {
    fraud_pb2.DECISION_ALLOW: Decision.ALLOW,
    fraud_pb2.DECISION_REVIEW: Decision.REVIEW,
    fraud_pb2.DECISION_BLOCK: Decision.BLOCK,
}
ORDER_STATUS_FROM_PB: dict[int, OrderStatus] = {
    order_pb2.ORDER_STATUS_PENDING_REVIEW: OrderStatus.PENDING_REVIEW,
    order_pb2.ORDER_STATUS_PENDING_APPROVAL: OrderStatus.PENDING_APPROVAL,
    order_pb2.ORDER_STATUS_CONFIRMED: OrderStatus.CONFIRMED,
    order_pb2.ORDER_STATUS_CANCELLED: OrderStatus.CANCELLED,
}
CANCEL_REASON_TO_PB = {
    CancelReason.CUSTOMER_REQUEST: order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST,
    CancelReason.MERCHANT: order_pb2.CANCELLATION_REASON_MERCHANT,
    CancelReason.FRAUD_REJECTED: order_pb2.CANCELLATION_REASON_FRAUD_REJECTED,
    CancelReason.APPROVAL_REJECTED: order_pb2.CANCELLATION_REASON_APPROVAL_REJECTED,
    CancelReason.HOLD_EXPIRED: order_pb2.CANCELLATION_REASON_HOLD_EXPIRED,
    CancelReason.CHECKOUT_FAILED: order_pb2.CANCELLATION_REASON_CHECKOUT_FAILED,
}
CANCEL_REASON_FROM_PB = {pb: reason for reason, pb in CANCEL_REASON_TO_PB.items()}


def order_status(pb: int) -> OrderStatus:
    return ORDER_STATUS_FROM_PB.get(pb, OrderStatus.OTHER)


def decision(pb: int) -> Decision:
    """Fraud's decision; an unknown one is treated as REVIEW (a human looks at it)."""
    return DECISION_FROM_PB.get(pb, Decision.REVIEW)


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def money(pb: common_pb2.Money) -> Money:
    return Money(pb.amount, pb.currency)


def money_pb(value: Money) -> common_pb2.Money:
    return common_pb2.Money(amount=value.amount, currency=value.currency)


def address(pb: common_pb2.Address) -> Address:
    return Address(
        name=pb.name.strip(),
        line1=pb.line1.strip(),
        line2=pb.line2.strip(),
        city=pb.city.strip(),
        region=pb.region.strip(),
        postal_code=pb.postal_code.strip(),
        country=pb.country,
        phone=pb.phone.strip(),
    )


def address_pb(value: Address) -> common_pb2.Address:
    return common_pb2.Address(**dataclasses.asdict(value))


def customer(pb: common_pb2.CustomerContext) -> Customer:
    return Customer(
        customer_id=pb.customer_id,
        customer_group=pb.customer_group,
        account_id=pb.account_id,
        channel=pb.channel,
        country=pb.country,
        currency=pb.currency,
    )


def customer_pb(value: Customer) -> common_pb2.CustomerContext:
    return common_pb2.CustomerContext(**dataclasses.asdict(value))


def payment_pb(c: Checkout) -> checkout_pb2.PaymentMethod:
    payment = c.request.payment
    if isinstance(payment, CardPayment):
        return checkout_pb2.PaymentMethod(card=checkout_pb2.CardPayment(payment_method_id=payment.payment_method_id))
    return checkout_pb2.PaymentMethod(
        invoice=checkout_pb2.InvoicePayment(purchase_order_number=payment.purchase_order_number)
    )


def fulfilment_pb(c: Checkout) -> checkout_pb2.FulfilmentMethod:
    fulfilment = c.request.fulfilment
    if isinstance(fulfilment, Pickup):
        return checkout_pb2.FulfilmentMethod(pickup=checkout_pb2.StorePickup(store_id=fulfilment.store_id))
    return checkout_pb2.FulfilmentMethod(ship=checkout_pb2.ShipToAddress(address=address_pb(fulfilment.address)))


def failure_pb(c: Checkout) -> checkout_pb2.CheckoutFailure | None:
    if c.failure is None:
        return None
    return checkout_pb2.CheckoutFailure(
        code=FAILURE_TO_PB[c.failure.code], step=STEP_TO_PB[c.failure.step], message=c.failure.message
    )


def next_action_pb(c: Checkout) -> checkout_pb2.NextAction | None:
    """What the customer must do, while the checkout waits for it (and only then)."""
    action = c.action
    if c.status is not Status.ACTION_REQUIRED or action is None:
        return None
    return checkout_pb2.NextAction(
        type=action.type, url=action.url, client_secret=action.client_secret, expires_at=timestamp(action.expires_at)
    )


def checkout_pb(c: Checkout) -> checkout_pb2.Checkout:
    pb = checkout_pb2.Checkout(
        checkout_id=c.checkout_id,
        idempotency_key=c.request.idempotency_key,
        cart_id=c.request.cart_id,
        customer=customer_pb(c.request.customer),
        email=c.request.email,
        status=STATUS_TO_PB[c.status],
        steps=[
            checkout_pb2.CheckoutStep(
                kind=STEP_TO_PB[step.kind],
                state=STATE_TO_PB[step.state],
                attempts=step.attempts,
                error=step.error,
                started_at=timestamp(step.started_at),
                finished_at=timestamp(step.finished_at),
            )
            for step in c.steps
        ],
        failure=failure_pb(c),
        order_id=c.order.order_id if c.order else "",
        order_number=c.order.number if c.order else "",
        payment_method=payment_pb(c),
        payment_attempts=[
            checkout_pb2.PaymentAttempt(
                attempt_id=attempt.attempt_id,
                operation=attempt.operation,
                succeeded=attempt.succeeded,
                provider_reference=attempt.provider_reference,
                decline_code=attempt.decline_code,
                amount=money_pb(attempt.amount),
                attempted_at=timestamp(attempt.attempted_at),
            )
            for attempt in c.payment_attempts
        ],
        fulfilment_method=fulfilment_pb(c),
        billing_address=address_pb(c.request.billing_address),
        fraud_assessment_id=c.fraud.assessment_id if c.fraud else "",
        fraud_review_id=c.fraud.review_id if c.fraud else "",
        approval_required=c.approval_required,
        hold_expires_at=timestamp(c.hold_expires_at),
        created_at=timestamp(c.created_at),
        updated_at=timestamp(c.updated_at),
        finished_at=timestamp(c.finished_at),
        payment_captured=c.captured,
        next_action=next_action_pb(c),
    )
    if c.quote is not None:
        totals = c.quote.totals
        pb.totals.CopyFrom(
            checkout_pb2.CheckoutTotals(
                subtotal=money_pb(totals.subtotal),
                discount_total=money_pb(totals.discount_total),
                shipping_total=money_pb(totals.shipping_total),
                tax_total=money_pb(totals.tax_total),
                total=money_pb(totals.total),
                tax_included=totals.tax_included,
            )
        )
    return pb


def place_order_response(c: Checkout) -> checkout_pb2.PlaceOrderResponse:
    return checkout_pb2.PlaceOrderResponse(
        checkout_id=c.checkout_id,
        order_id=c.order.order_id if c.order else "",
        order_number=c.order.number if c.order else "",
        status=STATUS_TO_PB[c.status],
        failure=failure_pb(c) if c.status is Status.FAILED else None,
        next_action=next_action_pb(c),
    )


def is_card(c: Checkout) -> bool:
    return isinstance(c.request.payment, CardPayment)


def is_invoice(c: Checkout) -> bool:
    return isinstance(c.request.payment, InvoicePayment)


def shipping_address(c: Checkout) -> Address | None:
    fulfilment = c.request.fulfilment
    return fulfilment.address if isinstance(fulfilment, Ship) else None
