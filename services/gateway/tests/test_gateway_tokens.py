"""Crafted bearer tokens: every one is 401 invalid_token over HTTP and UNAUTHENTICATED over gRPC,
never a server error, and each one is charged to the caller's rate-limit bucket."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from shop.storefront.v1 import storefront_pb2
from shop_gateway.tokens import DevIssuer
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory

ISSUER, AUDIENCE = "http://localhost:8080", "shop"
REFUSALS = {"INVALID_TOKEN", "UNKNOWN_SIGNING_KEY", "TOKEN_EXPIRED"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "iat": now, "exp": now + 600, "role": "customer"}
    values.update(overrides)
    return values


def unsigned(header: Any, payload: Any = None, signature: bytes = b"signature") -> str:
    """Three segments as given: a header and payload that need not be JSON objects at all."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    body = payload if isinstance(payload, bytes) else json.dumps(claims() if payload is None else payload).encode()
    return f"{b64(head)}.{b64(body)}.{b64(signature)}"


def crafted(issuer: DevIssuer) -> dict[str, str]:
    """Tokens an attacker can make, by name."""
    private = issuer._key
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_header = {"alg": "HS256", "typ": "JWT", "kid": issuer.kid}
    hs_input = f"{b64(json.dumps(hs_header).encode())}.{b64(json.dumps(claims()).encode())}"
    hs_signature = hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest()
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()

    def signed(header: dict[str, Any], **overrides: Any) -> str:
        return jwt.encode(claims(**overrides), private, algorithm="RS256", headers=header)

    return {
        "es256 without kid against an RSA key": jwt.encode(claims(), ec_key, algorithm="ES256"),
        "es256 naming the RSA key": jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": issuer.kid}),
        "eddsa naming the RSA key": jwt.encode(claims(), ed_key, algorithm="EdDSA", headers={"kid": issuer.kid}),
        "ps256 header on an RS256 signature": unsigned({"alg": "PS256", "kid": issuer.kid}),
        "hmac keyed with the public key": f"{hs_input}.{b64(hs_signature)}",
        "alg none": unsigned({"alg": "none"}, signature=b""),
        "alg None spelled oddly": unsigned({"alg": "NoNe", "kid": issuer.kid}, signature=b""),
        "alg a list": unsigned({"alg": ["RS256"], "kid": issuer.kid}),
        "alg null": unsigned({"alg": None}),
        "alg a number": unsigned({"alg": 256}),
        "no alg": unsigned({"kid": issuer.kid}),
        "kid a number": unsigned({"alg": "RS256", "kid": 7}),
        "kid a list": unsigned({"alg": "RS256", "kid": [issuer.kid]}),
        "kid an object": unsigned({"alg": "ES256", "kid": {"$ne": ""}}),
        "huge header": unsigned({"alg": "RS256", "kid": "k" * 4000}),
        "header not JSON": f"{b64(b'not json')}.{b64(b'{}')}.{b64(b'x')}",
        "header a JSON list": unsigned([1, 2, 3]),
        "header a JSON string": unsigned("RS256"),
        "header not UTF-8": unsigned(b"\xff\xfe\xfd"),
        "payload not JSON": unsigned({"alg": "RS256", "kid": issuer.kid}, b"not json"),
        "payload a JSON list": unsigned({"alg": "RS256", "kid": issuer.kid}, [1]),
        "two segments": "eyJhbGciOiJSUzI1NiJ9.e30",
        "four segments": "a.b.c.d",
        "empty segments": "..",
        "bad base64": "eyJhbGciOiJSUzI1NiJ9!.e30!.x!",
        "crit not a list": signed({"kid": issuer.kid, "crit": 5}),
        "crit names an unknown extension": signed({"kid": issuer.kid, "crit": ["exp"]}),
        "exp a string": signed({"kid": issuer.kid}, exp="tomorrow"),
        "iat a list": signed({"kid": issuer.kid}, iat=[1]),
        "aud a number": signed({"kid": issuer.kid}, aud=5),
        "customer_since past the calendar": signed({"kid": issuer.kid}, customer_since=10**20),
        "customer_since an absurd float": signed({"kid": issuer.kid}, customer_since=1e300),
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issuer_of(client: Client) -> DevIssuer:
    issuer = client.runtime.gateway.issuer
    assert issuer is not None
    return issuer


async def test_crafted_tokens_are_401_invalid_token_over_http(gateway: Client) -> None:
    for name, token in crafted(issuer_of(gateway)).items():
        response = await gateway.http.get("/v1/categories", headers=bearer(token))
        assert response.status_code == 401, (name, response.text)
        body = response.json()
        assert body["code"] in REFUSALS, (name, body)
        assert response.headers["www-authenticate"].startswith("Bearer"), name
    for raw in ("Bearer \u00e9.\u00e9.\u00e9".encode("latin-1"), b"Bearer \xff\xfe.a.b", b"Bearer a\x01b.c.d"):
        response = await gateway.http.get("/v1/categories", headers={b"Authorization": raw})
        assert response.status_code in (400, 401), (raw, response.text)


async def test_crafted_tokens_are_unauthenticated_over_grpc(gateway: Client) -> None:
    for name, token in crafted(issuer_of(gateway)).items():
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await gateway.grpc.ListCategories(
                storefront_pb2.ListCategoriesRequest(), metadata=(("authorization", f"Bearer {token}"),)
            )
        error = parse_rpc_error(failed.value)
        assert error.code is grpc.StatusCode.UNAUTHENTICATED, (name, error.code, error.message)
        assert error.reason in REFUSALS, (name, error.reason)


async def test_every_refused_token_is_charged_to_the_callers_bucket(make_gateway: GatewayFactory) -> None:
    async with make_gateway(anonymous_rate_limit_per_second=0.01, anonymous_rate_limit_burst=3) as client:
        token = crafted(issuer_of(client))["es256 without kid against an RSA key"]
        statuses = [(await client.http.get("/v1/categories", headers=bearer(token))).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
    async with make_gateway(anonymous_rate_limit_per_second=0.01, anonymous_rate_limit_burst=2) as client:
        tokens = crafted(issuer_of(client))
        metadata = (("authorization", f"Bearer {tokens['customer_since past the calendar']}"),)
        codes = []
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await client.grpc.ListCategories(storefront_pb2.ListCategoriesRequest(), metadata=metadata)
            codes.append(failed.value.code())
        assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 2 + [grpc.StatusCode.RESOURCE_EXHAUSTED]


async def test_the_dev_issuer_refuses_claims_it_could_not_honour(gateway: Client) -> None:
    response = await gateway.http.post(
        "/v1/auth/token",
        json={
            "username": "mallory",
            "role": "b2b_buyer",
            "account_id": "acme",
            "customer_since": 10**20,
            "approval_limit": {"amount": 2**80, "currency": "USD"},
        },
    )
    body = gateway.problem(response, 400, "INVALID_ARGUMENT")
    # B2B facts are the company's data now: the issuer takes no approval_limit at all.
    assert {e["field"] for e in body["errors"]} >= {"customer_since", "approval_limit"}
