"""The saga's payment provider calls: AUTHORISE_PAYMENT (or, once the provider asked for the
customer's action, 3-D Secure, reading what became of that authorisation) and its undo, the void of
whatever the provider holds; each recorded as a PaymentAttempt.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from shop_checkout.domain import rules
from shop_checkout.domain.model import CardPayment, Checkout, FailureCode, PaymentAttempt, StepKind
from shop_checkout.domain.outcomes import (
    ActionRequired,
    AuthorisationAnswered,
    Compensated,
    Failed,
    Outcome,
    Succeeded,
)
from shop_checkout.payments import (
    AuthorisationReply,
    PaymentMethodUnknown,
    PaymentRejected,
    Payments,
    PaymentUnavailable,
)
from shop_checkout.steps.messages import failure_message
from shopkit.money import Money

log = logging.getLogger("shop_checkout.steps")  # one logger for all the step calls


async def authorise(payments: Payments, c: Checkout) -> Outcome:
    kind = StepKind.AUTHORISE_PAYMENT
    assert isinstance(c.request.payment, CardPayment) and c.quote is not None
    amount = c.quote.totals.total
    key = rules.authorise_key(c.checkout_id)
    try:
        if c.action is not None:  # asked for an action: read what became of it (never authorise twice)
            reply = await payments.authorisation(c.action.authorisation_id)
        else:
            reply = await payments.authorise(
                c.request.payment.payment_method_id, amount, idempotency_key=key, checkout_id=c.checkout_id
            )
    except PaymentMethodUnknown:
        return Failed(kind, FailureCode.PAYMENT_METHOD_INVALID, failure_message(FailureCode.PAYMENT_METHOD_INVALID))
    except PaymentRejected as exc:
        log.warning("authorisation of checkout %s refused: %s", c.checkout_id, exc)
        return Failed(kind, FailureCode.PAYMENT_ERROR, failure_message(FailureCode.PAYMENT_ERROR), error=str(exc))
    attempt = _authorise_attempt(key, reply, amount)
    if reply.action is not None:
        return Succeeded(kind, ActionRequired(attempt, reply.action))
    message = _decline_message(reply.decline_code) if not reply.approved else ""
    return Succeeded(
        kind,
        AuthorisationAnswered(attempt, reply.approved, reply.authorisation_id, reply.decline_code, message),
    )


async def void(payments: Payments, c: Checkout) -> Outcome:
    kind = StepKind.AUTHORISE_PAYMENT
    authorisation_id = c.authorisation.authorisation_id if c.authorisation else ""
    if not authorisation_id and c.action is not None:
        authorisation_id = c.action.authorisation_id  # voiding one that waits for the action cancels it
    if not authorisation_id:
        # The outcome of the authorisation is unknown: ask again under the same key. The provider
        # answers with what the first call did (or does it now), and whatever it holds is voided.
        assert isinstance(c.request.payment, CardPayment) and c.quote is not None
        try:
            reply = await payments.authorise(
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
    status = await payments.void(authorisation_id, idempotency_key=key)
    attempt = PaymentAttempt(
        attempt_id=key,
        operation="void",
        succeeded=status == "voided",
        amount=c.quote.totals.total,
        attempted_at=datetime.now(UTC),
        provider_reference=authorisation_id,
    )
    return Compensated(kind, note=f"authorisation {status}", attempt=attempt)


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


def _decline_message(code: str) -> str:
    reasons = {
        "insufficient_funds": "The card has insufficient funds.",
        "authentication_required": "The card needs authentication (3-D Secure) that was not completed.",
        "authentication_failed": "The card's authentication (3-D Secure) failed; nothing was charged.",
        "expired_card": "The card has expired.",
    }
    return reasons.get(code, "The card was declined.")
