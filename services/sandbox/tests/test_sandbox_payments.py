"""Tokenisation, the test cards, 3-D Secure, capture / void / refund and validation, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Sandbox

PROBLEM_JSON = "application/problem+json"


def error_code(response: Any) -> str:
    assert response.headers["content-type"] == PROBLEM_JSON, response.text
    return str(response.json()["code"])


# --- payment methods ------------------------------------------------------------------------------


async def test_tokenising_a_card_returns_its_payment_method_without_the_number(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise("4242 4242 4242 4242", billing_country="DE")

    assert method["id"].startswith("pm_")
    assert method["object"] == "payment_method"
    assert method["billing_country"] == "DE"
    card = method["card"]
    assert {k: card[k] for k in ("brand", "last4", "exp_month", "country")} == {
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "country": "US",
    }
    fetched = await sandbox.http.get(f"/v1/payment_methods/{method['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == method


async def test_the_fingerprint_is_stable_across_tokenisations_of_one_card(sandbox: Sandbox) -> None:
    first = await sandbox.tokenise("4000008260000000")
    second = await sandbox.tokenise("4000008260000000", exp_month=1, cvc="999")
    other = await sandbox.tokenise("4000000760000002")

    assert first["id"] != second["id"]
    assert first["card"]["fingerprint"] == second["card"]["fingerprint"]
    assert other["card"]["fingerprint"] != first["card"]["fingerprint"]
    assert (first["card"]["country"], other["card"]["country"]) == ("GB", "BR")


async def test_card_numbers_are_stored_nowhere(sandbox: Sandbox) -> None:
    number = "4000002760000016"
    method = await sandbox.tokenise(number)
    await sandbox.http.post(
        "/v1/payment_methods",
        json={"card": {"number": number, "exp_month": 1, "exp_year": 2031, "cvc": "321"}},
        headers={"Idempotency-Key": "no-number-stored"},
    )
    assert method["card"]["country"] == "DE"
    for table in ("payment_methods", "authorizations", "idempotency_keys"):
        rows = await sandbox.sql(
            f"SELECT count(*) AS n FROM {table} t WHERE row_to_json(t)::text LIKE :n", n=f"%{number}%"
        )
        assert rows[0].n == 0, table


async def test_unknown_payment_method_is_404(sandbox: Sandbox) -> None:
    response = await sandbox.http.get("/v1/payment_methods/pm_missing")
    assert response.status_code == 404
    assert error_code(response) == "resource_missing"


# --- the test cards -------------------------------------------------------------------------------


async def test_4242_is_authorised(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise("4242424242424242")
    response = await sandbox.authorize(method["id"], 2599, "EUR", metadata={"checkout_id": "co-1"})

    assert response.status_code == 201
    auth = response.json()
    assert auth["id"].startswith("auth_")
    assert {k: auth[k] for k in ("status", "amount", "currency", "payment_method", "decline_code")} == {
        "status": "authorized",
        "amount": 2599,
        "currency": "EUR",
        "payment_method": method["id"],
        "decline_code": None,
    }
    assert auth["metadata"] == {"checkout_id": "co-1"}
    assert (auth["amount_captured"], auth["captures"], auth["refunds"]) == (0, [], [])


@pytest.mark.parametrize(
    ("number", "decline_code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000003220", "authentication_required"),
    ],
)
async def test_declining_test_cards_answer_402_with_the_recorded_authorization(
    sandbox: Sandbox, number: str, decline_code: str
) -> None:
    method = await sandbox.tokenise(number)
    response = await sandbox.authorize(method["id"], 1000)

    assert response.status_code == 402
    body = response.json()
    assert (error_code(response), body["decline_code"]) == ("card_declined", decline_code)
    auth = body["authorization"]
    assert (auth["status"], auth["decline_code"]) == ("declined", decline_code)
    stored = await sandbox.http.get(f"/v1/authorizations/{auth['id']}")
    assert stored.json() == auth


async def test_processing_error_card_answers_502_retryable(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise("4000000000000119")
    response = await sandbox.authorize(method["id"], 1000)

    assert response.status_code == 502
    body = response.json()
    assert (error_code(response), body["retryable"]) == ("processing_error", True)
    assert (body["authorization"]["status"], body["authorization"]["failure_code"]) == ("failed", "processing_error")


async def test_3ds_card_is_authorised_once_authenticated(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise("4000000000003220")

    refused = await sandbox.authorize(method["id"], three_d_secure={"authenticated": False})
    accepted = await sandbox.authorize(method["id"], three_d_secure={"authenticated": True})

    assert refused.status_code == 402
    assert refused.json()["decline_code"] == "authentication_required"
    assert accepted.status_code == 201
    assert accepted.json()["status"] == "authorized"
    assert accepted.json()["three_d_secure"] == {"authenticated": True}


async def test_3ds_data_on_a_frictionless_card_changes_nothing(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise()
    response = await sandbox.authorize(method["id"], three_d_secure={"authenticated": False})
    assert (response.status_code, response.json()["status"]) == (201, "authorized")


async def test_a_card_that_expired_after_tokenisation_is_declined(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise()
    await sandbox.sql("UPDATE payment_methods SET exp_year = 2020 WHERE id = :id", id=method["id"])

    response = await sandbox.authorize(method["id"])

    assert (response.status_code, response.json()["decline_code"]) == (402, "expired_card")


async def test_authorizing_an_unknown_payment_method_is_404(sandbox: Sandbox) -> None:
    response = await sandbox.authorize("pm_unknown")
    assert response.status_code == 404
    assert (error_code(response), response.json()["param"]) == ("resource_missing", "payment_method")


# --- capture ------------------------------------------------------------------------------------


async def test_full_capture_by_default(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized(1500)
    response = await sandbox.http.post(f"/v1/authorizations/{auth['id']}/capture")

    assert response.status_code == 200
    captured = response.json()
    assert (captured["status"], captured["amount_captured"]) == ("captured", 1500)
    assert [(c["amount"], c["currency"]) for c in captured["captures"]] == [(1500, "EUR")]


async def test_partial_capture_once_and_no_more(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized(1500)
    path = f"/v1/authorizations/{auth['id']}/capture"

    partial = await sandbox.http.post(path, json={"amount": 600})
    again = await sandbox.http.post(path, json={"amount": 100})

    assert (partial.status_code, partial.json()["amount_captured"]) == (200, 600)
    assert again.status_code == 409
    assert (error_code(again), again.json()["authorization_status"]) == ("authorization_not_capturable", "captured")
    stored = (await sandbox.http.get(f"/v1/authorizations/{auth['id']}")).json()
    assert (stored["amount_captured"], len(stored["captures"])) == (600, 1)


async def test_capturing_more_than_authorised_is_409(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized(1500)
    response = await sandbox.http.post(f"/v1/authorizations/{auth['id']}/capture", json={"amount": 1501})
    assert (response.status_code, error_code(response)) == (409, "amount_too_large")
    assert (await sandbox.http.get(f"/v1/authorizations/{auth['id']}")).json()["status"] == "authorized"


async def test_declined_or_voided_authorizations_cannot_be_captured(sandbox: Sandbox) -> None:
    declined = (await sandbox.authorize((await sandbox.tokenise("4000000000000002"))["id"])).json()["authorization"]
    voided = await sandbox.authorized()
    await sandbox.http.post(f"/v1/authorizations/{voided['id']}/void")

    for auth, status in ((declined, "declined"), (voided, "voided")):
        response = await sandbox.http.post(f"/v1/authorizations/{auth['id']}/capture")
        assert response.status_code == 409
        assert (error_code(response), response.json()["authorization_status"]) == (
            "authorization_not_capturable",
            status,
        )


async def test_authorize_with_capture_true_captures_right_away(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized(700, capture=True)
    assert (auth["status"], auth["amount_captured"], len(auth["captures"])) == ("captured", 700, 1)


async def test_capture_of_an_unknown_authorization_is_404(sandbox: Sandbox) -> None:
    response = await sandbox.http.post("/v1/authorizations/auth_missing/capture")
    assert (response.status_code, error_code(response)) == (404, "resource_missing")


# --- void -----------------------------------------------------------------------------------------


async def test_void_releases_an_authorization_once(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized()
    path = f"/v1/authorizations/{auth['id']}/void"

    voided = await sandbox.http.post(path)
    again = await sandbox.http.post(path)

    assert (voided.status_code, voided.json()["status"]) == (200, "voided")
    assert again.status_code == 409
    assert (error_code(again), again.json()["authorization_status"]) == ("authorization_not_voidable", "voided")


async def test_a_captured_authorization_cannot_be_voided(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized(capture=True)
    response = await sandbox.http.post(f"/v1/authorizations/{auth['id']}/void")
    assert (response.status_code, error_code(response)) == (409, "authorization_not_voidable")


# --- refunds --------------------------------------------------------------------------------------


async def test_refunds_add_up_to_at_most_the_captured_amount(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized(1000)
    await sandbox.http.post(f"/v1/authorizations/{auth['id']}/capture", json={"amount": 800})

    first = await sandbox.http.post("/v1/refunds", json={"authorization": auth["id"], "amount": 300})
    too_much = await sandbox.http.post("/v1/refunds", json={"authorization": auth["id"], "amount": 501})
    rest = await sandbox.http.post("/v1/refunds", json={"authorization": auth["id"]})
    nothing_left = await sandbox.http.post("/v1/refunds", json={"authorization": auth["id"]})

    assert first.status_code == 201
    refund = first.json()
    assert refund["id"].startswith("re_")
    assert {k: refund[k] for k in ("object", "authorization", "amount", "currency", "status")} == {
        "object": "refund",
        "authorization": auth["id"],
        "amount": 300,
        "currency": "EUR",
        "status": "succeeded",
    }
    assert (too_much.status_code, error_code(too_much)) == (409, "amount_too_large")
    assert (rest.status_code, rest.json()["amount"]) == (201, 500)
    assert (nothing_left.status_code, error_code(nothing_left)) == (409, "amount_too_large")
    stored = (await sandbox.http.get(f"/v1/authorizations/{auth['id']}")).json()
    assert (stored["amount_captured"], stored["amount_refunded"]) == (800, 800)
    assert [r["amount"] for r in stored["refunds"]] == [300, 500]


async def test_an_uncaptured_authorization_cannot_be_refunded(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized()
    response = await sandbox.http.post("/v1/refunds", json={"authorization": auth["id"], "amount": 1})
    assert response.status_code == 409
    assert (error_code(response), response.json()["authorization_status"]) == (
        "authorization_not_refundable",
        "authorized",
    )


async def test_concurrent_refunds_never_exceed_the_captured_amount(sandbox: Sandbox) -> None:
    import asyncio

    auth = await sandbox.authorized(1000, capture=True)
    responses = await asyncio.gather(
        *(sandbox.http.post("/v1/refunds", json={"authorization": auth["id"], "amount": 300}) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [201, 201, 201, 409, 409, 409]
    assert (await sandbox.http.get(f"/v1/authorizations/{auth['id']}")).json()["amount_refunded"] == 900


async def test_refund_of_an_unknown_authorization_is_404(sandbox: Sandbox) -> None:
    response = await sandbox.http.post("/v1/refunds", json={"authorization": "auth_missing", "amount": 1})
    assert (response.status_code, error_code(response)) == (404, "resource_missing")


# --- validation -----------------------------------------------------------------------------------


def field_errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert error_code(response) == "validation_error"
    return {e["field"]: e["description"] for e in response.json()["errors"]}


async def test_an_invalid_card_is_422_with_every_field_error_and_nothing_stored(sandbox: Sandbox) -> None:
    before = await sandbox.counts()
    last_month = datetime.now(UTC).replace(day=1).toordinal() - 1
    expired = datetime.fromordinal(last_month)
    card = {"number": "4242424242424241", "exp_month": expired.month, "exp_year": expired.year, "cvc": "12"}

    response = await sandbox.http.post(
        "/v1/payment_methods",
        json={"card": card, "billing_country": "Germany"},
        headers={"Idempotency-Key": "invalid-card"},
    )

    assert field_errors(response) == {
        "card.number": "is not a valid card number (Luhn check failed)",
        "card.exp_year": f"the card expired in {expired.month:02d}/{expired.year}",
        "card.cvc": "must be 3 or 4 digits",
        "billing_country": "must be an ISO-3166-1 alpha-2 code like DE",
    }
    assert "4242424242424241" not in response.text
    assert await sandbox.counts() == before


async def test_wrong_types_and_unknown_fields_are_422_without_echoing_input(sandbox: Sandbox) -> None:
    response = await sandbox.http.post(
        "/v1/payment_methods",
        json={"card": {"number": 4242424242424242, "exp_month": "12", "cvc": "123", "colour": "red"}},
    )
    errors = field_errors(response)
    assert set(errors) == {"card.number", "card.exp_month", "card.exp_year", "card.colour"}
    assert "4242424242424242" not in response.text


async def test_invalid_authorization_requests_are_422_and_store_nothing(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise()
    before = await sandbox.counts()

    bad_amounts = await sandbox.http.post(
        "/v1/authorizations",
        json={"payment_method": method["id"], "amount": 10.5, "currency": "eur", "capture": "yes"},
        headers={"Idempotency-Key": "bad-amounts"},
    )
    negative = await sandbox.authorize(method["id"], -5, key="negative")
    string_amount = await sandbox.authorize(method["id"], "100", key="string-amount")  # type: ignore[arg-type]
    bad_key = await sandbox.authorize(method["id"], key="no spaces allowed")
    bad_metadata = await sandbox.authorize(method["id"], metadata={"k" * 41: "v"})
    not_json = await sandbox.http.post(
        "/v1/authorizations", content=b"{nope", headers={"content-type": "application/json"}
    )

    assert set(field_errors(bad_amounts)) == {"amount", "currency", "capture"}
    assert set(field_errors(negative)) == {"amount"}
    assert set(field_errors(string_amount)) == {"amount"}
    assert field_errors(bad_key) == {"Idempotency-Key": "must be 1-128 of A-Z a-z 0-9 . _ : / -, starting alphanumeric"}
    assert set(field_errors(bad_metadata)) == {f"metadata.{'k' * 41}"}
    assert set(field_errors(not_json)) == {"body"}
    assert await sandbox.counts() == before


async def test_text_no_store_can_hold_is_422_and_stores_nothing(sandbox: Sandbox) -> None:
    """NUL (which PostgreSQL cannot store) in any string or id, and ids of another shape, are bad input."""
    method = await sandbox.tokenise()
    auth = await sandbox.authorized(capture=True)
    before = await sandbox.counts()

    nul_id = await sandbox.authorize("pm_\x00x", key="nul-id")
    nul_metadata = await sandbox.authorize(method["id"], metadata={"order": "o\x001"}, key="nul-metadata")
    nul_metadata_key = await sandbox.authorize(method["id"], metadata={"o\x00": "1"}, key="nul-metadata-key")
    nul_card = await sandbox.http.post(
        "/v1/payment_methods",
        json={
            "card": {"number": "4242\x00", "exp_month": 1, "exp_year": 2031, "cvc": "1\x002"},
            "billing_country": "D\x00",
        },
    )
    nul_refund = await sandbox.http.post("/v1/refunds", json={"authorization": "auth_\x00"})
    paths = [
        await sandbox.http.get("/v1/payment_methods/pm_%00"),
        await sandbox.http.get("/v1/authorizations/auth%20x"),
        await sandbox.http.post(f"/v1/authorizations/{auth['id']}%00/capture", headers={"Idempotency-Key": "nul-path"}),
        await sandbox.http.post("/v1/authorizations/a%00/void", headers={"Idempotency-Key": "nul-void"}),
    ]

    assert set(field_errors(nul_id)) == {"payment_method"}
    assert set(field_errors(nul_metadata)) == {"metadata.order"}
    assert len(field_errors(nul_metadata_key)) == 1
    assert set(field_errors(nul_card)) == {"card.number", "card.cvc", "billing_country"}
    assert set(field_errors(nul_refund)) == {"authorization"}
    assert [set(field_errors(response)) for response in paths] == [
        {"payment_method_id"},
        {"authorization_id"},
        {"authorization_id"},
        {"authorization_id"},
    ]
    assert await sandbox.counts() == before


async def test_invalid_capture_and_refund_amounts_are_422(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized(capture=True)
    capture = await sandbox.http.post(f"/v1/authorizations/{auth['id']}/capture", json={"amount": 0})
    refund = await sandbox.http.post("/v1/refunds", json={"authorization": auth["id"], "amount": -1})
    missing = await sandbox.http.post("/v1/refunds", json={"amount": 1})
    assert set(field_errors(capture)) == {"amount"}
    assert set(field_errors(refund)) == {"amount"}
    assert set(field_errors(missing)) == {"authorization"}


async def test_unknown_routes_and_methods_are_problem_json(sandbox: Sandbox) -> None:
    missing = await sandbox.http.get("/v1/nothing")
    wrong_method = await sandbox.http.delete("/v1/payment_methods")
    assert (missing.status_code, error_code(missing)) == (404, "not_found")
    assert (wrong_method.status_code, error_code(wrong_method)) == (405, "method_not_allowed")
