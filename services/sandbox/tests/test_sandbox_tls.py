"""Mutual TLS on the API's port, over real connections: the public face (tokenising a card, probes,
docs) takes clients without a certificate, the server face (reading a payment method, authorising,
capturing, ...) a certificate of the shop's CA named checkout, order or tooling (401 without one, 403
for another name), `/metrics` any certificate of the CA; another CA's certificate is refused in the
handshake; the plain-HTTP health port serves the probes alone; plain text binds loopback only."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from shop_sandbox import callers
from shop_sandbox.callers import Face
from shop_sandbox.client import ProviderError, SandboxClient
from shop_sandbox.main import main
from shopkit import httptls, pki
from shopkit.testing import Postgres, free_port, wait_for_port
from shopkit.tls import TlsSettingsError

if TYPE_CHECKING:
    from conftest import Sandbox, StartSandbox

NAMES = ("sandbox", "checkout", "order", "tooling", "gateway", "fraud", "cart")
SHOP_SANDBOX = str(Path(sys.executable).parent / "shop-sandbox")


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pki.Issued]:
    return pki.issue(tmp_path_factory.mktemp("pki"), NAMES)


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> pki.Issued:
    """A certificate named like an allowed caller, from another CA."""
    return pki.issue(tmp_path_factory.mktemp("other-pki"), ["checkout"], authority="another CA")["checkout"]


def server_tls(issued: dict[str, pki.Issued], **overrides: Any) -> dict[str, Any]:
    files = issued["sandbox"]
    return {
        "tls_cert_file": str(files.cert_file),
        "tls_key_file": str(files.key_file),
        "tls_ca_file": str(files.ca_file),
        **overrides,
    }


def client_tls(files: pki.Issued) -> ssl.SSLContext:
    return httptls.context_for(files.cert_file, files.key_file, files.ca_file)


CARD = {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}}


async def test_a_client_with_a_certificate_of_the_ca_calls_the_api(
    start_sandbox: StartSandbox, issued: dict[str, pki.Issued]
) -> None:
    async with start_sandbox(**server_tls(issued), client_tls=client_tls(issued["tooling"])) as sandbox:
        assert sandbox.base_url.startswith("https://127.0.0.1:")
        method = await sandbox.tokenise()
        # The provider's client library, as checkout builds it.
        async with SandboxClient(sandbox.base_url, ssl_context=client_tls(issued["checkout"])) as client:
            auth = await client.authorize(method["id"], 1500, "EUR", idempotency_key="tls-1")
            fetched = await client.get_authorization(auth.id)
    assert (auth.status, fetched.amount) == ("authorized", 1500)


def public_tls(issued: dict[str, pki.Issued]) -> ssl.SSLContext:
    """A shopper's browser: it verifies the provider, and has no certificate of its own."""
    return ssl.create_default_context(cafile=str(issued["sandbox"].ca_file))


# TLS 1.2 fails in the handshake itself; in TLS 1.3 the client's side of the handshake ends before the
# server checks its certificate, so the refusal (the server closing) meets the client's first read.
REFUSALS = {ssl.TLSVersion.TLSv1_2: httpx.ConnectError, ssl.TLSVersion.TLSv1_3: httpx.ReadError}


@pytest.mark.parametrize("version", list(REFUSALS), ids=["TLS1.2", "TLS1.3"])
async def test_a_certificate_of_another_ca_is_refused_in_the_handshake(
    start_sandbox: StartSandbox, issued: dict[str, pki.Issued], stranger: pki.Issued, version: ssl.TLSVersion
) -> None:
    """The handshake asks for a certificate without requiring one, and still verifies one that is
    presented: a client named checkout by another CA gets no further, not even to the public face."""
    client = client_tls(stranger)
    client.load_verify_locations(cafile=str(issued["sandbox"].ca_file))  # it trusts the server, still
    client.minimum_version = client.maximum_version = version
    async with start_sandbox(**server_tls(issued), client_tls=client_tls(issued["tooling"])) as sandbox:
        before = await sandbox.counts()
        async with httpx.AsyncClient(base_url=sandbox.base_url, verify=client, timeout=5) as refused:
            with pytest.raises(REFUSALS[version]):
                await refused.post("/v1/payment_methods", json=CARD)
            with pytest.raises(REFUSALS[version]):
                await refused.get("/healthz")
        # The server goes on serving the others, and nothing was stored.
        assert (await sandbox.http.get("/readyz")).status_code == 200
        assert await sandbox.counts() == before


