"""3-D Secure challenges over real HTTP: a card that needs authentication, authorised by a caller that can
take the customer through a challenge, waits in `requires_action` with a `next_action`; the customer's
client completes (or fails) it on the public face with the client secret; a void cancels it."""

from __future__ import annotations

import ssl
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from shop_sandbox import callers, domain, schemas
from shop_sandbox.client import SandboxClient
from shop_sandbox.domain import Authorization, AuthorizationStatus, CardBehaviour
from shop_sandbox.errors import ResourceMissing, StateConflict
from shopkit import httptls, pki

if TYPE_CHECKING:
    from conftest import Sandbox, StartSandbox

CARD_3DS = "4000000000003220"
CHALLENGE = {"challenge": True}


def problem_code(response: Any) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return str(response.json()["code"])


async def pending(sandbox: Sandbox, amount: int = 1000, **extra: Any) -> dict[str, Any]:
    """A fresh authorization of the 3-D Secure card that waits for its challenge."""
    method = await sandbox.tokenise(CARD_3DS)
    response = await sandbox.authorize(method["id"], amount, three_d_secure=CHALLENGE, **extra)
    assert response.status_code == 201, response.text
    auth: dict[str, Any] = response.json()
    return auth


async def challenge(sandbox: Sandbox, auth: dict[str, Any], *, authenticated: bool = True, key: str = "") -> Any:
    body = {"client_secret": auth["next_action"]["client_secret"], "authenticated": authenticated}
    headers = {"Idempotency-Key": key} if key else {}
    return await sandbox.http.post(auth["next_action"]["url"], json=body, headers=headers)


# --- the pure rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authenticated", "challenge_asked", "expected"),
    [
        (None, True, AuthorizationStatus.REQUIRES_ACTION),
        (False, True, AuthorizationStatus.REQUIRES_ACTION),
        (True, True, AuthorizationStatus.AUTHORIZED),  # authenticated before: nothing to challenge
        (None, False, AuthorizationStatus.DECLINED),
    ],
)
def test_a_card_that_needs_3ds_waits_for_a_challenge_only_when_the_caller_can_take_it(
    authenticated: bool | None, challenge_asked: bool, expected: AuthorizationStatus
) -> None:
    decision = domain.decide(
        CardBehaviour.REQUIRE_3DS,
        card_expired=False,
        authenticated=authenticated,
        provider_fault=False,
        challenge=challenge_asked,
    )
    assert decision.status is expected


def test_a_challenge_on_a_card_without_3ds_changes_nothing() -> None:
    decision = domain.decide(
        CardBehaviour.SUCCEED, card_expired=False, authenticated=None, provider_fault=False, challenge=True
    )
    assert decision.status is AuthorizationStatus.AUTHORIZED


def test_the_challenge_outcome_needs_the_secret_and_a_waiting_authorization() -> None:
    waiting = Authorization("auth_1", "pm_1", AuthorizationStatus.REQUIRES_ACTION, 100, "EUR", client_secret="s3cret")
    assert domain.challenge_outcome(waiting, "s3cret", True).status is AuthorizationStatus.AUTHORIZED
    failed = domain.challenge_outcome(waiting, "s3cret", False)
    assert (failed.status, failed.decline_code) == (AuthorizationStatus.DECLINED, "authentication_failed")
    with pytest.raises(ResourceMissing):
        domain.challenge_outcome(waiting, "guess", True)
    authorised = Authorization("auth_2", "pm_1", AuthorizationStatus.AUTHORIZED, 100, "EUR", client_secret="s3cret")
    with pytest.raises(StateConflict):
        domain.challenge_outcome(authorised, "s3cret", True)


def test_a_request_without_challenge_hashes_as_before() -> None:
    """Stored Idempotency-Key hashes of bodies sent before `challenge` existed still match them."""
    body = {"payment_method": "pm_1", "amount": 1, "currency": "EUR", "three_d_secure": {"authenticated": True}}
    dumped = schemas.AuthorizationRequest.model_validate(body).model_dump(mode="json")
    assert dumped["three_d_secure"] == {"authenticated": True}


