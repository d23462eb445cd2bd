"""shop_sandbox.client against the live server: results, typed errors, retries, deadlines, traces."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shop_sandbox.client import (
    Conflict,
    Declined,
    InvalidRequest,
    NotFound,
    ProviderError,
    SandboxClient,
)
from shopkit import deadlines, tracing
from shopkit.testing import free_port

if TYPE_CHECKING:
    from conftest import Sandbox, StartSandbox

YEAR = 2099


def key() -> str:
    return f"client-{uuid.uuid4().hex}"


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[SandboxClient]:
    async with SandboxClient(sandbox.base_url, timeout=5, max_attempts=3, backoff_seconds=0.01) as sandbox_client:
        yield sandbox_client


async def test_the_whole_payment_lifecycle(client: SandboxClient) -> None:
    method = await client.tokenise("4000008260000000", 12, YEAR, "123", billing_country="GB")
    auth = await client.authorize(method.id, 5000, "GBP", idempotency_key=key(), metadata={"checkout_id": "co-9"})
    captured = await client.capture(auth.id, amount=4500, idempotency_key=key())
    refund = await client.refund(auth.id, amount=1000, idempotency_key=key())
    fetched = await client.get_authorization(auth.id)

    assert (method.card.brand, method.card.country, method.card.last4) == ("visa", "GB", "0000")
    assert (await client.get_payment_method(method.id)) == method
    assert (auth.status, auth.amount, auth.currency, auth.metadata) == (
        "authorized",
        5000,
        "GBP",
        {"checkout_id": "co-9"},
    )
    assert (captured.status, captured.amount_captured) == ("captured", 4500)
    assert (refund.amount, refund.authorization, refund.status) == (1000, auth.id, "succeeded")
    assert (fetched.amount_refunded, [r.id for r in fetched.refunds], len(fetched.captures)) == (1000, [refund.id], 1)


async def test_void(client: SandboxClient) -> None:
    method = await client.tokenise("4242424242424242", 1, YEAR, "123")
    auth = await client.authorize(method.id, 100, "EUR", idempotency_key=key())
    assert (await client.void(auth.id, idempotency_key=key())).status == "voided"


@pytest.mark.parametrize(
    ("number", "code", "three_ds"),
    [
        ("4000000000000002", "card_declined", None),
        ("4000000000009995", "insufficient_funds", None),
        ("4000000000003220", "authentication_required", False),
    ],
)
async def test_declines_raise_declined_with_the_code(
    client: SandboxClient, number: str, code: str, three_ds: bool | None
) -> None:
    method = await client.tokenise(number, 12, YEAR, "123")
    with pytest.raises(Declined) as declined:
        await client.authorize(method.id, 100, "EUR", idempotency_key=key(), three_d_secure_authenticated=three_ds)
    assert declined.value.code == code
    assert declined.value.authorization is not None and declined.value.authorization.status == "declined"


async def test_3ds_authenticated(client: SandboxClient) -> None:
    method = await client.tokenise("4000000000003220", 12, YEAR, "123")
    auth = await client.authorize(method.id, 100, "EUR", idempotency_key=key(), three_d_secure_authenticated=True)
    assert auth.status == "authorized"


async def test_processing_errors_are_retried_with_the_same_key_then_raised(
    client: SandboxClient, sandbox: Sandbox
) -> None:
    method = await client.tokenise("4000000000000119", 12, YEAR, "123")
    idempotency_key = key()

    with pytest.raises(ProviderError) as failed:
        await client.authorize(method.id, 100, "EUR", idempotency_key=idempotency_key)

    assert (failed.value.retryable, failed.value.code, failed.value.status) == (True, "processing_error", 502)
    rows = await sandbox.sql("SELECT count(*) AS n FROM authorizations WHERE idempotency_key = :k", k=idempotency_key)
    assert rows[0].n == 3  # max_attempts


async def test_without_a_key_a_post_is_not_retried(client: SandboxClient, sandbox: Sandbox) -> None:
    method = await client.tokenise("4000000000000119", 12, YEAR, "123")
    before = (await sandbox.counts())["authorizations"]
    with pytest.raises(ProviderError):
        await client.authorize(method.id, 100, "EUR", idempotency_key=None)
    assert (await sandbox.counts())["authorizations"] == before + 1


async def test_injected_faults_are_retried_until_an_attempt_succeeds(start_sandbox: StartSandbox) -> None:
    async with start_sandbox(sandbox_failure_rate=0.5, sandbox_failure_seed=99) as sandbox:
        # Up to 24 attempts: at a rate of 0.5 a key fails them all once in 2**24 (with 8 attempts, one
        # of 24 keys did so in about one run of eleven).
        async with SandboxClient(sandbox.base_url, max_attempts=24, backoff_seconds=0.001) as sandbox_client:
            method = await sandbox_client.tokenise("4242424242424242", 12, YEAR, "123")
            # Each key's faults follow from the seed and the key: with 24 fresh keys at a rate of 0.5, the
            # chance that no first attempt fails is 2**-24.
            keys = [key() for _ in range(24)]
            results = [await sandbox_client.authorize(method.id, 100, "EUR", idempotency_key=k) for k in keys]
        attempts = await sandbox.sql(
            "SELECT count(*) AS n FROM authorizations WHERE idempotency_key = ANY(:keys) AND status = 'failed'",
            keys=keys,
        )
    assert [r.status for r in results] == ["authorized"] * 24
    assert attempts[0].n > 0  # some first attempts failed and were retried


async def test_not_found_conflict_and_invalid_request(client: SandboxClient) -> None:
    method = await client.tokenise("4242424242424242", 12, YEAR, "123")
    auth = await client.authorize(method.id, 100, "EUR", idempotency_key=key(), capture=True)
    reused = key()
    await client.authorize(method.id, 100, "EUR", idempotency_key=reused)

    with pytest.raises(NotFound):
        await client.get_authorization("auth_nope")
    with pytest.raises(Conflict) as conflict:
        await client.void(auth.id, idempotency_key=key())
    with pytest.raises(InvalidRequest) as invalid:
        await client.tokenise("4242424242424241", 12, YEAR, "1")
    with pytest.raises(InvalidRequest) as reuse:
        await client.authorize(method.id, 200, "EUR", idempotency_key=reused)

    assert (conflict.value.code, conflict.value.authorization_status) == ("authorization_not_voidable", "captured")
    assert set(invalid.value.errors) == {"card.number", "card.cvc"}
    assert reuse.value.code == "idempotency_key_reused"


async def test_an_unreachable_sandbox_is_a_retryable_provider_error() -> None:
    async with SandboxClient(f"http://127.0.0.1:{free_port()}", max_attempts=3, backoff_seconds=0.01) as unreachable:
        started = time.monotonic()
        with pytest.raises(ProviderError) as failed:
            await unreachable.capture("auth_x", idempotency_key=key())
    assert failed.value.retryable
    assert "ConnectError" in failed.value.message
    assert time.monotonic() - started < 2


async def test_the_callers_deadline_bounds_the_call(start_sandbox: StartSandbox) -> None:
    async with (
        start_sandbox(sandbox_latency_ms=1000) as sandbox,
        SandboxClient(sandbox.base_url, timeout=5, max_attempts=1) as slow,
    ):
        deadlines.set_deadline(0.3)  # as the gRPC server interceptor does for an incoming call
        try:
            started = time.monotonic()
            with pytest.raises(ProviderError) as failed:
                await slow.get_authorization("auth_x")
            elapsed = time.monotonic() - started
        finally:
            deadlines.set_deadline(None)
    assert failed.value.retryable and "Timeout" in failed.value.message
    assert elapsed < 0.9


async def test_calls_carry_the_trace(client: SandboxClient) -> None:
    exporter = InMemorySpanExporter()
    provider = tracing.setup_tracing("sandbox-test", exporter=exporter)
    method = await client.tokenise("4242424242424242", 12, YEAR, "123")

    with tracing.tracer("test").start_as_current_span("checkout") as parent:
        await client.authorize(method.id, 100, "EUR", idempotency_key=key())
    provider.force_flush()

    spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == parent.get_span_context().trace_id]
    names = {s.name: s for s in spans}
    client_span, server_span = names["POST /v1/authorizations"], None
    for span in spans:
        if span.kind.name == "SERVER":
            server_span = span
    assert client_span.kind.name == "CLIENT"
    assert client_span.parent is not None and client_span.parent.span_id == parent.get_span_context().span_id
    assert server_span is not None and server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id
