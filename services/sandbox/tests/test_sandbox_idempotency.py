"""Idempotency-Key: replays, reuse with another body, concurrency, and what is not stored."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

from shopkit.testing import eventually

if TYPE_CHECKING:
    from conftest import Sandbox, StartSandbox

REPLAYED = "Idempotent-Replayed"


def new_key() -> str:
    return f"key-{uuid.uuid4().hex}"


async def authorizations_with_key(sandbox: Sandbox, key: str) -> list[str]:
    rows = await sandbox.sql("SELECT status FROM authorizations WHERE idempotency_key = :k ORDER BY created_at", k=key)
    return [row.status for row in rows]


async def test_same_key_and_body_replays_the_stored_answer(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise()
    key = new_key()

    first = await sandbox.authorize(method["id"], 1200, key=key)
    second = await sandbox.authorize(method["id"], 1200, key=key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert REPLAYED not in first.headers
    assert second.headers[REPLAYED] == "true"
    assert await authorizations_with_key(sandbox, key) == ["authorized"]


async def test_a_decline_is_replayed_too(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise("4000000000009995")
    key = new_key()

    first = await sandbox.authorize(method["id"], key=key)
    second = await sandbox.authorize(method["id"], key=key)

    assert first.status_code == second.status_code == 402
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json() == first.json()
    assert second.headers[REPLAYED] == "true"
    assert await authorizations_with_key(sandbox, key) == ["declined"]


async def test_the_same_key_with_another_body_is_422_and_changes_nothing(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise()
    key = new_key()
    await sandbox.authorize(method["id"], 1200, key=key)
    before = await sandbox.counts()

    reused = await sandbox.authorize(method["id"], 1300, key=key)

    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert await sandbox.counts() == before
    again = await sandbox.authorize(method["id"], 1200, key=key)  # the original request still replays
    assert (again.status_code, again.headers[REPLAYED]) == (201, "true")


async def test_equivalent_json_is_the_same_request(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise()
    key = new_key()
    first = await sandbox.http.post(
        "/v1/authorizations",
        content=f'{{"payment_method": "{method["id"]}", "amount": 5, "currency": "EUR"}}',
        headers={"Idempotency-Key": key, "content-type": "application/json"},
    )
    second = await sandbox.http.post(
        "/v1/authorizations",
        content=f'{{"currency":"EUR","capture":false,"amount":5,"payment_method":"{method["id"]}"}}',
        headers={"Idempotency-Key": key, "content-type": "application/json"},
    )
    assert (first.status_code, second.status_code, second.headers[REPLAYED]) == (201, 201, "true")


async def test_keys_are_scoped_to_the_endpoint(sandbox: Sandbox) -> None:
    """The order service may use its order id as the key of a capture and of a later refund."""
    auth = await sandbox.authorized(1000)
    key = new_key()

    capture = await sandbox.http.post(f"/v1/authorizations/{auth['id']}/capture", headers={"Idempotency-Key": key})
    refund = await sandbox.http.post(
        "/v1/refunds", json={"authorization": auth["id"]}, headers={"Idempotency-Key": key}
    )

    assert (capture.status_code, refund.status_code) == (200, 201)
    assert REPLAYED not in refund.headers


async def test_capture_void_and_refund_replay_instead_of_conflicting(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized(1000)
    other = await sandbox.authorized(1000)
    capture_key, void_key, refund_key = new_key(), new_key(), new_key()
    capture_path = f"/v1/authorizations/{auth['id']}/capture"
    refund_body = {"authorization": auth["id"], "amount": 400}

    captures = [await sandbox.http.post(capture_path, headers={"Idempotency-Key": capture_key}) for _ in range(2)]
    voids = [
        await sandbox.http.post(f"/v1/authorizations/{other['id']}/void", headers={"Idempotency-Key": void_key})
        for _ in range(2)
    ]
    refunds = [
        await sandbox.http.post("/v1/refunds", json=refund_body, headers={"Idempotency-Key": refund_key})
        for _ in range(2)
    ]

    for pair in (captures, voids):
        assert [r.status_code for r in pair] == [200, 200]
        assert pair[0].json() == pair[1].json()
    assert [r.status_code for r in refunds] == [201, 201]
    assert refunds[0].json()["id"] == refunds[1].json()["id"]
    stored = (await sandbox.http.get(f"/v1/authorizations/{auth['id']}")).json()
    assert (stored["amount_refunded"], len(stored["refunds"])) == (400, 1)


async def test_a_state_conflict_is_stored_under_its_key(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized(1000, capture=True)
    key = new_key()
    path = f"/v1/authorizations/{auth['id']}/void"
    first = await sandbox.http.post(path, headers={"Idempotency-Key": key})
    second = await sandbox.http.post(path, headers={"Idempotency-Key": key})
    assert (first.status_code, second.status_code) == (409, 409)
    assert second.headers[REPLAYED] == "true"


async def test_rejected_input_is_not_stored_under_the_key(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise()
    key = new_key()

    invalid = await sandbox.authorize(method["id"], 0, key=key)
    valid = await sandbox.authorize(method["id"], 100, key=key)

    assert invalid.status_code == 422
    assert valid.status_code == 201
    assert REPLAYED not in valid.headers


async def test_a_processing_error_is_not_stored_and_a_retry_runs_again(sandbox: Sandbox) -> None:
    method = await sandbox.tokenise("4000000000000119")
    key = new_key()

    first = await sandbox.authorize(method["id"], key=key)
    second = await sandbox.authorize(method["id"], key=key)

    assert first.status_code == second.status_code == 502
    assert REPLAYED not in second.headers
    assert first.json()["authorization"]["id"] != second.json()["authorization"]["id"]
    assert await authorizations_with_key(sandbox, key) == ["failed", "failed"]
    assert await sandbox.sql("SELECT 1 FROM idempotency_keys WHERE key = :k", k=key) == []


async def test_20_concurrent_requests_with_one_key_make_one_authorization(start_sandbox: StartSandbox) -> None:
    # Processing takes 150 ms, so every request arrives while the first one runs.
    async with start_sandbox(sandbox_latency_ms=150) as sandbox:
        method = await sandbox.tokenise()
        key = new_key()

        responses = await asyncio.gather(*(sandbox.authorize(method["id"], 4200, key=key) for _ in range(20)))

        assert [r.status_code for r in responses] == [201] * 20
        assert len({r.text for r in responses}) == 1
        assert sum(r.headers.get(REPLAYED) == "true" for r in responses) == 19
        assert await authorizations_with_key(sandbox, key) == ["authorized"]
        rows = await sandbox.sql("SELECT count(*) AS n FROM idempotency_keys WHERE key = :k", k=key)
        assert rows[0].n == 1


async def test_a_request_that_waits_too_long_for_its_key_gets_409_request_in_progress(
    start_sandbox: StartSandbox,
) -> None:
    async with start_sandbox(sandbox_latency_ms=600, idempotency_wait_ms=50) as sandbox:
        method = await sandbox.tokenise()
        key = new_key()

        first = asyncio.ensure_future(sandbox.authorize(method["id"], key=key))

        async def key_is_held() -> bool:
            rows = await sandbox.sql("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted")
            return bool(rows)

        await eventually(key_is_held, within=5, interval=0.01)  # the first request is processing
        busy = await asyncio.gather(*(sandbox.authorize(method["id"], key=key) for _ in range(4)))
        done = await first
        later = await sandbox.authorize(method["id"], key=key)

        assert done.status_code == 201
        assert [r.status_code for r in busy] == [409] * 4
        assert {(r.json()["code"], r.json()["retryable"]) for r in busy} == {("request_in_progress", True)}
        assert (later.status_code, later.headers[REPLAYED], later.json()) == (201, "true", done.json())
        assert await authorizations_with_key(sandbox, key) == ["authorized"]


async def test_concurrent_captures_with_different_keys_capture_once(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized(1000)
    path = f"/v1/authorizations/{auth['id']}/capture"

    responses = await asyncio.gather(
        *(sandbox.http.post(path, headers={"Idempotency-Key": new_key()}) for _ in range(8))
    )

    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    rows = await sandbox.sql("SELECT count(*) AS n FROM captures WHERE authorization_id = :a", a=auth["id"])
    assert rows[0].n == 1
