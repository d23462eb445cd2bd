"""The service around the API: restarts, probes, metrics, tracing, latency and failure injection,
the command line, and SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shop_sandbox.domain import FailurePlan
from shop_sandbox.main import main
from shopkit import tracing
from shopkit.testing import Postgres, free_port, wait_for_port

if TYPE_CHECKING:
    from conftest import Sandbox, StartSandbox

SHOP_SANDBOX = str(Path(sys.executable).parent / "shop-sandbox")


async def test_state_survives_a_restart(start_sandbox: StartSandbox) -> None:
    key = f"restart-{uuid.uuid4().hex}"
    async with start_sandbox() as first:
        method = await first.tokenise()
        created = await first.authorize(method["id"], 3100, key=key)
        auth = created.json()
        await first.http.post(f"/v1/authorizations/{auth['id']}/capture", json={"amount": 3000})

    async with start_sandbox() as second:
        fetched = await second.http.get(f"/v1/authorizations/{auth['id']}")
        replayed = await second.authorize(method["id"], 3100, key=key)

    assert fetched.status_code == 200
    assert (fetched.json()["status"], fetched.json()["amount_captured"]) == ("captured", 3000)
    assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (201, "true")
    assert replayed.json() == auth


async def test_probes(sandbox: Sandbox, start_sandbox: StartSandbox, postgres: Postgres) -> None:
    assert (await sandbox.http.get("/healthz")).json() == {"status": "ok"}
    assert (await sandbox.http.get("/readyz")).json() == {"status": "ready"}

    async with start_sandbox(database_url=postgres.url("no_such_database")) as broken:
        live = await broken.http.get("/healthz")
        ready = await broken.http.get("/readyz")
    assert live.status_code == 200
    assert (ready.status_code, ready.json()) == (503, {"status": "database unreachable"})


async def test_openapi_describes_the_api(sandbox: Sandbox) -> None:
    spec = (await sandbox.http.get("/openapi.json")).json()
    assert {"/v1/payment_methods", "/v1/authorizations", "/v1/refunds"} <= set(spec["paths"])
    create = spec["paths"]["/v1/authorizations"]["post"]
    assert {"201", "402", "409", "422", "502"} <= set(create["responses"])
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}


async def test_metrics_count_requests_by_route_and_status(sandbox: Sandbox) -> None:
    auth = await sandbox.authorized()
    await sandbox.http.get(f"/v1/authorizations/{auth['id']}")
    await sandbox.http.get("/v1/authorizations/auth_missing")

    text = (await sandbox.http.get("/metrics")).text

    assert 'http_server_requests_total{method="POST",route="/v1/authorizations",status="201"}' in text
    assert 'http_server_requests_total{method="GET",route="/v1/authorizations/{authorization_id}",status="404"}' in text
    assert 'http_server_request_duration_seconds_bucket{le="0.5",method="POST",route="/v1/payment_methods"}' in text
    assert 'sandbox_authorizations_total{code="",status="authorized"}' in text
    assert 'route="/metrics"' not in text and 'route="/healthz"' not in text


async def test_a_request_span_continues_the_callers_trace(sandbox: Sandbox) -> None:
    exporter = InMemorySpanExporter()
    provider = tracing.setup_tracing("sandbox-test", exporter=exporter)
    auth = await sandbox.authorized()
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]

    response = await sandbox.http.post(
        f"/v1/authorizations/{auth['id']}/capture", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
    )
    provider.force_flush()

    assert response.status_code == 200
    spans = [s for s in exporter.get_finished_spans() if s.name.endswith("/capture")]
    assert len(spans) == 1, [(s.name, s.kind, dict(s.attributes or {})) for s in spans]
    span = spans[0]
    assert span.name == "POST /v1/authorizations/{authorization_id}/capture"
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None and format(span.parent.span_id, "016x") == parent_id
    assert span.attributes is not None and span.attributes["http.response.status_code"] == 200
    # The SQL statements of the request are its children.
    sql = [s for s in exporter.get_finished_spans() if s.parent and s.parent.span_id == span.context.span_id]
    assert sql, "no database spans under the request span"


async def test_latency_setting_delays_api_calls_but_not_probes_or_replays(start_sandbox: StartSandbox) -> None:
    async with start_sandbox(sandbox_latency_ms=300) as sandbox:
        started = time.monotonic()
        method = await sandbox.tokenise()
        tokenised_in = time.monotonic() - started

        started = time.monotonic()
        await sandbox.http.get("/healthz")
        probed_in = time.monotonic() - started

        key = f"latency-{uuid.uuid4().hex}"
        await sandbox.authorize(method["id"], key=key)
        started = time.monotonic()
        replay = await sandbox.authorize(method["id"], key=key)
        replayed_in = time.monotonic() - started

    assert tokenised_in >= 0.3
    assert probed_in < 0.2
    assert replay.headers["Idempotent-Replayed"] == "true" and replayed_in < 0.2


async def test_failure_rate_one_fails_every_authorisation(start_sandbox: StartSandbox) -> None:
    async with start_sandbox(sandbox_failure_rate=1.0) as sandbox:
        method = await sandbox.tokenise()
        responses = [await sandbox.authorize(method["id"]) for _ in range(3)]
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(502, "processing_error")] * 3


async def test_seeded_failure_rate_is_deterministic_per_key_and_attempt(start_sandbox: StartSandbox) -> None:
    plan = FailurePlan(rate=0.5, seed=1234)
    run = uuid.uuid4().hex
    keys = [f"seeded-{run}-{i}" for i in range(16)]
    async with start_sandbox(sandbox_failure_rate=0.5, sandbox_failure_seed=1234) as sandbox:
        method = await sandbox.tokenise()
        first = [await sandbox.authorize(method["id"], key=key) for key in keys]
        retried = [await sandbox.authorize(method["id"], key=key) for key in keys]

    expected_first = [502 if plan.fails(key, 0) else 201 for key in keys]
    assert [r.status_code for r in first] == expected_first
    assert 0 < expected_first.count(502) < len(keys)
    # A retry of a failed key is its next attempt; a success is replayed.
    expected_retry = [
        (502 if plan.fails(key, 1) else 201) if code == 502 else 201
        for key, code in zip(keys, expected_first, strict=True)
    ]
    assert [r.status_code for r in retried] == expected_retry
    assert any(code == 502 and retry == 201 for code, retry in zip(expected_first, expected_retry, strict=True))


async def test_the_test_cards_outcomes_need_no_failure_rate(start_sandbox: StartSandbox) -> None:
    async with start_sandbox(sandbox_failure_rate=0.0) as sandbox:
        method = await sandbox.tokenise()
        assert all([(await sandbox.authorize(method["id"])).status_code == 201 for _ in range(5)])


def test_settings_command_lists_the_http_settings(capsys: pytest.CaptureFixture[str]) -> None:
    main(["settings"])
    listing = capsys.readouterr().out
    assert "HTTP_PORT | 8090" in listing
    assert "SANDBOX_LATENCY_MS" in listing and "SANDBOX_FAILURE_RATE" in listing
    assert "GRPC_PORT" not in listing and "NATS_URL" not in listing


@pytest.mark.timeout(60)
async def test_migrate_then_serve_and_sigterm_finishes_in_flight_requests_and_exits_zero(
    postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = postgres.create_database("sandbox_cli")
    monkeypatch.setenv("DATABASE_URL", database_url)
    await asyncio.to_thread(main, ["migrate"])
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "SANDBOX_LATENCY_MS": "800",
        "LOG_FORMAT": "json",
        "SHUTDOWN_GRACE_SECONDS": "10",
    }
    process = subprocess.Popen([SHOP_SANDBOX, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await asyncio.to_thread(wait_for_port, port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            in_flight = asyncio.ensure_future(
                http.post(
                    "/v1/payment_methods",
                    json={"card": {"number": "4242424242424242", "exp_month": 1, "exp_year": 2099, "cvc": "123"}},
                )
            )
            await asyncio.sleep(0.3)  # the request is being processed
            process.send_signal(signal.SIGTERM)
            response = await in_flight
        assert response.status_code == 201
        assert await asyncio.to_thread(process.wait, 15) == 0
        assert process.stderr is not None
        log = process.stderr.read().decode()
        assert '"msg": "stopped"' in log and '"service": "sandbox"' in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