SERVER_FACE = [
    ("POST", "/v1/authorizations/auth_123/capture"),
    ("POST", "/v1/authorizations/auth_123/void"),
    ("POST", "/v1/refunds"),
    ("GET", "/v1/authorizations/auth_123"),
    ("GET", "/v1/payment_methods/pm_123"),  # brand, last4, expiry, fingerprint: not for whoever holds the id
    ("PUT", "/v1/payment_methods"),  # a public path, another method: not public
    ("GET", "/v1/payment_methods"),
    ("GET", "/v1/nowhere"),  # unknown paths too (fail-closed)
    ("GET", "/v2/anything"),
    ("GET", "/metrics"),  # any certificate of the CA, but one
]


@pytest.mark.parametrize("version", list(REFUSALS), ids=["TLS1.2", "TLS1.3"])
async def test_a_client_without_a_certificate_reaches_the_public_face_alone(
    start_sandbox: StartSandbox, issued: dict[str, pki.Issued], version: ssl.TLSVersion
) -> None:
    browser = public_tls(issued)
    browser.minimum_version = browser.maximum_version = version
    async with (
        start_sandbox(**server_tls(issued), client_tls=client_tls(issued["tooling"])) as sandbox,
        httpx.AsyncClient(base_url=sandbox.base_url, verify=browser, timeout=5) as anonymous,
    ):
        tokenised = await anonymous.post("/v1/payment_methods", json=CARD, headers={"Idempotency-Key": f"pm-{version}"})
        assert tokenised.status_code == 201, tokenised.text
        method = tokenised.json()["id"]
        read = await anonymous.get(f"/v1/payment_methods/{method}")  # the server face: refused below
        pages = [(await anonymous.get(path)).status_code for path in ("/healthz", "/readyz", "/openapi.json", "/docs")]
        before = await sandbox.counts()
        authorise = await anonymous.post(
            "/v1/authorizations",
            json={"payment_method": method, "amount": 1500, "currency": "EUR"},
            headers={"Idempotency-Key": f"auth-{version}"},
        )
        others = [await anonymous.request(verb, path, json={}) for verb, path in SERVER_FACE]
        assert await sandbox.counts() == before  # the refused authorisation stored nothing, not even its key
        # The same authorisation with checkout's certificate (the same key: nothing was kept under it).
        async with SandboxClient(sandbox.base_url, ssl_context=client_tls(issued["checkout"])) as checkout:
            auth = await checkout.authorize(method, 1500, "EUR", idempotency_key=f"auth-{version}")
            fetched = await checkout.get_payment_method(method)
    assert pages == [200, 200, 200, 200]
    assert (fetched.id, fetched.card.last4) == (method, "4242")
    for refused in (read, authorise, *others):
        assert (refused.status_code, refused.headers["content-type"]) == (401, "application/problem+json"), (
            refused.request.url
        )
        assert refused.json()["code"] == "client_certificate_required"
        assert refused.headers["www-authenticate"] == "TLS-Client-Certificate"
    assert (auth.status, auth.amount) == ("authorized", 1500)