def test_completing_a_challenge_is_the_public_face() -> None:
    assert callers.face("POST", "/v1/authorizations/auth_1/challenge") is callers.Face.PUBLIC
    assert callers.face("GET", "/v1/authorizations/auth_1/challenge") is callers.Face.SERVER
    assert callers.face("POST", "/v1/authorizations/auth_1/capture") is callers.Face.SERVER


# --- over HTTP ---------------------------------------------------------------------------------------


async def test_a_passed_challenge_authorises_and_the_authorization_can_be_captured(sandbox: Sandbox) -> None:
    auth = await pending(sandbox)
    assert auth["status"] == "requires_action" and auth["three_d_secure"] is None
    action = auth["next_action"]
    assert action["type"] == "three_d_secure"
    assert action["url"] == f"{sandbox.base_url}/v1/authorizations/{auth['id']}/challenge"
    assert action["client_secret"].startswith(f"{auth['id']}_secret_")
    read = await sandbox.http.get(f"/v1/authorizations/{auth['id']}")
    assert read.json() == auth
    assert problem_code(await sandbox.http.post(f"/v1/authorizations/{auth['id']}/capture")) == (
        "authorization_not_capturable"
    )

    passed = await challenge(sandbox, auth)

    assert passed.status_code == 200, passed.text
    body = passed.json()
    assert (body["status"], body["three_d_secure"], body["next_action"]) == (
        "authorized",
        {"authenticated": True},
        None,
    )
    again = await challenge(sandbox, auth)
    assert (again.status_code, problem_code(again)) == (409, "authorization_not_awaiting_challenge")
    assert again.json()["authorization_status"] == "authorized"
    captured = await sandbox.http.post(f"/v1/authorizations/{auth['id']}/capture")
    assert (captured.status_code, captured.json()["amount_captured"]) == (200, 1000)


async def test_a_failed_challenge_declines_with_authentication_failed(sandbox: Sandbox) -> None:
    auth = await pending(sandbox)

    failed = await challenge(sandbox, auth, authenticated=False)

    assert failed.status_code == 200, failed.text
    body = failed.json()
    assert (body["status"], body["decline_code"], body["next_action"]) == ("declined", "authentication_failed", None)
    assert body["three_d_secure"] == {"authenticated": False}
    voided = await sandbox.http.post(f"/v1/authorizations/{auth['id']}/void")
    assert (voided.status_code, problem_code(voided)) == (409, "authorization_not_voidable")


async def test_a_void_cancels_an_authorization_that_waits_for_its_challenge(sandbox: Sandbox) -> None:
    auth = await pending(sandbox)

    voided = await sandbox.http.post(f"/v1/authorizations/{auth['id']}/void")

    assert (voided.status_code, voided.json()["status"], voided.json()["next_action"]) == (200, "voided", None)
    late = await challenge(sandbox, auth)
    assert (late.status_code, problem_code(late), late.json()["authorization_status"]) == (
        409,
        "authorization_not_awaiting_challenge",
        "voided",
    )


async def test_a_wrong_secret_or_an_unknown_authorization_is_404_and_changes_nothing(sandbox: Sandbox) -> None:
    auth = await pending(sandbox)
    before = await sandbox.counts()

    wrong = await sandbox.http.post(
        auth["next_action"]["url"], json={"client_secret": "auth_x_secret_guess", "authenticated": True}
    )
    unknown = await sandbox.http.post(
        "/v1/authorizations/auth_nothing/challenge", json={"client_secret": "s", "authenticated": True}
    )
    invalid = await sandbox.http.post(auth["next_action"]["url"], json={"client_secret": "", "authenticated": "yes"})

    assert (wrong.status_code, problem_code(wrong)) == (404, "resource_missing")
    assert wrong.json()["detail"] == unknown.json()["detail"].replace("auth_nothing", auth["id"])
    assert (unknown.status_code, problem_code(unknown)) == (404, "resource_missing")
    assert (invalid.status_code, problem_code(invalid)) == (422, "validation_error")
    assert {e["field"] for e in invalid.json()["errors"]} == {"client_secret", "authenticated"}
    assert await sandbox.counts() == before
    assert (await sandbox.http.get(f"/v1/authorizations/{auth['id']}")).json()["status"] == "requires_action"


