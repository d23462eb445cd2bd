"""The saga's order calls: CREATE_ORDER (CreateOrder, which order refuses for an invoice order past
the account's credit) and its undo (CancelOrder, which also voids or refunds the payment the order
owns), the release of the order's fraud hold once the review approved it (AWAIT_FRAUD_REVIEW,
ReleaseFraudHold) and CAPTURE_PAYMENT (CapturePayment).
"""

from __future__ import annotations

import grpc

from shop.order.v1 import order_pb2
from shop_checkout import approvals, credit, mapping
from shop_checkout.domain.model import Checkout, FailureCode, InvoicePayment, OrderRef, Pickup, StepKind
from shop_checkout.domain.outcomes import (
    Compensated,
    Failed,
    HoldReleased,
    OrderCreated,
    Outcome,
    PaymentCaptured,
    Succeeded,
)
from shop_checkout.domain.transitions import cancel_reason_for
from shop_checkout.peers import PeerError, Peers
from shop_checkout.steps.messages import failure_message
from shopkit.money import Money


async def create_order(peers: Peers, c: Checkout) -> Outcome:
    kind = StepKind.CREATE_ORDER
    try:
        response = await peers.call("order", peers.order.CreateOrder, _order_request(c))
    except PeerError as exc:
        refused = credit.refusal(exc)
        if refused is not None:
            return refused
        raise
    order = response.order
    return Succeeded(kind, OrderCreated(OrderRef(order.order_id, order.number, mapping.order_status(order.status))))


def _order_request(c: Checkout) -> order_pb2.CreateOrderRequest:
    assert c.quote is not None
    request = c.request
    totals = c.quote.totals
    payment = request.payment
    if isinstance(payment, InvoicePayment):
        order_payment = order_pb2.OrderPayment(
            kind=order_pb2.PAYMENT_METHOD_KIND_INVOICE,
            purchase_order_number=payment.purchase_order_number,
            payment_terms_days=request.payment_terms_days,
        )
    else:
        order_payment = order_pb2.OrderPayment(
            kind=order_pb2.PAYMENT_METHOD_KIND_CARD, payment_method_id=payment.payment_method_id
        )
        if c.authorisation is not None:
            order_payment.authorisation_id = c.authorisation.authorisation_id
            order_payment.authorised_amount.CopyFrom(mapping.money_pb(c.authorisation.amount))
    fulfilment = request.fulfilment
    if isinstance(fulfilment, Pickup):
        method = order_pb2.FulfilmentMethod(pickup=order_pb2.StorePickup(store_id=fulfilment.store_id))
    else:
        method = order_pb2.FulfilmentMethod(
            ship=order_pb2.ShipToAddress(address=mapping.address_pb(fulfilment.address))
        )
    customer = mapping.customer_pb(request.customer)
    customer.currency = totals.total.currency
    order_request = order_pb2.CreateOrderRequest(
        checkout_id=c.checkout_id,
        customer=customer,
        email=request.email,
        lines=[
            order_pb2.OrderLine(
                sku=line.sku,
                product_id=line.product_id,
                name=line.name or line.sku,
                quantity=line.quantity,
                unit_price=mapping.money_pb(line.unit_price),
                discount=mapping.money_pb(line.discount),
                line_total=mapping.money_pb(line.line_total),
                tax=mapping.money_pb(line.tax or Money.zero(line.line_total.currency)),
            )
            for line in c.quote.lines
        ],
        totals=order_pb2.OrderTotals(
            subtotal=mapping.money_pb(totals.subtotal),
            discount_total=mapping.money_pb(totals.discount_total),
            shipping_total=mapping.money_pb(totals.shipping_total),
            tax_total=mapping.money_pb(totals.tax_total),
            total=mapping.money_pb(totals.total),
            tax_included=totals.tax_included,
        ),
        coupon_code=c.quote.coupon_code,
        sales_quote_id=request.sales_quote_id,
        fulfilment_method=method,
        billing_address=mapping.address_pb(request.billing_address),
        payment=order_payment,
        fraud_review_id=c.fraud.review_id if c.fraud else "",
    )
    if c.approval_required and request.approval_limit is not None:
        order_request.approval_limit.CopyFrom(mapping.money_pb(request.approval_limit))
    if c.approval_required and c.approval_chain is not None:
        # The chain holds the order (its steps say who decides).
        order_request.approval_chain.CopyFrom(approvals.chain_pb(c.approval_chain))
    elif c.approval_required:  # a checkout recorded before chains: the buyer's limit holds it
        order_request.approval_required = True
    if isinstance(payment, InvoicePayment) and request.credit_limit is not None:
        order_request.credit_limit.CopyFrom(mapping.money_pb(request.credit_limit))
    return order_request


async def release_fraud_hold(peers: Peers, c: Checkout) -> Outcome:
    kind = StepKind.AWAIT_FRAUD_REVIEW
    assert c.order is not None and c.fraud is not None
    request = order_pb2.ReleaseFraudHoldRequest(order_id=c.order.order_id, review_id=c.fraud.review_id)
    try:
        response = await peers.call("order", peers.order.ReleaseFraudHold, request)
    except PeerError as exc:
        if exc.code is grpc.StatusCode.FAILED_PRECONDITION:
            return Failed(kind, FailureCode.ORDER_CANCELLED, failure_message(FailureCode.ORDER_CANCELLED))
        raise
    return Succeeded(kind, HoldReleased(mapping.order_status(response.order.status)))


async def capture_payment(peers: Peers, c: Checkout) -> Outcome:
    kind = StepKind.CAPTURE_PAYMENT
    assert c.order is not None
    request = order_pb2.CapturePaymentRequest(order_id=c.order.order_id)
    try:
        await peers.call("order", peers.order.CapturePayment, request)
    except PeerError as exc:
        if exc.code is grpc.StatusCode.FAILED_PRECONDITION:
            return Failed(kind, FailureCode.PAYMENT_ERROR, failure_message(FailureCode.PAYMENT_ERROR))
        raise
    return Succeeded(kind, PaymentCaptured())


async def cancel_order(peers: Peers, c: Checkout) -> Outcome:
    assert c.order is not None
    reason = cancel_reason_for(c.failure)
    request = order_pb2.CancelOrderRequest(
        order_id=c.order.order_id,
        reason=mapping.CANCEL_REASON_TO_PB[reason],
        note=c.failure.message if c.failure else "",
    )
    await peers.call("order", peers.order.CancelOrder, request)
    return Compensated(StepKind.CREATE_ORDER, note=f"order cancelled ({reason.value})")