async def test_a_browsers_idle_connection_stays_open_for_its_next_card(
    start_sandbox: StartSandbox, issued: dict[str, pki.Issued]
) -> None:
    """A shopper's connection idle for 6 s (past uvicorn's default of 5 s, under any proxy's or pool's
    idle timeout) still carries the next tokenisation: a server that closes first races that POST, which
    no client retries. HTTP_KEEPALIVE_SECONDS closes it once idle that long."""

    async def tokenise_twice(sandbox: Sandbox, idle: float) -> tuple[object, object]:
        pool = httpx.Limits(keepalive_expiry=60)  # a browser's: httpx's own default drops it at 5 s
        async with httpx.AsyncClient(
            base_url=sandbox.base_url, verify=public_tls(issued), timeout=5, limits=pool
        ) as browser:
            streams = []
            for _ in range(2):
                response = await browser.post("/v1/payment_methods", json=CARD)
                assert response.status_code == 201, response.text
                streams.append(response.extensions["network_stream"])
                await asyncio.sleep(idle)
        return streams[0], streams[1]

    async with (
        start_sandbox(**server_tls(issued)) as default,
        start_sandbox(**server_tls(issued), http_keepalive_seconds=1) as short,
    ):
        assert default.service.settings.http_keepalive_seconds == 75
        kept, closed = await asyncio.gather(tokenise_twice(default, idle=6), tokenise_twice(short, idle=2))
    assert kept[1] is kept[0]  # the same connection
    assert closed[1] is not closed[0]  # the server closed the idle one; the client opened another


async def test_plain_http_to_the_tls_port_gets_no_answer(
    start_sandbox: StartSandbox, issued: dict[str, pki.Issued]
) -> None:
    async with start_sandbox(**server_tls(issued), client_tls=client_tls(issued["tooling"])) as sandbox:
        plain = sandbox.base_url.replace("https://", "http://")
        async with httpx.AsyncClient(base_url=plain, timeout=5) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get("/healthz")


@pytest.mark.parametrize(
    ("method", "path", "face"),
    [
        ("POST", "/v1/payment_methods", Face.PUBLIC),
        ("GET", "/v1/payment_methods/pm_123", Face.SERVER),  # the card's details: the shop's servers alone
        ("GET", "/readyz", Face.PUBLIC),
        ("HEAD", "/docs", Face.PUBLIC),
        ("GET", "/metrics", Face.CERTIFICATE),
        ("POST", "/v1/authorizations", Face.SERVER),
        ("GET", "/v1/payment_methods/pm_123/authorizations", Face.SERVER),  # one segment, no more
        ("GET", "/v1/payment_methods/", Face.SERVER),
        ("POST", "/v1/payment_methods/", Face.SERVER),
        ("POST", "/v1/payment_methods\n", Face.SERVER),  # %0A: the whole path must match
        ("post", "/v1/payment_methods", Face.SERVER),  # methods are case-sensitive
        ("DELETE", "/v1/payment_methods/pm_123", Face.SERVER),
        ("GET", "/metrics/", Face.SERVER),
        ("GET", "//readyz", Face.SERVER),
    ],
)
def test_a_route_is_of_the_server_face_unless_listed(method: str, path: str, face: Face) -> None:
    assert callers.face(method, path) is face