async def test_capture_asked_for_at_authorisation_happens_when_the_challenge_is_passed(sandbox: Sandbox) -> None:
    auth = await pending(sandbox, 700, capture=True)
    assert (auth["status"], auth["amount_captured"]) == ("requires_action", 0)

    passed = (await challenge(sandbox, auth)).json()

    assert (passed["status"], passed["amount_captured"], len(passed["captures"])) == ("captured", 700, 1)


async def test_authorising_and_challenging_honour_idempotency_keys(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise(CARD_3DS)
    key = f"auth-{uuid.uuid4().hex}"
    first = await sandbox.authorize(method["id"], three_d_secure=CHALLENGE, key=key)
    replay = await sandbox.authorize(method["id"], three_d_secure=CHALLENGE, key=key)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    auth = first.json()

    challenge_key = f"challenge-{uuid.uuid4().hex}"
    passed = await challenge(sandbox, auth, key=challenge_key)
    repeated = await challenge(sandbox, auth, key=challenge_key)

    assert (passed.status_code, repeated.status_code) == (200, 200)
    assert repeated.headers["Idempotent-Replayed"] == "true" and repeated.json() == passed.json()
    reused = await challenge(sandbox, auth, authenticated=False, key=challenge_key)
    assert (reused.status_code, problem_code(reused)) == (422, "idempotency_key_reused")


async def test_the_challenge_url_is_on_the_configured_public_url(start_sandbox: StartSandbox) -> None:
    async with start_sandbox(sandbox_public_url="https://pay.example.test/") as sandbox:
        auth = await pending(sandbox)
    assert auth["next_action"]["url"] == f"https://pay.example.test/v1/authorizations/{auth['id']}/challenge"


async def test_the_client_library_takes_a_customer_through_the_challenge(sandbox: Sandbox) -> None:
    async with SandboxClient(sandbox.base_url) as client:
        method = await client.tokenise(CARD_3DS, 12, 2099, "123")
        key = f"auth-{uuid.uuid4().hex}"
        auth = await client.authorize(method.id, 500, "EUR", idempotency_key=key, three_d_secure_challenge=True)
        assert auth.status == "requires_action" and auth.next_action is not None

        passed = await client.complete_challenge(auth.id, auth.next_action.client_secret)

        assert passed.status == "authorized" and passed.next_action is None
        assert (await client.get_authorization(auth.id)).status == "authorized"


async def test_with_mutual_tls_the_customer_completes_the_challenge_without_a_certificate(
    start_sandbox: StartSandbox, tmp_path: Path
) -> None:
    """Checkout authorises on the server face with its certificate; the shopper's browser, with none, completes
    the challenge at next_action.url on the public face."""
    issued = pki.issue(tmp_path, ("sandbox", "checkout", "tooling"))
    files = issued["sandbox"]
    server = {
        "tls_cert_file": str(files.cert_file),
        "tls_key_file": str(files.key_file),
        "tls_ca_file": str(files.ca_file),
    }
    tooling = issued["tooling"]
    async with start_sandbox(
        **server, client_tls=httptls.context_for(tooling.cert_file, tooling.key_file, tooling.ca_file)
    ) as sandbox:
        method = await sandbox.tokenise(CARD_3DS)
        checkout = issued["checkout"]
        as_checkout = httptls.context_for(checkout.cert_file, checkout.key_file, checkout.ca_file)
        async with SandboxClient(sandbox.base_url, ssl_context=as_checkout) as client:
            auth = await client.authorize(
                method["id"], 900, "EUR", idempotency_key=f"tls-{uuid.uuid4().hex}", three_d_secure_challenge=True
            )
            assert auth.next_action is not None
            browser = ssl.create_default_context(cafile=str(files.ca_file))
            async with httpx.AsyncClient(verify=browser, timeout=5) as anonymous:
                body = {"client_secret": auth.next_action.client_secret, "authenticated": True}
                passed = await anonymous.post(auth.next_action.url, json=body)
                read = await anonymous.get(f"{sandbox.base_url}/v1/authorizations/{auth.id}")
            after = await client.get_authorization(auth.id)
    assert (passed.status_code, passed.json()["status"]) == (200, "authorized")
    assert read.status_code == 401  # reading the authorization stays the server face
    assert after.status == "authorized"
