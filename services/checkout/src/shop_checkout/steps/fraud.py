"""The saga's fraud call: ASSESS_FRAUD (Assess) with the purchase's context, including the card's
details from the payment provider and the country the goods go to (a pickup store's, from
inventory).
"""

from __future__ import annotations

from shop.fraud.v1 import fraud_pb2
from shop_checkout import mapping
from shop_checkout.domain.model import CardDetails, CardPayment, Checkout, FailureCode, FraudResult, Pickup, StepKind
from shop_checkout.domain.outcomes import Assessed, Failed, Outcome, Succeeded
from shop_checkout.payments import PaymentMethodUnknown, PaymentRejected, Payments
from shop_checkout.peers import Peers
from shop_checkout.steps.inventory import pickup_country
from shop_checkout.steps.messages import failure_message, pickup_message


async def assess(peers: Peers, payments: Payments, c: Checkout) -> Outcome:
    kind = StepKind.ASSESS_FRAUD
    card: CardDetails | None = None
    if isinstance(c.request.payment, CardPayment):
        try:
            card = await payments.card_details(c.request.payment.payment_method_id)
        except (PaymentMethodUnknown, PaymentRejected):
            return Failed(kind, FailureCode.PAYMENT_METHOD_INVALID, failure_message(FailureCode.PAYMENT_METHOD_INVALID))
    fulfilment = c.request.fulfilment
    if isinstance(fulfilment, Pickup):
        shipping_country = await pickup_country(peers, fulfilment.store_id)
        if shipping_country is None:
            return Failed(kind, FailureCode.PICKUP_UNAVAILABLE, pickup_message(fulfilment.store_id))
    else:
        shipping_country = fulfilment.address.country
    assert c.quote is not None
    request = c.request
    context = fraud_pb2.PurchaseContext(
        customer_id=request.customer.customer_id,
        account_id=request.customer.account_id,
        email=request.email,
        account_created_at=mapping.timestamp(request.customer_since),
        amount=mapping.money_pb(c.quote.totals.total),
        ip=request.client_ip,
        ip_country=request.client_ip_country,
        device_id=request.device_id,
        card_fingerprint=card.fingerprint if card else "",
        card_country=card.country if card else "",
        billing_country=request.billing_address.country,
        shipping_country=shipping_country,
        lines=[
            fraud_pb2.AssessedLine(sku=line.sku, quantity=line.quantity, unit_price=mapping.money_pb(line.unit_price))
            for line in c.quote.lines
        ],
        channel=request.customer.channel,
    )
    response = await peers.call(
        "fraud", peers.fraud.Assess, fraud_pb2.AssessRequest(checkout_id=c.checkout_id, context=context)
    )
    assessment = response.assessment
    result = FraudResult(
        assessment_id=assessment.assessment_id,
        decision=mapping.decision(assessment.decision),
        review_id=assessment.review_id,
        score=assessment.score,
    )
    return Succeeded(kind, Assessed(result, card))