@pytest.mark.parametrize("caller", ["gateway", "fraud", "cart", "sandbox"])
async def test_only_checkout_order_and_tooling_may_call_the_server_face(
    start_sandbox: StartSandbox, issued: dict[str, pki.Issued], caller: str
) -> None:
    async with start_sandbox(**server_tls(issued), client_tls=client_tls(issued[caller])) as sandbox:
        tokenised = await sandbox.http.post("/v1/payment_methods", json=CARD)  # the public face: anyone
        method = tokenised.json()["id"]
        before = await sandbox.counts()
        authorise = await sandbox.http.post(
            "/v1/authorizations", json={"payment_method": method, "amount": 1500, "currency": "EUR"}
        )
        read = await sandbox.http.get("/v1/authorizations/auth_123")
        card = await sandbox.http.get(f"/v1/payment_methods/{method}")
        unknown = await sandbox.http.get("/v2/anything")
        refused_count = await sandbox.counts()
        probe = await sandbox.http.get("/readyz")
        document = await sandbox.http.get("/openapi.json")
        metrics = await sandbox.http.get("/metrics")  # any certificate of the CA
        allowed = []
        for name in ("checkout", "order", "tooling"):
            async with httpx.AsyncClient(base_url=sandbox.base_url, verify=client_tls(issued[name])) as client:
                body = {"payment_method": method, "amount": 100, "currency": "EUR"}
                allowed.append((await client.post("/v1/authorizations", json=body)).status_code)

    assert tokenised.status_code == 201
    assert refused_count == before
    for refused in (authorise, read, card, unknown):
        assert (refused.status_code, refused.headers["content-type"]) == (403, "application/problem+json")
        assert (refused.json()["code"], refused.json()["caller"]) == ("caller_not_allowed", caller)
    assert (probe.status_code, document.status_code, metrics.status_code, allowed) == (200, 200, 200, [201] * 3)
    assert "http_server_requests_total" in metrics.text


async def test_the_health_port_serves_the_probes_alone_in_plain_http(
    start_sandbox: StartSandbox, issued: dict[str, pki.Issued], postgres: Postgres
) -> None:
    port = free_port()
    settings = server_tls(issued, health_port=port)
    async with start_sandbox(**settings, client_tls=client_tls(issued["tooling"])) as sandbox:
        api = sandbox.base_url
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as probe:
            live, ready = await probe.get("/healthz"), await probe.get("/readyz")
            others = [await probe.get(path) for path in ("/v1/payment_methods/pm_123", "/metrics", "/openapi.json")]
            posted = await probe.post("/v1/payment_methods", json=CARD)
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    for response in [*others, posted]:
        assert (response.status_code, response.headers["content-type"]) == (404, "application/problem+json")
        assert response.json()["code"] == "not_found"
    # Both listeners closed with the service.
    async with httpx.AsyncClient(verify=client_tls(issued["tooling"]), timeout=2) as client:
        for closed in (f"http://127.0.0.1:{port}/healthz", f"{api}/healthz"):
            with pytest.raises(httpx.ConnectError):
                await client.get(closed)

    # The same readiness as the API's port: a database that does not answer is 503 there too.
    port = free_port()
    broken = postgres.url("no_such_database")
    async with (
        start_sandbox(database_url=broken, health_port=port),  # plain text on loopback, with a health port
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as probe,
    ):
        ready = await probe.get("/readyz")
    assert (ready.status_code, ready.json()) == (503, {"status": "database unreachable"})


async def test_the_probes_say_draining_until_the_api_has_stopped(
    start_sandbox: StartSandbox, issued: dict[str, pki.Issued]
) -> None:
    """Also: connections held open by clients (idle in a pool, or answered during the drain) don't
    hold the shutdown for the grace period (5 s here) waiting on the clients' TLS close."""
    port = free_port()
    settings = server_tls(issued, health_port=port, sandbox_latency_ms=1000)
    async with (
        start_sandbox(**settings, client_tls=client_tls(issued["tooling"])) as sandbox,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as probe,
        httpx.AsyncClient(base_url=sandbox.base_url, verify=client_tls(issued["order"])) as pooled,
    ):
        assert (await pooled.get("/healthz")).status_code == 200  # its connection stays open, idle
        in_flight = asyncio.create_task(sandbox.http.get("/v1/payment_methods/pm_123"))
        await asyncio.sleep(0.3)  # the request is being served
        started = time.monotonic()
        stopping = asyncio.create_task(sandbox.service.stop())
        await asyncio.sleep(0.2)
        draining = await probe.get("/readyz")  # while the API's server lets the request finish
        finished = await in_flight
        await stopping
        stopped_in = time.monotonic() - started
        with pytest.raises(httpx.ConnectError):  # then the probes' server closed too
            await probe.get("/readyz")
    assert (draining.status_code, draining.json()) == (503, {"status": "draining"})
    # The in-flight request got its answer (no such payment method), told that the connection closes.
    assert (finished.status_code, finished.headers["connection"]) == (404, "close")
    assert stopped_in < 2.5


