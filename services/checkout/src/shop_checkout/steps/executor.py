"""`StepExecutor` runs a saga step, or the undo of one, by its kind: it dispatches to the call of
the peer the step talks to (the sibling modules of this package).

`run` and `undo` never raise for an answer of a peer: definitive refusals become `Failed` (forward)
or a `Compensated` with a note (undo: there is nothing more to undo); everything that may pass
becomes `Transient` / `CompensationFailed` and is retried with the same idempotent request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from shop_checkout.domain.model import Checkout, FailureCode, StepKind
from shop_checkout.domain.outcomes import Compensated, CompensationFailed, Failed, Outcome, Transient
from shop_checkout.domain.transitions import Policy
from shop_checkout.payments import PaymentRejected, Payments, PaymentUnavailable
from shop_checkout.peers import PeerError, Peers
from shop_checkout.steps import cart, fraud, inventory, order, payment, pricing
from shop_checkout.steps.messages import failure_message

log = logging.getLogger("shop_checkout.steps")  # one logger for all the step calls

Handler = Callable[[Checkout], Awaitable[Outcome]]


class StepExecutor:
    def __init__(self, peers: Peers, payments: Payments, policy: Policy, *, allow_split: bool) -> None:
        self.peers = peers
        self.payments = payments
        self.policy = policy
        self.allow_split = allow_split
        # The handlers read the executor's attributes when they run, not when they are listed.
        self._forward: dict[StepKind, Handler] = {
            StepKind.QUOTE_PRICES: lambda c: pricing.quote_prices(self.peers, c),
            StepKind.ASSESS_FRAUD: lambda c: fraud.assess(self.peers, self.payments, c),
            StepKind.RESERVE_STOCK: lambda c: inventory.reserve_stock(
                self.peers, self.policy, c, allow_split=self.allow_split
            ),
            StepKind.REDEEM_COUPON: lambda c: pricing.redeem_coupon(self.peers, c),
            StepKind.REDEEM_SALES_QUOTE: lambda c: pricing.redeem_sales_quote(self.peers, c),
            StepKind.AUTHORISE_PAYMENT: lambda c: payment.authorise(self.payments, c),
            StepKind.CREATE_ORDER: lambda c: order.create_order(self.peers, c),
            StepKind.AWAIT_FRAUD_REVIEW: lambda c: order.release_fraud_hold(self.peers, c),
            StepKind.COMMIT_STOCK: lambda c: inventory.commit_stock(
                self.peers, self.policy, c, allow_split=self.allow_split
            ),
            StepKind.CAPTURE_PAYMENT: lambda c: order.capture_payment(self.peers, c),
            StepKind.CLEAR_CART: lambda c: cart.clear_cart(self.peers, c),
        }
        self._backward: dict[StepKind, Handler] = {
            StepKind.CREATE_ORDER: lambda c: order.cancel_order(self.peers, c),
            StepKind.AUTHORISE_PAYMENT: lambda c: payment.void(self.payments, c),
            StepKind.REDEEM_COUPON: lambda c: pricing.release_coupon(self.peers, c),
            StepKind.REDEEM_SALES_QUOTE: lambda c: pricing.release_sales_quote(self.peers, c),
            StepKind.RESERVE_STOCK: lambda c: inventory.release_stock(self.peers, c),
        }

    async def run(self, c: Checkout, kind: StepKind) -> Outcome:
        try:
            return await self._forward[kind](c)
        except PeerError as exc:
            if exc.transient:
                return Transient(kind, str(exc))
            log.warning("step %s of checkout %s refused: %s", kind.value, c.checkout_id, exc)
            return Failed(kind, FailureCode.INTERNAL, failure_message(FailureCode.INTERNAL), error=str(exc))
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
