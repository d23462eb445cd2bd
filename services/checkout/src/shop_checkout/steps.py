"""The calls behind each saga step and each compensation, and how their answers map to outcomes.

`run` and `undo` never raise for an answer of a peer: definitive refusals become `Failed` (forward)
or a `Compensated` with a note (undo: there is nothing more to undo); everything that may pass
becomes `Transient` / `CompensationFailed` and is retried with the same idempotent request.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.duration_pb2 import Duration

from shop.cart.v1 import cart_pb2
from shop.fraud.v1 import fraud_pb2
from shop.inventory.v1 import inventory_pb2
from shop.order.v1 import order_pb2
from shop.pricing.v1 import pricing_pb2
from shop_checkout import approvals, credit, mapping, quoting
from shop_checkout.domain import rules
from shop_checkout.domain.model import (
    CardDetails,
    CardPayment,
    Checkout,
    FailureCode,
    FraudResult,
    InvoicePayment,
    OrderRef,
    PaymentAttempt,
    Pickup,
    StepKind,
)
from shop_checkout.domain.saga import (
    ActionRequired,
    Assessed,
    AuthorisationAnswered,
    CartCleared,
    Compensated,
    CompensationFailed,
    CouponRedeemed,
    Failed,
    HoldReleased,
    OrderCreated,
    Outcome,
    PaymentCaptured,
    Policy,
    Quoted,
    Reserved,
    SalesQuoteRedeemed,
    StockCommitted,
    Succeeded,
    Transient,
    cancel_reason_for,
    reservation_ttl,
)
from shop_checkout.payments import (
    AuthorisationReply,
    PaymentMethodUnknown,
    PaymentRejected,
    Payments,
    PaymentUnavailable,
)
from shop_checkout.peers import PeerError, Peers
from shopkit.money import Money

log = logging.getLogger("shop_checkout.steps")

RESERVATION_EXPIRED = "RESERVATION_EXPIRED"  # inventory's reason
STOCK_LAPSED = (
    "The stock held for this order ran out while it waited for its approvals and is no longer available; "
    "the order was cancelled and nothing was charged. Please order again (or ask for a new quote)."
)

Handler = Callable[[Checkout], Awaitable[Outcome]]


class StepExecutor:
    def __init__(self, peers: Peers, payments: Payments, policy: Policy, *, allow_split: bool):
        self.peers = peers
        self.payments = payments
        self.policy = policy
        self.allow_split = allow_split
        self._forward: dict[StepKind, Handler] = {
            StepKind.QUOTE_PRICES: self._quote,
            StepKind.ASSESS_FRAUD: self._assess,
            StepKind.RESERVE_STOCK: self._reserve,
            StepKind.REDEEM_COUPON: self._redeem,
            StepKind.REDEEM_SALES_QUOTE: self._redeem_sales_quote,
            StepKind.AUTHORISE_PAYMENT: self._authorise,
            StepKind.CREATE_ORDER: self._create_order,
            StepKind.AWAIT_FRAUD_REVIEW: self._release_fraud_hold,
            StepKind.COMMIT_STOCK: self._commit,
            StepKind.CAPTURE_PAYMENT: self._capture,
            StepKind.CLEAR_CART: self._clear_cart,
        }
        self._backward: dict[StepKind, Handler] = {
            StepKind.CREATE_ORDER: self._cancel_order,
            StepKind.AUTHORISE_PAYMENT: self._void,
            StepKind.REDEEM_COUPON: self._release_coupon,
            StepKind.REDEEM_SALES_QUOTE: self._release_sales_quote,
            StepKind.RESERVE_STOCK: self._release_stock,
        }

    async def run(self, c: Checkout, kind: StepKind) -> Outcome:
        try:
            return await self._forward[kind](c)
        except PeerError as exc:
            if exc.transient:
                return Transient(kind, str(exc))
            log.warning("step %s of checkout %s refused: %s", kind.value, c.checkout_id, exc)
            return Failed(kind, FailureCode.INTERNAL, _message(FailureCode.INTERNAL), error=str(exc))
        except PaymentUnavailable as exc:
            return Transient(kind, f"payment provider: {exc}")

    async def undo(self, c: Checkout, kind: StepKind) -> Outcome:
        try:
            return await self._backward[kind](c)
        except PeerError as exc:
            if exc.transient:
                return CompensationFailed(kind, str(exc))
            # Nothing more can be done by repeating it; operations see the note on the step.
            log.error("undoing %s of checkout %s refused: %s", kind.value, c.checkout_id, exc)
            return Compensated(kind, note=f"undo refused: {exc}")
        except PaymentUnavailable as exc:
            return CompensationFailed(kind, f"payment provider: {exc}")
        except PaymentRejected as exc:
            log.error("voiding the authorisation of checkout %s refused: %s", c.checkout_id, exc)
            return Compensated(kind, note=f"void refused: {exc}")

    # --- forward -------------------------------------------------------------------------------

    async def _quote(self, c: Checkout) -> Outcome:
        fulfilment = c.request.fulfilment
        if isinstance(fulfilment, Pickup):
            location = await self._store(fulfilment.store_id)
            if location is None:
                message = _pickup_message(fulfilment.store_id)
                return Failed(StepKind.QUOTE_PRICES, FailureCode.PICKUP_UNAVAILABLE, message)
            destination = quoting.pickup_destination(location.address, location.country)
        else:
            destination = quoting.ship_destination(fulfilment)
        request = quoting.quote_request(c.request, c.cart, destination)
        try:
            response = await self.peers.call("pricing", self.peers.pricing.Quote, request)
        except PeerError as exc:
            if exc.code is grpc.StatusCode.INVALID_ARGUMENT:
                message = "Some items in the cart cannot be ordered as they are."
                return Failed(StepKind.QUOTE_PRICES, FailureCode.CART_NOT_CHECKOUTABLE, message)
            refused = _quote_refused(c, exc)
            if refused:
                return Failed(StepKind.QUOTE_PRICES, FailureCode.QUOTE_UNAVAILABLE, refused)
            raise
        applied = response.HasField("coupon") and response.coupon.applied
        quote = quoting.quote_from_pb(response, c.cart)
        # Invoice orders: weighed against the account's credit now, before anything is reserved.
        over = await credit.precheck(self.peers, c, quote.totals.total)
        if over is not None:
            return over
        chain = await approvals.resolve(self.peers, c, quote.totals.total)
        return Succeeded(
            StepKind.QUOTE_PRICES,
            Quoted(
                quote,
                approval_chain=chain,
                unpriced_skus=tuple(problem.sku for problem in response.problems),
                coupon_applied=applied,
                coupon_reason=response.coupon.reason if response.HasField("coupon") else "",
            ),
        )

    async def _assess(self, c: Checkout) -> Outcome:
        kind = StepKind.ASSESS_FRAUD
        card: CardDetails | None = None
        if isinstance(c.request.payment, CardPayment):
            try:
                card = await self.payments.card_details(c.request.payment.payment_method_id)
            except (PaymentMethodUnknown, PaymentRejected):
                return Failed(kind, FailureCode.PAYMENT_METHOD_INVALID, _message(FailureCode.PAYMENT_METHOD_INVALID))
        fulfilment = c.request.fulfilment
        if isinstance(fulfilment, Pickup):
            shipping_country = await self._store_country(fulfilment.store_id)
            if shipping_country is None:
                return Failed(kind, FailureCode.PICKUP_UNAVAILABLE, _pickup_message(fulfilment.store_id))
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
                fraud_pb2.AssessedLine(
                    sku=line.sku, quantity=line.quantity, unit_price=mapping.money_pb(line.unit_price)
                )
                for line in c.quote.lines
            ],
            channel=request.customer.channel,
        )
        response = await self.peers.call(
            "fraud", self.peers.fraud.Assess, fraud_pb2.AssessRequest(checkout_id=c.checkout_id, context=context)
        )
        assessment = response.assessment
        result = FraudResult(
            assessment_id=assessment.assessment_id,
            decision=mapping.decision(assessment.decision),
            review_id=assessment.review_id,
            score=assessment.score,
        )
        return Succeeded(kind, Assessed(result, card))

    async def _store_country(self, store_id: str) -> str | None:
        """The country of a pickup store; None when it is no active click-and-collect store."""
        location = await self._store(store_id)
        return location.country if location is not None else None

    async def _store(self, store_id: str) -> inventory_pb2.Location | None:
        """A pickup store; None when it is no active click-and-collect store."""
        try:
            location = await self.peers.call(
                "inventory",
                self.peers.inventory.GetLocation,
                inventory_pb2.GetLocationRequest(location_id=store_id),
            )
        except PeerError as exc:
            if exc.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise
        usable = location.type == inventory_pb2.LOCATION_TYPE_STORE and location.click_and_collect and location.active
        return location if usable else None

    def _reserve_request(self, c: Checkout, ttl: timedelta) -> inventory_pb2.ReserveRequest:
        quantities: dict[str, int] = {}
        for line in c.cart.lines:
            quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
        duration = Duration()
        duration.FromTimedelta(ttl)
        request = inventory_pb2.ReserveRequest(
            reservation_id=c.checkout_id,
            lines=[inventory_pb2.ReservationLine(sku=sku, quantity=q) for sku, q in sorted(quantities.items())],
            ttl=duration,
        )
        fulfilment = c.request.fulfilment
        if isinstance(fulfilment, Pickup):
            request.pickup.store_id = fulfilment.store_id
        else:
            request.ship.country = fulfilment.address.country
            request.allow_split = self.allow_split
        return request

    async def _reserve(self, c: Checkout) -> Outcome:
        kind = StepKind.RESERVE_STOCK
        fulfilment = c.request.fulfilment
        request = self._reserve_request(c, reservation_ttl(c, self.policy))
        try:
            response = await self.peers.call("inventory", self.peers.inventory.Reserve, request)
        except PeerError as exc:
            if exc.reason == "INSUFFICIENT_STOCK":
                short = "; ".join(f"{v.subject.removeprefix('sku:')}: {v.description}" for v in exc.info.preconditions)
                message = f"Not enough stock{' (' + short + ')' if short else ''}."
                return Failed(kind, FailureCode.OUT_OF_STOCK, message)
            if exc.reason == "PICKUP_NOT_AVAILABLE" or exc.code is grpc.StatusCode.NOT_FOUND:
                store = fulfilment.store_id if isinstance(fulfilment, Pickup) else ""
                return Failed(kind, FailureCode.PICKUP_UNAVAILABLE, _pickup_message(store))
            raise
        reservation = response.reservation
        if reservation.status != inventory_pb2.RESERVATION_STATUS_ACTIVE:
            # A repeat found the reservation of an earlier attempt already released or expired.
            return Failed(kind, FailureCode.OUT_OF_STOCK, "The items could no longer be held for you.")
        return Succeeded(kind, Reserved(reservation.expires_at.ToDatetime(tzinfo=UTC)))

    async def _redeem(self, c: Checkout) -> Outcome:
        kind = StepKind.REDEEM_COUPON
        assert c.quote is not None
        request = pricing_pb2.RedeemCouponRequest(
            code=c.quote.coupon_code, customer_id=rules.coupon_customer(c.request), idempotency_key=c.checkout_id
        )
        try:
            await self.peers.call("pricing", self.peers.pricing.RedeemCoupon, request)
        except PeerError as exc:
            if exc.code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                why = exc.reason.removeprefix("COUPON_").lower().replace("_", " ")
                message = f"The coupon {c.quote.coupon_code} can no longer be used ({why})."
                return Failed(kind, FailureCode.COUPON_UNAVAILABLE, message)
            raise
        return Succeeded(kind, CouponRedeemed())

    async def _redeem_sales_quote(self, c: Checkout) -> Outcome:
        kind = StepKind.REDEEM_SALES_QUOTE
        request = pricing_pb2.RedeemSalesQuoteRequest(
            quote_id=c.request.sales_quote_id,
            checkout_id=c.checkout_id,
            account_id=c.request.customer.account_id,
        )
        try:
            await self.peers.call("pricing", self.peers.pricing.RedeemSalesQuote, request)
        except PeerError as exc:
            refused = _quote_refused(c, exc)
            if refused:
                return Failed(kind, FailureCode.QUOTE_UNAVAILABLE, refused)
            raise
        return Succeeded(kind, SalesQuoteRedeemed())

    async def _authorise(self, c: Checkout) -> Outcome:
        kind = StepKind.AUTHORISE_PAYMENT
        assert isinstance(c.request.payment, CardPayment) and c.quote is not None
        amount = c.quote.totals.total
        key = rules.authorise_key(c.checkout_id)
        try:
            if c.action is not None:  # asked for an action: read what became of it (never authorise twice)
                reply = await self.payments.authorisation(c.action.authorisation_id)
            else:
                reply = await self.payments.authorise(
                    c.request.payment.payment_method_id, amount, idempotency_key=key, checkout_id=c.checkout_id
                )
        except PaymentMethodUnknown:
            return Failed(kind, FailureCode.PAYMENT_METHOD_INVALID, _message(FailureCode.PAYMENT_METHOD_INVALID))
        except PaymentRejected as exc:
            log.warning("authorisation of checkout %s refused: %s", c.checkout_id, exc)
            return Failed(kind, FailureCode.PAYMENT_ERROR, _message(FailureCode.PAYMENT_ERROR), error=str(exc))
        attempt = _authorise_attempt(key, reply, amount)
        if reply.action is not None:
            return Succeeded(kind, ActionRequired(attempt, reply.action))
        message = _decline_message(reply.decline_code) if not reply.approved else ""
        return Succeeded(
            kind,
            AuthorisationAnswered(attempt, reply.approved, reply.authorisation_id, reply.decline_code, message),
        )

    async def _create_order(self, c: Checkout) -> Outcome:
        kind = StepKind.CREATE_ORDER
        try:
            response = await self.peers.call("order", self.peers.order.CreateOrder, self._order_request(c))
        except PeerError as exc:
            refused = credit.refusal(exc)
            if refused is not None:
                return refused
            raise
        order = response.order
        return Succeeded(kind, OrderCreated(OrderRef(order.order_id, order.number, mapping.order_status(order.status))))

    def _order_request(self, c: Checkout) -> order_pb2.CreateOrderRequest:
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

    async def _release_fraud_hold(self, c: Checkout) -> Outcome:
        kind = StepKind.AWAIT_FRAUD_REVIEW
        assert c.order is not None and c.fraud is not None
        request = order_pb2.ReleaseFraudHoldRequest(order_id=c.order.order_id, review_id=c.fraud.review_id)
        try:
            response = await self.peers.call("order", self.peers.order.ReleaseFraudHold, request)
        except PeerError as exc:
            if exc.code is grpc.StatusCode.FAILED_PRECONDITION:
                return Failed(kind, FailureCode.ORDER_CANCELLED, _message(FailureCode.ORDER_CANCELLED))
            raise
        return Succeeded(kind, HoldReleased(mapping.order_status(response.order.status)))

    async def _commit(self, c: Checkout) -> Outcome:
        kind = StepKind.COMMIT_STOCK
        request = inventory_pb2.CommitRequest(reservation_id=c.checkout_id)
        try:
            await self.peers.call("inventory", self.peers.inventory.Commit, request)
        except PeerError as exc:
            lapsed = exc.reason == RESERVATION_EXPIRED and c.approval_required
            if lapsed:
                # A long approval outlived the stock hold: the same lines again, under the same id
                # (the order's reservation_id stays valid), then the commit.
                refused = await self._reserve_again(c)
                if refused is not None:
                    return refused
                return await self._commit(dataclasses.replace(c, approval_required=False))
            if exc.code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                return Failed(kind, FailureCode.STOCK_COMMIT_FAILED, _message(FailureCode.STOCK_COMMIT_FAILED))
            raise
        return Succeeded(kind, StockCommitted())

    async def _reserve_again(self, c: Checkout) -> Failed | None:
        """Reserve an approved order's lapsed reservation anew; a Failed COMMIT_STOCK when the stock
        is gone (the order is cancelled and nothing is charged: the buyer re-orders or re-quotes)."""
        request = self._reserve_request(c, self.policy.reservation_ttl)
        request.renew_expired = True
        try:
            await self.peers.call("inventory", self.peers.inventory.Reserve, request)
        except PeerError as exc:
            if exc.reason != "INSUFFICIENT_STOCK":
                raise
            return Failed(StepKind.COMMIT_STOCK, FailureCode.OUT_OF_STOCK, STOCK_LAPSED)
        return None

    async def _capture(self, c: Checkout) -> Outcome:
        kind = StepKind.CAPTURE_PAYMENT
        assert c.order is not None
        request = order_pb2.CapturePaymentRequest(order_id=c.order.order_id)
        try:
            await self.peers.call("order", self.peers.order.CapturePayment, request)
        except PeerError as exc:
            if exc.code is grpc.StatusCode.FAILED_PRECONDITION:
                return Failed(kind, FailureCode.PAYMENT_ERROR, _message(FailureCode.PAYMENT_ERROR))
            raise
        return Succeeded(kind, PaymentCaptured())

    async def _clear_cart(self, c: Checkout) -> Outcome:
        kind = StepKind.CLEAR_CART
        assert c.order is not None
        request = cart_pb2.CheckOutCartRequest(
            cart_id=c.request.cart_id, checkout_id=c.checkout_id, order_id=c.order.order_id
        )
        try:
            await self.peers.call("cart", self.peers.cart.CheckOutCart, request)
        except PeerError as exc:
            if exc.code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                # The order stands; a cart that expired or was merged meanwhile is left as it is.
                return Succeeded(kind, CartCleared(note=f"cart left as it was: {exc.info.message}"))
            raise
        return Succeeded(kind, CartCleared())

    # --- backward ------------------------------------------------------------------------------

    async def _cancel_order(self, c: Checkout) -> Outcome:
        assert c.order is not None
        reason = cancel_reason_for(c.failure)
        request = order_pb2.CancelOrderRequest(
            order_id=c.order.order_id,
            reason=mapping.CANCEL_REASON_TO_PB[reason],
            note=c.failure.message if c.failure else "",
        )
        await self.peers.call("order", self.peers.order.CancelOrder, request)
        return Compensated(StepKind.CREATE_ORDER, note=f"order cancelled ({reason.value})")

    async def _void(self, c: Checkout) -> Outcome:
        kind = StepKind.AUTHORISE_PAYMENT
        authorisation_id = c.authorisation.authorisation_id if c.authorisation else ""
        if not authorisation_id and c.action is not None:
            authorisation_id = c.action.authorisation_id  # voiding one that waits for the action cancels it
        if not authorisation_id:
            # The outcome of the authorisation is unknown: ask again under the same key. The provider
            # answers with what the first call did (or does it now), and whatever it holds is voided.
            assert isinstance(c.request.payment, CardPayment) and c.quote is not None
            try:
                reply = await self.payments.authorise(
                    c.request.payment.payment_method_id,
                    c.quote.totals.total,
                    idempotency_key=rules.authorise_key(c.checkout_id),
                    checkout_id=c.checkout_id,
                )
            except PaymentUnavailable as exc:
                if exc.nothing_held:
                    return Compensated(kind, note="the provider holds nothing")
                raise
            except (PaymentMethodUnknown, PaymentRejected):
                return Compensated(kind, note="the provider holds nothing")
            if not reply.approved and reply.action is None:  # one waiting for its action is voided too
                return Compensated(kind, note="the provider holds nothing")
            authorisation_id = reply.authorisation_id
        assert c.quote is not None
        key = rules.void_key(c.checkout_id)
        status = await self.payments.void(authorisation_id, idempotency_key=key)
        attempt = PaymentAttempt(
            attempt_id=key,
            operation="void",
            succeeded=status == "voided",
            amount=c.quote.totals.total,
            attempted_at=datetime.now(UTC),
            provider_reference=authorisation_id,
        )
        return Compensated(kind, note=f"authorisation {status}", attempt=attempt)

    async def _release_coupon(self, c: Checkout) -> Outcome:
        # Also for a redemption whose outcome is unknown: releasing an unknown key leaves a tombstone
        # that makes a late redemption with it fail.
        request = pricing_pb2.ReleaseCouponRedemptionRequest(idempotency_key=c.checkout_id)
        await self.peers.call("pricing", self.peers.pricing.ReleaseCouponRedemption, request)
        return Compensated(StepKind.REDEEM_COUPON, note="coupon use given back")

    async def _release_sales_quote(self, c: Checkout) -> Outcome:
        # As for coupons: releasing a checkout that redeemed nothing leaves a tombstone in pricing.
        request = pricing_pb2.ReleaseSalesQuoteRequest(checkout_id=c.checkout_id)
        await self.peers.call("pricing", self.peers.pricing.ReleaseSalesQuote, request)
        return Compensated(StepKind.REDEEM_SALES_QUOTE, note="sales quote accepted again")

    async def _release_stock(self, c: Checkout) -> Outcome:
        kind = StepKind.RESERVE_STOCK
        reason = c.failure.code.value if c.failure else "checkout_failed"
        request = inventory_pb2.ReleaseRequest(reservation_id=c.checkout_id, reason=reason)
        try:
            await self.peers.call("inventory", self.peers.inventory.Release, request)
        except PeerError as exc:
            if exc.code is grpc.StatusCode.NOT_FOUND:
                return Compensated(kind, note="nothing was reserved")
            if exc.reason == "RESERVATION_COMMITTED":
                return Compensated(kind, note="stock was committed; the order's cancellation gives it back")
            raise
        return Compensated(kind, note="stock released")


def _authorise_attempt(key: str, reply: AuthorisationReply, amount: Money) -> PaymentAttempt:
    return PaymentAttempt(
        attempt_id=key,
        operation="authorise",
        succeeded=reply.approved,
        amount=amount,
        attempted_at=datetime.now(UTC),
        provider_reference=reply.authorisation_id,
        decline_code=reply.decline_code,
    )


def _quote_refused(c: Checkout, exc: PeerError) -> str:
    """The customer's message when pricing refused the checkout's sales quote; empty for other errors."""
    if not c.request.sales_quote_id:
        return ""
    if exc.code is grpc.StatusCode.NOT_FOUND:
        return f"The quote {c.request.sales_quote_id} was not found for your account."
    if exc.code is grpc.StatusCode.FAILED_PRECONDITION and exc.reason.startswith("QUOTE_"):
        return f"The quote cannot be ordered: {exc.info.message}"
    return ""


def _message(code: FailureCode) -> str:
    return {
        FailureCode.INTERNAL: "Something went wrong; nothing was charged. Please try again.",
        FailureCode.PAYMENT_METHOD_INVALID: "The payment method cannot be used; please choose another one.",
        FailureCode.PAYMENT_ERROR: "The payment could not be processed; nothing was charged.",
        FailureCode.ORDER_CANCELLED: "The order was cancelled; nothing was charged.",
        FailureCode.STOCK_COMMIT_FAILED: "The items could not be set aside in time; nothing was charged.",
    }[code]


def _pickup_message(store_id: str) -> str:
    return f"Pickup is not available at store {store_id!r}."


def _decline_message(code: str) -> str:
    reasons = {
        "insufficient_funds": "The card has insufficient funds.",
        "authentication_required": "The card needs authentication (3-D Secure) that was not completed.",
        "authentication_failed": "The card's authentication (3-D Secure) failed; nothing was charged.",
        "expired_card": "The card has expired.",
    }
    return reasons.get(code, "The card was declined.")