async def test_plain_http_on_an_address_other_than_loopback_is_refused_at_start(
    start_sandbox: StartSandbox, issued: dict[str, pki.Issued], tmp_path: Path
) -> None:
    with pytest.raises(TlsSettingsError, match="without TLS"):
        async with start_sandbox(http_host="0.0.0.0"):
            pass
    with pytest.raises(TlsSettingsError, match="all of"):  # some of the files are not enough
        async with start_sandbox(tls_cert_file=str(issued["sandbox"].cert_file)):
            pass
    with pytest.raises(TlsSettingsError, match="cannot read"):
        async with start_sandbox(**server_tls(issued, tls_ca_file=str(tmp_path / "missing.pem"))):
            pass


async def test_a_client_verifies_the_provider_against_the_shops_ca(
    start_sandbox: StartSandbox, issued: dict[str, pki.Issued], stranger: pki.Issued
) -> None:
    """Order and checkout trust the shop's CA alone: a server with another CA's certificate is refused."""
    fake = {"tls_cert_file": str(stranger.cert_file), "tls_key_file": str(stranger.key_file)}
    async with start_sandbox(**server_tls(issued, **fake)) as impostor:
        client = SandboxClient(impostor.base_url, ssl_context=client_tls(issued["order"]), max_attempts=1)
        with pytest.raises(ProviderError) as refused:
            await client.get_authorization("auth_123")
        await client.aclose()
    assert "CERTIFICATE_VERIFY_FAILED" in refused.value.message


@pytest.mark.timeout(60)
async def test_shop_sandbox_serve_with_tls_and_a_health_port_stops_promptly_on_sigterm(
    postgres: Postgres, issued: dict[str, pki.Issued], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process as deployed (uvloop's event loop and TLS): the public face without a certificate,
    callers by name, probes on the health port, and SIGTERM with a client's idle pooled connection
    open exits 0 without waiting the grace."""
    database_url = postgres.create_database("sandbox_tls_cli")
    monkeypatch.setenv("DATABASE_URL", database_url)
    await asyncio.to_thread(main, ["migrate"])
    port, health_port = free_port(), free_port()
    env = {
        **os.environ,
        **issued["sandbox"].environment(),
        "DATABASE_URL": database_url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "HEALTH_PORT": str(health_port),
        "SHUTDOWN_GRACE_SECONDS": "10",
    }
    process = subprocess.Popen([SHOP_SANDBOX, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"https://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_for_port, health_port)
        async with (
            httpx.AsyncClient(base_url=url, verify=client_tls(issued["order"]), timeout=5) as order,
            httpx.AsyncClient(base_url=url, verify=client_tls(issued["gateway"]), timeout=5) as gateway,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{health_port}", timeout=5) as probe,
        ):
            public = public_tls(issued)
            async with httpx.AsyncClient(base_url=url, verify=public, timeout=5) as browser:
                tokenised = await browser.post("/v1/payment_methods", json=CARD)
                anonymous = await browser.get("/v1/authorizations/auth_123")
            method = {"payment_method": tokenised.json()["id"], "amount": 100, "currency": "EUR"}
            allowed = await order.post("/v1/authorizations", json=method)
            refused = await gateway.post("/v1/authorizations", json=method)
            ready = await probe.get("/readyz")
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)  # both clients keep their connections open, idle
            exit_status = await asyncio.to_thread(process.wait, 15)
            stopped_in = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    statuses = (tokenised.status_code, anonymous.status_code, allowed.status_code, refused.status_code)
    assert statuses == (201, 401, 201, 403)
    assert ready.status_code == 200
    assert exit_status == 0 and stopped_in < 5, stopped_in
