"""Cards, test-card behaviours, authorization rules and fault injection (pure functions)."""

from __future__ import annotations

from datetime import date

import pytest

from shop_sandbox import domain
from shop_sandbox.domain import Authorization, AuthorizationStatus, CardBehaviour, FailurePlan
from shop_sandbox.errors import StateConflict
from shopkit.errors import Violations

TODAY = date(2026, 11, 27)


def problems(**card: object) -> dict[str, str]:
    values: dict[str, object] = {
        "number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2030,
        "cvc": "123",
        "billing_country": None,
        **card,
    }
    violations = Violations()
    domain.check_card(violations, today=TODAY, **values)  # type: ignore[arg-type]
    return {v.field: v.description for v in violations.items}


def test_every_documented_test_card_passes_the_luhn_check() -> None:
    numbers = [*domain.TEST_CARD_BEHAVIOURS, "4000000760000002", "4000008260000000", "4000002760000016"]
    numbers += ["4000002500000003", "4000001240000000", "4000003920000003", "4000005660000002"]
    numbers += ["4000003560000008", "4000000360000006", "5555555555554444", "378282246310005", "6011111111111117"]
    assert [n for n in numbers if not domain.luhn_valid(n)] == []
    assert not domain.luhn_valid("4242424242424241")
    assert not domain.luhn_valid("42424242a4242424")


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("4242424242424242", "US"),
        ("4000000000000002", "US"),
        ("4000000760000002", "BR"),
        ("4000008260000000", "GB"),
        ("4000002760000016", "DE"),
        ("4000005660000002", "NG"),
        ("5555555555554444", "US"),
    ],
)
def test_issuing_country_comes_from_the_bin_table(number: str, country: str) -> None:
    assert domain.card_country(number) == country


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3566002020360505", "jcb"),
        ("3056930009020004", "diners"),
        ("6200000000000005", "unionpay"),
        ("9999999999999995", "unknown"),
    ],
)
def test_brand_from_the_number(number: str, brand: str) -> None:
    assert domain.card_brand(number) == brand


def test_behaviour_of_the_test_cards() -> None:
    assert domain.card_behaviour("4242424242424242") is CardBehaviour.SUCCEED
    assert domain.card_behaviour("4000000000000002") is CardBehaviour.CARD_DECLINED
    assert domain.card_behaviour("4000000000009995") is CardBehaviour.INSUFFICIENT_FUNDS
    assert domain.card_behaviour("4000000000003220") is CardBehaviour.REQUIRE_3DS
    assert domain.card_behaviour("4000000000000119") is CardBehaviour.PROCESSING_ERROR
    assert domain.card_behaviour("5555555555554444") is CardBehaviour.SUCCEED


def test_fingerprint_is_stable_per_card_and_depends_on_the_key() -> None:
    first = domain.card_fingerprint("4242424242424242", b"key-one!")
    assert first == domain.card_fingerprint("4242424242424242", b"key-one!")
    assert first != domain.card_fingerprint("4000000000000002", b"key-one!")
    assert first != domain.card_fingerprint("4242424242424242", b"key-two!")
    assert "4242" not in first and len(first) == 16


def test_a_valid_card_has_no_problems() -> None:
    assert problems() == {}
    assert problems(exp_month=11, exp_year=2026) == {}  # valid through the end of its month
    assert problems(cvc="1234", billing_country="DE") == {}


def test_every_problem_of_a_card_is_reported_at_once() -> None:
    assert problems(number="4242424242424241", exp_month=10, exp_year=2026, cvc="12", billing_country="de") == {
        "card.number": "is not a valid card number (Luhn check failed)",
        "card.exp_year": "the card expired in 10/2026",
        "card.cvc": "must be 3 or 4 digits",
        "billing_country": "must be an ISO-3166-1 alpha-2 code like DE",
    }
    assert problems(number="4242", exp_month=13, exp_year=30) == {
        "card.number": "must be 12-19 digits (spaces and dashes allowed)",
        "card.exp_month": "must be 1-12",
        "card.exp_year": "must be a four-digit year",
    }
    assert domain.normalise_number("4242 4242-4242 4242") == "4242424242424242"


