"""An integration client through the gateway of the launched stack: an admin creates it with a scope, it
gets a token with the client-credentials grant, a call within its scope succeeds and one outside it is
403 insufficient_scope; after a rotation the old secret works during its grace period and the new one
too; after a revocation its token is refused and it gets no new one."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest

from shop_devstack.harness import Stack

pytestmark = [
    pytest.mark.skipif(os.environ.get("SHOP_SKIP_LAUNCHER_TEST") == "1", reason="SHOP_SKIP_LAUNCHER_TEST=1 was set"),
    pytest.mark.timeout(300),
]

CLIENTS = "/v1/admin/integration-clients"
CLIENT_IP = {"X-Forwarded-For": "198.19.250.1"}  # far from the other system tests' addresses


def token(http: httpx.Client, url: str, client_id: str, secret: str) -> httpx.Response:
    return http.post(
        f"{url}/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        headers=CLIENT_IP,
    )


def bearer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {**CLIENT_IP, "Authorization": f"Bearer {response.json()['access_token']}"}


def test_an_integration_client_with_and_without_the_right_scope(stack: Stack, http: httpx.Client) -> None:
    url = stack.gateway_url
    issued = http.post(f"{url}/v1/auth/token", json={"username": f"ops-{uuid.uuid4().hex[:8]}", "role": "admin"})
    admin = {**CLIENT_IP, "Authorization": f"Bearer {issued.json()['access_token']}"}
    body = {"name": "WMS", "scopes": ["inventory:read"], "request_id": uuid.uuid4().hex}
    created = http.post(f"{url}{CLIENTS}", json=body, headers=admin)
    assert created.status_code == 201, created.text
    client_id, first_secret = created.json()["client_id"], created.json()["client_secret"]

    machine = bearer(token(http, url, client_id, first_secret))
    within = http.get(f"{url}/v1/admin/locations", headers=machine)
    assert within.status_code == 200, within.text
    outside = http.get(f"{url}/v1/admin/price-lists", headers=machine)
    assert outside.status_code == 403 and outside.json()["code"] == "INSUFFICIENT_SCOPE", outside.text
    assert outside.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="pricing:read"'

    rotated = http.post(f"{url}{CLIENTS}/{client_id}/rotate-secret", json={"grace_seconds": 300}, headers=admin)
    assert rotated.status_code == 200, rotated.text
    second_secret = rotated.json()["client_secret"]
    bearer(token(http, url, client_id, first_secret))  # the old secret, within its grace period
    machine = bearer(token(http, url, client_id, second_secret))
    assert http.get(f"{url}/v1/admin/locations", headers=machine).status_code == 200

    revoked = http.post(f"{url}{CLIENTS}/{client_id}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked"], revoked.text
    refused = http.get(f"{url}/v1/admin/locations", headers=machine)
    assert refused.status_code == 401 and refused.json()["code"] == "CLIENT_REVOKED", refused.text
    again = token(http, url, client_id, second_secret)
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"
