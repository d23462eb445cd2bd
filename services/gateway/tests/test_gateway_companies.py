"""B2B companies through the gateway: admins create and change them and their members, a company's
company_admin manages its own members, and a B2B caller's facts come from the company (not from the
token); a user who is not a member of the token's account is refused."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Client, GatewayFactory


def _company(account_id: str, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "account_id": account_id,
        "name": "Globex",
        "tax_id": "US-98-7654321",
        "payment_terms_days": 60,
        "credit_limit": {"amount": 2_500_000, "currency": "USD"},
        "cost_centres": [{"code": "OPS", "name": "Operations"}],
    }
    return {**values, **fields}


async def test_admins_create_and_change_companies_and_members(gateway: Client) -> None:
    admin = await gateway.auth("admin")
    account = gateway.unique("globex")
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    created = await gateway.http.post("/v1/admin/companies", json=_company(account), headers={**admin, **key})
    assert created.status_code == 201, created.text
    company = created.json()
    assert (company["status"], company["payment_terms_days"], company["version"]) == ("active", 60, 1)
    again = await gateway.http.post("/v1/admin/companies", json=_company(account), headers={**admin, **key})
    assert again.status_code == 201 and again.json() == company
    other_key = {**admin, "Idempotency-Key": f"create-{uuid.uuid4()}"}
    taken = await gateway.http.post("/v1/admin/companies", json=_company(account), headers=other_key)
    gateway.problem(taken, 409, "ACCOUNT_ID_TAKEN")
    no_key = await gateway.http.post("/v1/admin/companies", json=_company(gateway.unique("x")), headers=admin)
    gateway.problem(no_key, 400, "IDEMPOTENCY_KEY_REQUIRED")

    member = {
        "user_id": "ann",
        "role": "buyer",
        "cost_centre": "OPS",
        "order_limit": {"amount": 5000, "currency": "USD"},
    }
    added = await gateway.http.post(
        f"/v1/admin/companies/{account}/members", json=member, headers={**admin, "Idempotency-Key": "add-ann-1"}
    )
    assert added.status_code == 201, added.text
    assert added.json()["order_limit"] == {"amount": 5000, "currency": "USD"} and added.json()["role"] == "buyer"
    bad = {"user_id": "bo", "role": "boss", "cost_centre": "NOPE"}
    refused = await gateway.http.post(
        f"/v1/admin/companies/{account}/members", json=bad, headers={**admin, "Idempotency-Key": "add-bo-1"}
    )
    assert {e["field"] for e in gateway.problem(refused, 400, "INVALID_ARGUMENT")["errors"]} >= {"role"}

    changed = await gateway.http.patch(
        f"/v1/admin/companies/{account}/members/ann", json={"expected_version": 1, "role": "approver"}, headers=admin
    )
    assert changed.status_code == 200 and changed.json()["role"] == "approver", changed.text
    stale = await gateway.http.patch(
        f"/v1/admin/companies/{account}", json={"expected_version": 7, "payment_terms_days": 30}, headers=admin
    )
    gateway.problem(stale, 409, "VERSION_MISMATCH")
    detail = (await gateway.http.get(f"/v1/admin/companies/{account}", headers=admin)).json()
    assert [m["user_id"] for m in detail["members"]] == ["ann"] and detail["company"]["tax_id"] == "US-98-7654321"
    listed = await gateway.http.get("/v1/admin/companies", params={"page_size": 100}, headers=admin)
    assert listed.status_code == 200
    removed = await gateway.http.delete(f"/v1/admin/companies/{account}/members/ann", headers=admin)
    assert removed.status_code == 204
    customer = await gateway.auth("customer")
    gateway.problem(await gateway.http.get("/v1/admin/companies", headers=customer), 403, "ROLE_REQUIRED")


async def test_a_b2b_caller_is_a_member_of_the_tokens_account(gateway: Client) -> None:
    account = gateway.unique("initech")
    member = await gateway.auth("b2b_buyer", account_id=account)
    assert (await gateway.http.get("/v1/products", headers=member)).status_code == 200
    outsider = await gateway.auth("b2b_buyer", account_id=account, member=False)
    refused = await gateway.http.get("/v1/products", headers=outsider)
    gateway.problem(refused, 403, "NOT_A_MEMBER")
    # The dev issuer no longer takes B2B facts: they are the company's.
    body = {"username": "x", "role": "b2b_buyer", "account_id": account, "tax_id": "T-1"}
    assert (await gateway.http.post("/v1/auth/token", json=body)).status_code in (400, 422)


async def test_a_suspended_company_cannot_buy_and_a_company_admin_manages_members(
    make_gateway: GatewayFactory,
) -> None:
    # A gateway that does not keep buying contexts: a suspension shows on the next request.
    async with make_gateway(company_context_cache_seconds=0) as gateway:
        admin = await gateway.auth("admin")
        account = gateway.unique("umbrella")
        boss = "boss-" + uuid.uuid4().hex[:6]
        await gateway.join(account, boss)
        promote = await gateway.http.patch(
            f"/v1/admin/companies/{account}/members/{boss}", json={"role": "company_admin"}, headers=admin
        )
        assert promote.status_code == 200, promote.text
        as_boss = await gateway.auth("b2b_buyer", boss, account_id=account, member=False)
        added = await gateway.http.post(
            "/v1/company/members",
            json={"user_id": "clerk", "role": "buyer"},
            headers={**as_boss, "Idempotency-Key": f"clerk-{account}"},
        )
        assert added.status_code == 201 and added.json()["account_id"] == account, added.text
        own = (await gateway.http.get("/v1/company", headers=as_boss)).json()
        assert sorted(m["user_id"] for m in own["members"]) == sorted([boss, "clerk"])
        clerk = await gateway.auth("b2b_buyer", "clerk", account_id=account, member=False)
        gateway.problem(
            await gateway.http.delete(f"/v1/company/members/{boss}", headers=clerk), 403, "COMPANY_ADMIN_REQUIRED"
        )
        suspend = await gateway.http.patch(
            f"/v1/admin/companies/{account}", json={"status": "suspended"}, headers=admin
        )
        assert suspend.status_code == 200, suspend.text
        gateway.problem(await gateway.http.get("/v1/products", headers=clerk), 403, "ACCOUNT_SUSPENDED")
