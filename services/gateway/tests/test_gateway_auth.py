"""Authentication, authorization and rate limits at the edge, over real HTTP and gRPC: dev tokens,
tokens that must be refused, JWKS verification with a key rotation, role checks, 429s."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.rpc import error_details_pb2, status_pb2
from jwt.algorithms import RSAAlgorithm

from shop.storefront.v1 import storefront_pb2
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory

ISSUER, AUDIENCE = "http://localhost:8080", "shop"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "iat": now, "exp": now + 600, "role": "customer"}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sign(key: rsa.RSAPrivateKey, kid: str, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="RS256", headers={"kid": kid})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def metadata(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """HTTP headers as gRPC metadata (keys are lower-case there)."""
    return tuple((key.lower(), value) for key, value in headers.items())


# --- dev issuer -----------------------------------------------------------------------------------


async def test_dev_tokens_are_issued_and_verified(gateway: Client) -> None:
    response = await gateway.http.post(
        "/v1/auth/token", json={"username": "alice", "role": "b2b_buyer", "account_id": "acme"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    keys = (await gateway.http.get("/.well-known/jwks.json")).json()["keys"]
    header = jwt.get_unverified_header(body["access_token"])
    key = jwt.PyJWK(next(k for k in keys if k["kid"] == header["kid"]))
    decoded = jwt.decode(body["access_token"], key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    assert (decoded["sub"], decoded["role"], decoded["account_id"]) == ("alice", "b2b_buyer", "acme")
    assert decoded["email"] == "alice@example.com"
    # The gateway accepts it once alice is a member of acme's company: a role check (not
    # authentication) is what stops this call.
    await gateway.join("acme", "alice")
    response = await gateway.http.get("/v1/reviews", headers=bearer(body["access_token"]))
    gateway.problem(response, 403, "ROLE_REQUIRED")
    browse = await gateway.http.get("/v1/products", headers=bearer(body["access_token"]))
    assert browse.status_code == 200


async def test_dev_token_requests_are_validated(gateway: Client) -> None:
    response = await gateway.http.post("/v1/auth/token", json={"username": "bob", "role": "superuser"})
    assert [e["field"] for e in gateway.problem(response, 400, "INVALID_ARGUMENT")["errors"]] == ["role"]
    response = await gateway.http.post("/v1/auth/token", json={"username": "bob", "role": "b2b_approver"})
    assert [e["field"] for e in gateway.problem(response, 400, "INVALID_ARGUMENT")["errors"]] == ["account_id"]
    response = await gateway.http.post("/v1/auth/token", json={"role": "customer"})
    assert [e["field"] for e in gateway.problem(response, 400, "INVALID_ARGUMENT")["errors"]] == ["username"]


async def test_expired_and_forged_tokens_are_401_problems(gateway: Client) -> None:
    issuer = gateway.runtime.gateway.issuer
    assert issuer is not None
    stranger = new_key()
    past = int(time.time()) - 3600
    cases = {
        "TOKEN_EXPIRED": [issuer.sign(claims(iat=past - 600, exp=past))],
        "INVALID_TOKEN": [
            sign(stranger, issuer.kid),  # right kid, wrong key
            jwt.encode(claims(), "", algorithm="none"),
            jwt.encode(
                claims(), "a-shared-secret-of-at-least-32-bytes", algorithm="HS256", headers={"kid": issuer.kid}
            ),
            issuer.sign(claims(aud="someone-else")),
            issuer.sign(claims(iss="https://evil.example.com")),
            issuer.sign(claims(sub=None)),
            issuer.sign(claims(role="service")),  # internal role: never from a client
            issuer.sign(claims(role="b2b_buyer")),  # B2B without an account
            issuer.sign(claims(exp=None)),
            "not-a-jwt",
        ],
        "UNKNOWN_SIGNING_KEY": [sign(stranger, "some-other-kid")],
    }
    for code, tokens in cases.items():
        for token in tokens:
            response = await gateway.http.get("/v1/products", headers=bearer(token))
            body = gateway.problem(response, 401, code)
            assert body["type"].endswith(code.lower().replace("_", "-"))
            assert response.headers["www-authenticate"].startswith("Bearer")
    response = await gateway.http.get("/v1/products", headers={"Authorization": f"Basic {issuer.sign(claims())}"})
    gateway.problem(response, 401, "INVALID_AUTHORIZATION_HEADER")
    # The same over gRPC.
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await gateway.grpc.GetCart(
            storefront_pb2.GetCartRequest(), metadata=metadata(bearer(sign(stranger, issuer.kid)))
        )
    error = parse_rpc_error(failed.value)
    assert (error.code, error.reason) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")


async def test_private_routes_need_a_token(gateway: Client) -> None:
    for method, path in (("GET", "/v1/cart"), ("GET", "/v1/orders"), ("POST", "/v1/checkout"), ("GET", "/v1/reviews")):
        response = await gateway.http.request(method, path, json={} if method == "POST" else None)
        gateway.problem(response, 401, "TOKEN_REQUIRED")
        assert response.headers["www-authenticate"] == "Bearer"
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await gateway.grpc.ListOrders(storefront_pb2.ListOrdersRequest())
    assert parse_rpc_error(failed.value).reason == "TOKEN_REQUIRED"


async def test_roles_are_checked_before_any_backend_call(gateway: Client) -> None:
    """The backends behind these routes are not even running: a 403 proves the gateway decided."""
    forbidden = {
        "customer": [("GET", "/v1/reviews"), ("POST", "/v1/reviews/r-1/approve"), ("GET", "/v1/approvals")],
        "b2b_buyer": [("POST", "/v1/orders/o-1/approve"), ("GET", "/v1/approvals"), ("GET", "/v1/reviews")],
        "fraud_analyst": [("GET", "/v1/cart"), ("POST", "/v1/cart/items"), ("GET", "/v1/approvals")],
        "admin": [("GET", "/v1/cart"), ("GET", "/v1/approvals")],
        "b2b_approver": [("GET", "/v1/reviews")],
    }
    bodies = {"/v1/cart/items": {"sku": "A-1", "quantity": 1}}
    for role, calls in forbidden.items():
        headers = await gateway.auth(role, account_id="acme" if role.startswith("b2b") else "")
        for method, path in calls:
            response = await gateway.http.request(method, path, json=bodies.get(path), headers=headers)
            body = gateway.problem(response, 403, "ROLE_REQUIRED")
            assert body["metadata"]["role"] == role
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await gateway.grpc.ListReviews(storefront_pb2.ListReviewsRequest(), metadata=metadata(await gateway.auth()))
    assert parse_rpc_error(failed.value).code is grpc.StatusCode.PERMISSION_DENIED


# --- JWKS ------------------------------------------------------------------------------------------


@dataclass
class JwksServer:
    """A local HTTP server with a JWKS document that the test can change (a key rotation)."""

    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    fetches: int = 0
    port: int = 0

    def document(self) -> bytes:
        entries = []
        for kid, key in self.keys.items():
            entry = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            entries.append({**entry, "kid": kid, "use": "sig", "alg": "RS256"})
        return json.dumps({"keys": entries}).encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.fetches += 1
        body = self.document()
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()


@pytest.fixture
async def jwks() -> AsyncIterator[JwksServer]:
    server = JwksServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server


async def test_tokens_are_verified_against_a_jwks_url_across_a_key_rotation(
    make_gateway: GatewayFactory, jwks: JwksServer
) -> None:
    old, new = new_key(), new_key()
    jwks.keys = {"key-1": old}
    settings = {"dev_mode": False, "jwks_url": f"http://127.0.0.1:{jwks.port}/jwks", "jwks_min_refresh_seconds": 0}
    async with make_gateway(**settings) as client:
        # No dev issuer outside dev mode.
        client.problem(
            await client.http.post("/v1/auth/token", json={"username": "a", "role": "admin"}), 404, "NOT_FOUND"
        )
        client.problem(await client.http.get("/.well-known/jwks.json"), 404, "NOT_FOUND")

        for _ in range(3):
            response = await client.http.get("/v1/products", headers=bearer(sign(old, "key-1")))
            assert response.status_code == 200, response.text
        assert jwks.fetches == 1  # cached

        jwks.keys = {"key-2": new}  # the issuer rotates: the old key is withdrawn
        response = await client.http.get("/v1/products", headers=bearer(sign(new, "key-2")))
        assert response.status_code == 200, response.text  # the unknown kid made the gateway refetch
        assert jwks.fetches == 2
        response = await client.http.get("/v1/products", headers=bearer(sign(old, "key-1")))
        client.problem(response, 401, "UNKNOWN_SIGNING_KEY")
        response = await client.http.get("/v1/products", headers=bearer(sign(old, "key-2")))  # forged kid
        client.problem(response, 401, "INVALID_TOKEN")
        reply = await client.grpc.ListCategories(
            storefront_pb2.ListCategoriesRequest(), metadata=metadata(bearer(sign(new, "key-2")))
        )
        assert isinstance(reply, storefront_pb2.ListCategoriesResponse)


# --- rate limits ---------------------------------------------------------------------------------


async def test_rate_limits_answer_429_with_retry_after(make_gateway: GatewayFactory) -> None:
    limits = {"rate_limit_per_second": 0.5, "rate_limit_burst": 2}
    async with make_gateway(**limits) as client:
        alice, bob = await client.auth(username="alice"), await client.auth(username="bob")
        for _ in range(2):
            assert (await client.http.get("/v1/categories", headers=alice)).status_code == 200
        response = await client.http.get("/v1/categories", headers=alice)
        body = client.problem(response, 429, "RATE_LIMITED")
        assert response.headers["retry-after"] == "2" and body["metadata"]["retry_after_seconds"] == "2"
        assert (await client.http.get("/v1/categories", headers=bob)).status_code == 200  # buckets are per client
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await client.grpc.ListCategories(storefront_pb2.ListCategoriesRequest(), metadata=metadata(alice))
        assert failed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        trailing: Any = failed.value.trailing_metadata() or ()
        details = next(value for key, value in trailing if key == "grpc-status-details-bin")
        status = status_pb2.Status.FromString(details)
        retry = error_details_pb2.RetryInfo()
        assert any(d.Unpack(retry) for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR))
        assert retry.retry_delay.seconds == 2

    async with make_gateway(anonymous_rate_limit_per_second=0.5, anonymous_rate_limit_burst=3) as client:
        statuses = [(await client.http.get("/v1/categories")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]  # anonymous clients by IP
        probes = [(await client.http.get("/healthz")).status_code for _ in range(5)]
        assert probes == [200] * 5  # probes are not limited
