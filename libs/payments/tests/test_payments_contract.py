"""The payment port's contract, held to both adapters (the `harness` fixture runs each test twice:
the payment sandbox, and Stripe's SDK against localstripe). What checkout, order and customers rely
on: card details, authorise (with 3-D Secure's next action), capture (partial), void, refund
(partial), the same result for a repeated idempotency key, and the errors they tell apart."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from shop_payments import port
from shopkit.money import Money

if TYPE_CHECKING:
    from conftest import Harness

GOOD_CARD = "4242424242424242"
THREE_DS_CARD = "4000000000003220"  # both providers ask for 3-D Secure on it


async def test_card_details_come_from_the_payment_method(harness: Harness) -> None:
    method = await harness.tokenise(GOOD_CARD)
    card = await harness.provider.payment_method(method)
    assert (card.last4, card.exp_month, card.exp_year) == ("4242", 12, 2040)
    assert card.brand == "visa" and card.fingerprint and len(card.country) == 2


async def test_an_unknown_payment_method_is_not_found(harness: Harness, key: str) -> None:
    with pytest.raises(port.NotFound):
        await harness.provider.payment_method("pm_doesnotexist")
    with pytest.raises(port.NotFound):
        await harness.provider.authorise("pm_doesnotexist", Money(500, "EUR"), idempotency_key=f"auth-{key}")


async def test_authorise_then_capture_part_and_refund_part(harness: Harness, key: str) -> None:
    method = await harness.tokenise(GOOD_CARD)
    held = await harness.provider.authorise(
        method, Money(2500, "EUR"), idempotency_key=f"auth-{key}", metadata={"checkout_id": key}
    )
    assert (held.status, held.amount, held.currency, held.amount_captured) == ("authorized", 2500, "EUR", 0)

    captured = await harness.provider.capture(held.id, idempotency_key=f"capture-{key}", amount=1500)
    assert (captured.id, captured.status, captured.amount_captured) == (held.id, "captured", 1500)
    assert captured.capture_id

    refund = await harness.provider.refund(held.id, idempotency_key=f"refund-{key}", amount=500)
    assert (refund.amount, refund.currency) == (500, "EUR") and refund.id

    now = await harness.provider.authorisation(held.id)
    assert (now.status, now.amount_captured, now.amount_refunded) == ("captured", 1500, 500)


async def test_repeating_a_call_with_its_key_applies_it_once(harness: Harness, key: str) -> None:
    method = await harness.tokenise(GOOD_CARD)
    first = await harness.provider.authorise(method, Money(900, "EUR"), idempotency_key=f"auth-{key}")
    again = await harness.provider.authorise(method, Money(900, "EUR"), idempotency_key=f"auth-{key}")
    assert again.id == first.id

    captured = await harness.provider.capture(first.id, idempotency_key=f"capture-{key}", amount=900)
    repeated = await harness.provider.capture(first.id, idempotency_key=f"capture-{key}", amount=900)
    assert (captured.status, captured.amount_captured) == ("captured", 900)
    assert (repeated.status, repeated.amount_captured) == ("captured", 900)

    refund = await harness.provider.refund(first.id, idempotency_key=f"refund-{key}", amount=300)
    same = await harness.provider.refund(first.id, idempotency_key=f"refund-{key}", amount=300)
    assert same.id == refund.id
    assert (await harness.provider.authorisation(first.id)).amount_refunded == 300


async def test_void_releases_the_hold_and_then_capture_is_a_conflict(harness: Harness, key: str) -> None:
    method = await harness.tokenise(GOOD_CARD)
    held = await harness.provider.authorise(method, Money(700, "EUR"), idempotency_key=f"auth-{key}")
    voided = await harness.provider.void(held.id, idempotency_key=f"void-{key}")
    assert voided.status == "voided"
    assert (await harness.provider.void(held.id, idempotency_key=f"void-{key}")).status == "voided"

    with pytest.raises(port.Conflict) as conflict:
        await harness.provider.capture(held.id, idempotency_key=f"capture-{key}")
    assert conflict.value.authorisation_status == "voided"


async def test_a_captured_authorisation_cannot_be_voided(harness: Harness, key: str) -> None:
    method = await harness.tokenise(GOOD_CARD)
    held = await harness.provider.authorise(method, Money(1100, "EUR"), idempotency_key=f"auth-{key}")
    await harness.provider.capture(held.id, idempotency_key=f"capture-{key}")
    with pytest.raises(port.Conflict) as conflict:
        await harness.provider.void(held.id, idempotency_key=f"void-{key}")
    assert conflict.value.authorisation_status == "captured"


async def test_a_declined_card_is_a_decline_with_its_code(harness: Harness, key: str) -> None:
    method = await harness.tokenise(harness.declined_card)
    with pytest.raises(port.Declined) as declined:
        await harness.provider.authorise(method, Money(1000, "EUR"), idempotency_key=f"auth-{key}")
    assert declined.value.decline_code == "card_declined"
    assert declined.value.retryable is False


async def test_a_three_d_secure_card_needs_the_customer_then_is_authorised(harness: Harness, key: str) -> None:
    method = await harness.tokenise(THREE_DS_CARD)
    pending = await harness.provider.authorise(method, Money(1200, "EUR"), idempotency_key=f"auth-{key}")
    assert pending.status == "requires_action"
    assert pending.next_action is not None and pending.next_action.type == "three_d_secure"
    assert pending.next_action.client_secret

    await harness.complete_challenge(pending, passed=True)
    done = await harness.provider.authorisation(pending.id)
    assert (done.status, done.next_action) == ("authorized", None)
    captured = await harness.provider.capture(pending.id, idempotency_key=f"capture-{key}")
    assert captured.amount_captured == 1200


async def test_a_failed_three_d_secure_challenge_declines(harness: Harness, key: str) -> None:
    method = await harness.tokenise(THREE_DS_CARD)
    pending = await harness.provider.authorise(method, Money(1300, "EUR"), idempotency_key=f"auth-{key}")
    await harness.complete_challenge(pending, passed=False)
    failed = await harness.provider.authorisation(pending.id)
    assert failed.status == "declined" and failed.decline_code
