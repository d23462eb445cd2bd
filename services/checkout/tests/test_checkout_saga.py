"""The saga state machine, pure: no database, no network.

`simulate` plays the runner: it asks `next_action`, answers each step with the outcome a test
scripts, and records every action, so the tests read as the story of one checkout.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from shop_checkout.domain import holds, outcomes, rules, saga, transitions
from shop_checkout.domain.model import (
    Address,
    ApprovalPeriod,
    CancelReason,
    CardPayment,
    CartLine,
    CartSnapshot,
    Checkout,
    Customer,
    Decision,
    Failure,
    FailureCode,
    FraudResult,
    InvoicePayment,
    NextAction,
    OrderRef,
    OrderStatus,
    PaymentAttempt,
    Pickup,
    PlaceOrder,
    Quote,
    QuotedLine,
    ReviewDecision,
    Ship,
    Status,
    StepKind,
    StepState,
    Totals,
)
from shopkit.money import Money

K = StepKind
NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)
POLICY = transitions.Policy(max_attempts=3)
USD = "USD"


def usd(amount: int) -> Money:
    return Money(amount, USD)


def request(**changes: object) -> PlaceOrder:
    base = PlaceOrder(
        cart_id="5a3e0f7c-1111-4a6e-9b1a-000000000001",
        idempotency_key="key-00000001",
        payment=CardPayment("pm_1"),
        fulfilment=Ship(Address(name="A", line1="Road 1", city="Berlin", postal_code="10115", country="DE")),
        billing_address=Address(name="A", line1="Road 1", city="Berlin", postal_code="10115", country="DE"),
        customer=Customer(customer_id="cust-1", currency=USD),
        email="a@example.com",
        client_ip="203.0.113.9",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def checkout(coupon: str = "", **changes: object) -> Checkout:
    return Checkout(
        checkout_id="c0ffee00-0000-4000-8000-000000000001",
        customer_key="cust-1",
        fingerprint="fp",
        request=request(**changes),
        cart=CartSnapshot((CartLine("SKU-1", 2),), USD, coupon_code=coupon, coupon_applied=bool(coupon)),
        created_at=NOW,
        updated_at=NOW,
    )


def quoted(total: int = 2000, coupon: str = "") -> outcomes.Quoted:
    line = QuotedLine("SKU-1", 2, usd(1000), usd(0), usd(2000))
    totals = Totals(usd(2000), usd(2000 - total), usd(0), usd(0), usd(total))
    return outcomes.Quoted(Quote((line,), totals, coupon_code=coupon), coupon_applied=bool(coupon))


def authorised(approved: bool = True, decline: str = "") -> outcomes.AuthorisationAnswered:
    attempt = PaymentAttempt("checkout:x:authorize", "authorise", approved, usd(2000), NOW, "auth_1", decline)
    return outcomes.AuthorisationAnswered(attempt, approved, "auth_1" if approved else "", decline)


def order(status: OrderStatus = OrderStatus.CONFIRMED) -> outcomes.OrderCreated:
    return outcomes.OrderCreated(OrderRef("order-1", "SO-000001", status))


def assessed(decision: Decision = Decision.ALLOW) -> outcomes.Assessed:
    review = "review-1" if decision is Decision.REVIEW else ""
    return outcomes.Assessed(FraudResult("assessment-1", decision, review, 10))


HAPPY: dict[StepKind, outcomes.StepResult] = {
    K.QUOTE_PRICES: quoted(),
    K.ASSESS_FRAUD: assessed(),
    K.RESERVE_STOCK: outcomes.Reserved(NOW + timedelta(minutes=15)),
    K.REDEEM_COUPON: outcomes.CouponRedeemed(),
    K.REDEEM_SALES_QUOTE: outcomes.SalesQuoteRedeemed(),
    K.AUTHORISE_PAYMENT: authorised(),
    K.CREATE_ORDER: order(),
    K.AWAIT_FRAUD_REVIEW: outcomes.HoldReleased(OrderStatus.CONFIRMED),
    K.COMMIT_STOCK: outcomes.StockCommitted(),
    K.CAPTURE_PAYMENT: outcomes.PaymentCaptured(),
    K.CLEAR_CART: outcomes.CartCleared(),
}

Script = dict[StepKind, outcomes.StepResult | outcomes.Failed | outcomes.Transient]


def simulate(
    c: Checkout,
    script: Script | None = None,
    policy: transitions.Policy = POLICY,
    *,
    stop_before: StepKind | None = None,
) -> tuple[Checkout, list[str]]:
    """Run the saga until it waits or ends; the actions taken, e.g. 'run quote_prices', 'undo ...'."""
    answers = {**HAPPY, **(script or {})}
    log: list[str] = []
    for _ in range(100):
        action = saga.next_action(c, policy)
        if stop_before is not None and action == outcomes.Run(stop_before):
            return c, log
        match action:
            case outcomes.Done() | outcomes.Wait():
                return c, log
            case outcomes.Run(kind):
                log.append(f"run {kind.value}")
                c = saga.apply(c, outcomes.Started(kind), NOW, policy)
                answer = answers[kind]
                outcome: outcomes.Outcome = (
                    answer
                    if isinstance(answer, (outcomes.Failed, outcomes.Transient))
                    else outcomes.Succeeded(kind, answer)
                )
                c = saga.apply(c, outcome, NOW, policy)
            case outcomes.Skip(kind, reason):
                log.append(f"skip {kind.value}")
                c = saga.apply(c, outcomes.Skipped(kind, reason), NOW, policy)
            case outcomes.Compensate(kind):
                log.append(f"undo {kind.value}")
                c = saga.apply(c, outcomes.Compensated(kind), NOW, policy)
            case outcomes.Abort(failure):
                log.append(f"abort {failure.code.value}")
                c = transitions.abort(c, failure, NOW)
            case outcomes.Finish():
                log.append("finish")
                c = transitions.finish(c, NOW)
    raise AssertionError(f"the saga did not settle: {log}")


def states(c: Checkout) -> dict[str, str]:
    return {step.kind.value: step.state.value for step in c.steps}


# --- forward ---------------------------------------------------------------------------------------


def test_happy_path_runs_every_step_in_order_and_completes() -> None:
    done, log = simulate(checkout())
    assert log == [
        "run quote_prices",
        "run assess_fraud",
        "run reserve_stock",
        "skip redeem_coupon",
        "skip redeem_sales_quote",
        "run authorise_payment",
        "run create_order",
        "run commit_stock",
        "run capture_payment",
        "run clear_cart",
        "finish",
    ]
    assert done.status is Status.COMPLETED and done.finished_at == NOW and done.captured
    assert [s.kind for s in done.steps] == list(StepKind)
    assert states(done)["await_fraud_review"] == "skipped" and states(done)["await_approval"] == "skipped"
    assert done.authorisation is not None and done.order is not None


def test_coupon_is_redeemed_and_invoices_skip_the_card_steps() -> None:
    done, log = simulate(checkout(coupon="SAVE10"), {K.QUOTE_PRICES: quoted(1800, "SAVE10")})
    assert "run redeem_coupon" in log and done.status is Status.COMPLETED

    invoice = checkout(payment=InvoicePayment("PO-1"))
    done, log = simulate(invoice)
    assert "skip authorise_payment" in log and "skip capture_payment" in log
    assert done.status is Status.COMPLETED and not done.captured


def test_capture_can_be_left_to_fulfilment() -> None:
    done, log = simulate(checkout(), policy=dataclasses.replace(POLICY, capture_on_checkout=False))
    assert "skip capture_payment" in log and done.status is Status.COMPLETED and not done.captured


def test_advance_folds_what_needs_no_call_and_starts_the_next_call() -> None:
    started = saga.advance(checkout(), POLICY, NOW)
    assert saga.next_action(started, POLICY) == outcomes.Run(K.QUOTE_PRICES)
    assert states(started) == {"quote_prices": "running"}
    # After the reservation, the coupon step is skipped and the authorisation started in one version.
    assessed_, _ = simulate(checkout(), stop_before=K.RESERVE_STOCK)
    reserving = saga.advance(assessed_, POLICY, NOW)
    reserved = saga.apply(reserving, outcomes.Succeeded(K.RESERVE_STOCK, HAPPY[K.RESERVE_STOCK]), NOW, POLICY)
    reserved = saga.advance(reserved, POLICY, NOW)
    assert states(reserved)["redeem_coupon"] == "skipped" and states(reserved)["authorise_payment"] == "running"
    # A compensation with nothing left to undo is finished; a settled checkout comes back as it is.
    declined, _ = simulate(checkout(), {K.AUTHORISE_PAYMENT: authorised(approved=False)})
    assert declined.status is Status.FAILED and saga.advance(declined, POLICY, NOW) is declined


def test_a_running_step_is_run_again_after_a_crash() -> None:
    c = saga.apply(checkout(), outcomes.Started(K.QUOTE_PRICES), NOW, POLICY)
    assert saga.next_action(c, POLICY) == outcomes.Run(K.QUOTE_PRICES)
    c = saga.apply(c, outcomes.Started(K.QUOTE_PRICES), NOW, POLICY)
    step = c.step(K.QUOTE_PRICES)
    assert step is not None and step.attempts == 2 and step.state is StepState.RUNNING


# --- failures and compensation ---------------------------------------------------------------------


def test_declined_card_releases_stock_and_coupon_and_creates_no_order() -> None:
    done, log = simulate(
        checkout(coupon="SAVE10"),
        {K.QUOTE_PRICES: quoted(1800, "SAVE10"), K.AUTHORISE_PAYMENT: authorised(False, "insufficient_funds")},
    )
    assert log[-3:] == ["undo redeem_coupon", "undo reserve_stock", "finish"]
    assert done.status is Status.FAILED and done.order is None and done.authorisation is None
    assert done.failure is not None and done.failure.code is FailureCode.PAYMENT_DECLINED
    assert done.failure.step is K.AUTHORISE_PAYMENT
    assert states(done) == {
        "quote_prices": "succeeded",
        "assess_fraud": "succeeded",
        "reserve_stock": "compensated",
        "redeem_coupon": "compensated",
        "redeem_sales_quote": "skipped",
        "authorise_payment": "failed",
    }
    assert done.payment_attempts[0].decline_code == "insufficient_funds"


def test_a_sales_quote_is_redeemed_without_the_carts_coupon_and_released_on_failure() -> None:
    with_quote = checkout(coupon="SAVE10", sales_quote_id="quote-1")
    done, log = simulate(with_quote)  # the quote's prices come without the coupon: no coupon failure
    assert "skip redeem_coupon" in log and "run redeem_sales_quote" in log and done.status is Status.COMPLETED
    done, log = simulate(with_quote, {K.AUTHORISE_PAYMENT: authorised(False, "insufficient_funds")})
    assert log[-3:] == ["undo redeem_sales_quote", "undo reserve_stock", "finish"]
    assert states(done)["redeem_sales_quote"] == "compensated"
    refused = outcomes.Failed(K.REDEEM_SALES_QUOTE, FailureCode.QUOTE_UNAVAILABLE, "already ordered")
    done, log = simulate(with_quote, {K.REDEEM_SALES_QUOTE: refused})
    assert done.failure is not None and done.failure.code is FailureCode.QUOTE_UNAVAILABLE
    assert log[-2:] == ["undo reserve_stock", "finish"]  # a definitive refusal had no effect to undo


def test_fraud_block_fails_without_anything_to_undo() -> None:
    done, log = simulate(checkout(), {K.ASSESS_FRAUD: assessed(Decision.BLOCK)})
    assert log == ["run quote_prices", "run assess_fraud", "finish"]
    assert done.status is Status.FAILED and done.failure is not None
    assert done.failure.code is FailureCode.FRAUD_BLOCKED


def test_unsellable_lines_and_a_lost_coupon_fail_at_the_quote() -> None:
    unpriced = dataclasses.replace(quoted(), unpriced_skus=("SKU-1",))
    done, _ = simulate(checkout(), {K.QUOTE_PRICES: unpriced})
    assert done.failure is not None and done.failure.code is FailureCode.CART_NOT_CHECKOUTABLE

    lost = dataclasses.replace(quoted(), coupon_applied=False, coupon_reason="USAGE_LIMIT_REACHED")
    done, _ = simulate(checkout(coupon="SAVE10"), {K.QUOTE_PRICES: lost})
    assert done.failure is not None and done.failure.code is FailureCode.COUPON_UNAVAILABLE
    assert "usage limit reached" in done.failure.message


def test_transient_errors_give_up_after_the_attempts_once_the_budget_is_spent_and_undo_just_in_case() -> None:
    flaky = outcomes.Transient(K.AUTHORISE_PAYMENT, "provider unavailable")
    spent = dataclasses.replace(POLICY, retry_budget=timedelta(0))
    done, log = simulate(checkout(), {K.AUTHORISE_PAYMENT: flaky}, spent)
    assert log.count("run authorise_payment") == POLICY.max_attempts
    # The authorisation may exist: it is voided (after the probe) before the stock is released.
    assert log[-3:] == ["undo authorise_payment", "undo reserve_stock", "finish"]
    assert done.failure is not None and done.failure.code is FailureCode.UNAVAILABLE
    assert done.failure.code in transitions.RETRYABLE and "nothing was charged" in done.failure.message


def test_a_step_failing_transiently_is_retried_until_the_budget_is_spent() -> None:
    c = checkout()
    elapsed = timedelta(0)
    while elapsed < POLICY.retry_budget:  # a peer restarting: many more tries than max_attempts
        c = saga.apply(c, outcomes.Started(K.QUOTE_PRICES), NOW + elapsed, POLICY)
        c = saga.apply(c, outcomes.Transient(K.QUOTE_PRICES, "pricing unavailable"), NOW + elapsed, POLICY)
        assert c.status is Status.RUNNING and saga.next_action(c, POLICY) == outcomes.Run(K.QUOTE_PRICES)
        elapsed += timedelta(seconds=5)
    c = saga.apply(c, outcomes.Started(K.QUOTE_PRICES), NOW + elapsed, POLICY)
    c = saga.apply(c, outcomes.Transient(K.QUOTE_PRICES, "pricing unavailable"), NOW + elapsed, POLICY)
    assert c.status is Status.COMPENSATING and c.failure is not None
    assert (c.failure.code, c.failure.step) == (FailureCode.UNAVAILABLE, K.QUOTE_PRICES)


def test_steps_from_create_order_on_retry_until_they_succeed() -> None:
    c = checkout()
    for kind in (K.QUOTE_PRICES, K.ASSESS_FRAUD, K.RESERVE_STOCK, K.AUTHORISE_PAYMENT):
        if kind is K.AUTHORISE_PAYMENT:
            c = saga.apply(c, outcomes.Skipped(K.REDEEM_COUPON, "no coupon"), NOW, POLICY)
        c = saga.apply(c, outcomes.Started(kind), NOW, POLICY)
        c = saga.apply(c, outcomes.Succeeded(kind, HAPPY[kind]), NOW, POLICY)
    for _ in range(POLICY.max_attempts * 3):
        c = saga.apply(c, outcomes.Started(K.CREATE_ORDER), NOW, POLICY)
        c = saga.apply(c, outcomes.Transient(K.CREATE_ORDER, "order unavailable"), NOW, POLICY)
    assert c.status is Status.RUNNING and saga.next_action(c, POLICY) == outcomes.Run(K.CREATE_ORDER)


def test_a_failure_after_the_order_cancels_the_order_which_voids_the_payment() -> None:
    failed_commit = outcomes.Failed(K.COMMIT_STOCK, FailureCode.STOCK_COMMIT_FAILED, "gone")
    done, log = simulate(checkout(), {K.COMMIT_STOCK: failed_commit})
    assert log[-3:] == ["undo create_order", "undo reserve_stock", "finish"]
    assert "undo authorise_payment" not in log  # the order owns the payment
    assert states(done)["authorise_payment"] == "compensated"
    assert done.status is Status.FAILED
    assert transitions.cancel_reason_for(done.failure) is CancelReason.CHECKOUT_FAILED


def test_compensation_never_goes_forward_again() -> None:
    c, _ = simulate(checkout(), {K.AUTHORISE_PAYMENT: authorised(False, "card_declined")})
    assert c.status is Status.FAILED
    # Late decisions change nothing once the checkout ended.
    assert holds.on_order_confirmed(c, NOW, POLICY) == c
    assert holds.on_review_decided(c, ReviewDecision.APPROVED, NOW, POLICY) == c
    compensating = transitions.abort(checkout(), Failure(FailureCode.INTERNAL, K.QUOTE_PRICES, "x"), NOW)
    assert isinstance(saga.next_action(compensating, POLICY), outcomes.Finish)


# --- holds -----------------------------------------------------------------------------------------


def test_fraud_review_holds_the_order_then_approval_resumes_it() -> None:
    held, log = simulate(
        checkout(),
        {K.ASSESS_FRAUD: assessed(Decision.REVIEW), K.CREATE_ORDER: order(OrderStatus.PENDING_REVIEW)},
    )
    assert log[-1] == "run create_order"
    assert held.status is Status.PENDING_REVIEW and held.hold_expires_at == NOW + POLICY.review_hold
    assert states(held)["await_fraud_review"] == "waiting" and not held.captured
    assert saga.reservation_ttl(held, POLICY) == POLICY.review_hold + POLICY.hold_margin

    approved = holds.on_review_decided(held, ReviewDecision.APPROVED, NOW, POLICY)
    assert approved.status is Status.RUNNING and approved.hold_expires_at is None
    done, log = simulate(approved)
    assert log[0] == "run await_fraud_review" and log[-1] == "finish"
    assert done.status is Status.COMPLETED and done.captured


def test_a_review_decision_that_arrives_early_is_applied_at_the_hold() -> None:
    early = holds.on_review_decided(checkout(), ReviewDecision.APPROVED, NOW, POLICY)
    assert early.status is Status.RUNNING and early.review_decision is ReviewDecision.APPROVED
    done, log = simulate(
        early, {K.ASSESS_FRAUD: assessed(Decision.REVIEW), K.CREATE_ORDER: order(OrderStatus.PENDING_REVIEW)}
    )
    assert "run await_fraud_review" in log and done.status is Status.COMPLETED

    rejected = holds.on_review_decided(checkout(), ReviewDecision.REJECTED, NOW, POLICY)
    done, log = simulate(rejected, {K.ASSESS_FRAUD: assessed(Decision.REVIEW)})
    assert "run create_order" not in log  # stopped before an order exists
    assert done.failure is not None and done.failure.code is FailureCode.FRAUD_REJECTED


def test_rejected_review_cancels_the_held_order() -> None:
    held, _ = simulate(
        checkout(), {K.ASSESS_FRAUD: assessed(Decision.REVIEW), K.CREATE_ORDER: order(OrderStatus.PENDING_REVIEW)}
    )
    rejected = holds.on_review_decided(held, ReviewDecision.REJECTED, NOW, POLICY)
    assert rejected.status is Status.COMPENSATING
    done, log = simulate(rejected)
    assert log == ["undo create_order", "undo reserve_stock", "finish"]
    assert transitions.cancel_reason_for(done.failure) is CancelReason.FRAUD_REJECTED
    assert states(done)["await_fraud_review"] == "failed"


def test_b2b_approval_hold_resumes_on_confirmation_and_compensates_on_rejection() -> None:
    over = checkout(customer=Customer("buyer-1", account_id="acct-1", currency=USD), approval_limit=usd(1000))
    held, _ = simulate(over, {K.CREATE_ORDER: order(OrderStatus.PENDING_APPROVAL)})
    assert held.approval_required and held.status is Status.PENDING_APPROVAL
    assert states(held)["await_fraud_review"] == "skipped" and states(held)["await_approval"] == "waiting"
    assert saga.reservation_ttl(held, POLICY) == POLICY.approval_hold + POLICY.hold_margin

    done, log = simulate(holds.on_order_confirmed(held, NOW, POLICY))
    assert log[0] == "run commit_stock" and done.status is Status.COMPLETED
    assert states(done)["await_approval"] == "succeeded"

    rejected = holds.on_order_cancelled(held, CancelReason.APPROVAL_REJECTED, NOW)
    done, log = simulate(rejected)
    assert log == ["undo create_order", "undo reserve_stock", "finish"]
    assert done.failure is not None and done.failure.code is FailureCode.APPROVAL_REJECTED


def test_the_confirmation_of_an_order_that_started_confirmed_changes_nothing() -> None:
    c, _ = simulate(checkout(), stop_before=K.COMMIT_STOCK)
    assert c.order is not None and c.order.status is OrderStatus.CONFIRMED
    assert holds.on_order_confirmed(c, NOW, POLICY) is c


def test_a_confirmation_that_overtakes_the_create_order_answer_is_not_lost() -> None:
    over = checkout(approval_limit=usd(1000))
    c = holds.on_order_confirmed(over, NOW, POLICY)  # recorded while CREATE_ORDER was in flight
    done, _ = simulate(c, {K.CREATE_ORDER: order(OrderStatus.PENDING_APPROVAL)})
    assert done.status is Status.COMPLETED


def test_an_order_cancelled_while_running_stops_the_saga_at_the_next_step() -> None:
    c, _ = simulate(checkout(), stop_before=K.COMMIT_STOCK)
    c = saga.apply(c, outcomes.Started(K.COMMIT_STOCK), NOW, POLICY)
    assert c.status is Status.RUNNING and c.order is not None
    c = holds.on_order_cancelled(c, CancelReason.CUSTOMER_REQUEST, NOW)
    assert c.status is Status.RUNNING  # the running step finishes first
    done, log = simulate(c)
    assert log[:2] == ["run commit_stock", "abort order_cancelled"]
    assert done.failure is not None and done.failure.code is FailureCode.ORDER_CANCELLED


def test_holds_expire() -> None:
    held, _ = simulate(checkout(), {K.CREATE_ORDER: order(OrderStatus.PENDING_APPROVAL)})
    assert held.hold_expires_at is not None
    assert holds.on_hold_expired(held, held.hold_expires_at - timedelta(seconds=1)) == held
    expired = holds.on_hold_expired(held, held.hold_expires_at)
    assert expired.status is Status.COMPENSATING and expired.failure is not None
    assert expired.failure.code is FailureCode.HOLD_EXPIRED
    assert transitions.cancel_reason_for(expired.failure) is CancelReason.HOLD_EXPIRED


# --- rules -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "spent", "total", "expected"),
    [
        (ApprovalPeriod.ORDER, 5000, 1000, False),
        (ApprovalPeriod.ORDER, 0, 1001, True),
        (ApprovalPeriod.MONTH, 500, 500, False),
        (ApprovalPeriod.MONTH, 501, 500, True),
        (ApprovalPeriod.DAY, 0, 1000, False),
    ],
)
def test_approval_limit_counts_the_period(period: ApprovalPeriod, spent: int, total: int, expected: bool) -> None:
    order_request = request(approval_limit=usd(1000), approval_period=period)
    assert rules.needs_approval(order_request, usd(total), usd(spent)) is expected


def test_approval_limit_edge_cases() -> None:
    assert not rules.needs_approval(request(), usd(10**9), None)
    assert rules.needs_approval(request(approval_limit=Money(10**9, "EUR")), usd(1), None)


def test_period_starts() -> None:
    wednesday = datetime(2026, 3, 18, 15, 30, tzinfo=UTC)
    assert rules.period_start(ApprovalPeriod.DAY, wednesday) == datetime(2026, 3, 18, tzinfo=UTC)
    assert rules.period_start(ApprovalPeriod.WEEK, wednesday) == datetime(2026, 3, 16, tzinfo=UTC)
    assert rules.period_start(ApprovalPeriod.MONTH, wednesday) == datetime(2026, 3, 1, tzinfo=UTC)
    assert rules.period_start(ApprovalPeriod.ORDER, wednesday) is None


def test_fingerprint_tells_retries_from_other_requests() -> None:
    same = rules.request_fingerprint(request())
    assert rules.request_fingerprint(request(client_ip="198.51.100.1", device_id="other")) == same
    assert rules.request_fingerprint(request(email="A@Example.com ")) == same
    assert rules.request_fingerprint(request(cart_id="5a3e0f7c-1111-4a6e-9b1a-000000000002")) != same
    assert rules.request_fingerprint(request(fulfilment=Pickup("st-berlin"))) != same
    assert rules.request_fingerprint(request(payment=CardPayment("pm_2"))) != same


def test_idempotency_scope_and_keys() -> None:
    assert rules.customer_key("cust-1", "cart-1") == "cust-1"
    assert rules.customer_key("", "cart-1") == "guest:cart-1"
    assert rules.authorise_key("c1") == "checkout:c1:authorize"
    assert rules.coupon_customer(request(customer=Customer())) == "guest:a@example.com"


# --- the customer's action (3-D Secure) --------------------------------------------------------------


def action_required() -> outcomes.ActionRequired:
    attempt = PaymentAttempt("checkout:x:authorize", "authorise", False, usd(2000), NOW, "auth_1")
    return outcomes.ActionRequired(attempt, NextAction("auth_1", "three_d_secure", "https://pay/challenge", "secret"))


def waiting_for_action(coupon: str = "") -> Checkout:
    script: Script = {K.AUTHORISE_PAYMENT: action_required()}
    if coupon:
        script[K.QUOTE_PRICES] = quoted(1800, coupon)
    held, log = simulate(checkout(coupon=coupon), script)
    assert log[-1] == "run authorise_payment"
    return held


def test_an_authorisation_that_needs_the_customers_action_holds_the_checkout_until_its_deadline() -> None:
    held = waiting_for_action()

    assert held.status is Status.ACTION_REQUIRED and saga.next_action(held, POLICY) == outcomes.Wait()
    assert states(held)["authorise_payment"] == "waiting" and held.authorisation is None
    assert held.action is not None and held.action.expires_at == NOW + POLICY.action_timeout
    assert held.hold_expires_at == held.action.expires_at
    assert [(a.operation, a.succeeded, a.provider_reference) for a in held.payment_attempts] == [
        ("authorise", False, "auth_1")
    ]


def test_a_check_that_finds_the_action_completed_goes_on_to_the_order() -> None:
    later = NOW + timedelta(minutes=3)
    checking = holds.on_action_check(waiting_for_action(), later)
    assert checking.status is Status.RUNNING and checking.hold_expires_at is None
    step = checking.step(K.AUTHORISE_PAYMENT)
    assert step is not None and (step.state, step.attempts, step.started_at) == (StepState.RUNNING, 0, later)
    assert saga.next_action(checking, POLICY) == outcomes.Run(K.AUTHORISE_PAYMENT)

    done, log = simulate(checking)

    assert log[0] == "run authorise_payment" and "run create_order" in log
    assert done.status is Status.COMPLETED and done.authorisation is not None
    assert [(a.operation, a.succeeded) for a in done.payment_attempts] == [("authorise", True)]


def test_a_check_that_finds_the_action_pending_keeps_the_first_deadline() -> None:
    held = waiting_for_action()
    later = NOW + timedelta(minutes=4)
    checking = holds.on_action_check(held, later)
    checking = saga.apply(checking, outcomes.Started(K.AUTHORISE_PAYMENT), later, POLICY)

    again = saga.apply(checking, outcomes.Succeeded(K.AUTHORISE_PAYMENT, action_required()), later, POLICY)

    assert again.status is Status.ACTION_REQUIRED
    assert again.hold_expires_at == NOW + POLICY.action_timeout
    assert holds.on_action_check(again, later) is not again
    assert holds.on_action_check(checkout(), later) == checkout()  # nothing to check


def test_a_failed_challenge_declines_and_gives_everything_back_without_a_void() -> None:
    checking = holds.on_action_check(waiting_for_action("SAVE10"), NOW)

    done, log = simulate(checking, {K.AUTHORISE_PAYMENT: authorised(False, "authentication_failed")})

    assert log == ["run authorise_payment", "undo redeem_coupon", "undo reserve_stock", "finish"]
    assert done.status is Status.FAILED and done.failure is not None
    assert done.failure.code is FailureCode.PAYMENT_DECLINED


def test_no_action_by_the_deadline_voids_the_authorisation_and_undoes_the_rest() -> None:
    held = waiting_for_action("SAVE10")
    deadline = NOW + POLICY.action_timeout
    assert holds.on_hold_expired(held, deadline - timedelta(seconds=1)) is held

    expired = holds.on_hold_expired(held, deadline)

    assert expired.status is Status.COMPENSATING and expired.hold_expires_at is None
    assert expired.failure == Failure(
        FailureCode.ACTION_EXPIRED, K.AUTHORISE_PAYMENT, transitions.MESSAGES[FailureCode.ACTION_EXPIRED]
    )
    done, log = simulate(expired)
    assert log == ["undo authorise_payment", "undo redeem_coupon", "undo reserve_stock", "finish"]
    assert done.status is Status.FAILED and done.order is None


def test_a_check_answered_after_the_deadline_expires_the_checkout() -> None:
    late = NOW + POLICY.action_timeout + timedelta(seconds=1)
    checking = saga.apply(
        holds.on_action_check(waiting_for_action(), late), outcomes.Started(K.AUTHORISE_PAYMENT), late, POLICY
    )

    answered = saga.apply(checking, outcomes.Succeeded(K.AUTHORISE_PAYMENT, action_required()), late, POLICY)

    assert answered.status is Status.COMPENSATING and answered.failure is not None
    assert answered.failure.code is FailureCode.ACTION_EXPIRED
    assert saga.next_action(answered, POLICY) == outcomes.Compensate(K.AUTHORISE_PAYMENT)