@pytest.mark.parametrize(
    ("behaviour", "authenticated", "expected"),
    [
        (CardBehaviour.SUCCEED, None, ("authorized", None, None)),
        (CardBehaviour.CARD_DECLINED, None, ("declined", "card_declined", None)),
        (CardBehaviour.INSUFFICIENT_FUNDS, True, ("declined", "insufficient_funds", None)),
        (CardBehaviour.REQUIRE_3DS, None, ("declined", "authentication_required", None)),
        (CardBehaviour.REQUIRE_3DS, False, ("declined", "authentication_required", None)),
        (CardBehaviour.REQUIRE_3DS, True, ("authorized", None, None)),
        (CardBehaviour.PROCESSING_ERROR, None, ("failed", None, "processing_error")),
    ],
)
def test_decisions(behaviour: CardBehaviour, authenticated: bool | None, expected: tuple[str, str, str]) -> None:
    decision = domain.decide(behaviour, card_expired=False, authenticated=authenticated, provider_fault=False)
    assert (decision.status.value, decision.decline_code, decision.failure_code) == expected


def test_an_injected_fault_comes_before_the_issuer_and_an_expired_card_is_declined() -> None:
    faulted = domain.decide(CardBehaviour.CARD_DECLINED, card_expired=True, authenticated=None, provider_fault=True)
    assert (faulted.status, faulted.failure_code) == (AuthorizationStatus.FAILED, "processing_error")
    expired = domain.decide(CardBehaviour.SUCCEED, card_expired=True, authenticated=None, provider_fault=False)
    assert (expired.status, expired.decline_code) == (AuthorizationStatus.DECLINED, "expired_card")


def auth(status: AuthorizationStatus, amount: int = 1000, captured: int = 0, refunded: int = 0) -> Authorization:
    return Authorization("auth_1", "pm_1", status, amount, "EUR", amount_captured=captured, amount_refunded=refunded)


def conflict(call: object) -> tuple[str, str]:
    with pytest.raises(StateConflict) as raised:
        assert callable(call)
        call()
    return raised.value.code, raised.value.extra["authorization_status"]


def test_capture_rules() -> None:
    assert domain.capture_amount(auth(AuthorizationStatus.AUTHORIZED), None) == 1000
    assert domain.capture_amount(auth(AuthorizationStatus.AUTHORIZED), 400) == 400
    too_much = auth(AuthorizationStatus.AUTHORIZED)
    assert conflict(lambda: domain.capture_amount(too_much, 1001)) == ("amount_too_large", "authorized")
    for status in ("captured", "voided", "declined", "failed"):
        other = auth(AuthorizationStatus(status), captured=1000 if status == "captured" else 0)
        assert conflict(lambda a=other: domain.capture_amount(a, None)) == ("authorization_not_capturable", status)


def test_void_and_refund_rules() -> None:
    domain.check_void(auth(AuthorizationStatus.AUTHORIZED))
    captured = auth(AuthorizationStatus.CAPTURED, captured=800, refunded=300)
    assert conflict(lambda: domain.check_void(captured)) == ("authorization_not_voidable", "captured")
    assert domain.refund_amount(captured, None) == 500
    assert domain.refund_amount(captured, 500) == 500
    assert conflict(lambda: domain.refund_amount(captured, 501)) == ("amount_too_large", "captured")
    refunded = auth(AuthorizationStatus.CAPTURED, captured=800, refunded=800)
    assert conflict(lambda: domain.refund_amount(refunded, None)) == ("amount_too_large", "captured")
    uncaptured = auth(AuthorizationStatus.AUTHORIZED)
    assert conflict(lambda: domain.refund_amount(uncaptured, 1)) == ("authorization_not_refundable", "authorized")


def test_seeded_failure_plan_is_a_function_of_seed_key_and_attempt() -> None:
    plan = FailurePlan(rate=0.3, seed=7)
    outcomes = [plan.fails(f"key-{i}", 0) for i in range(2000)]
    assert outcomes == [FailurePlan(rate=0.3, seed=7).fails(f"key-{i}", 0) for i in range(2000)]
    assert 0.25 < sum(outcomes) / len(outcomes) < 0.35
    assert outcomes != [FailurePlan(rate=0.3, seed=8).fails(f"key-{i}", 0) for i in range(2000)]
    # The next attempt of a failed key draws anew: retries can get through.
    failed = [i for i, failed in enumerate(outcomes) if failed]
    assert any(not plan.fails(f"key-{i}", 1) for i in failed)
    assert not FailurePlan(rate=0.0, seed=7).fails("k", 0)
    assert FailurePlan(rate=1.0).fails("k", 5)


def test_metadata_limits() -> None:
    violations = Violations()
    assert domain.clean_metadata(violations, {"order_id": "o-1"}) == {"order_id": "o-1"}
    domain.clean_metadata(violations, {"x" * 41: "v", "ok": "v" * 501, **{f"k{i}": "v" for i in range(20)}})
    assert {v.field for v in violations.items} == {"metadata", f"metadata.{'x' * 41}", "metadata.ok"}
