"""Approval rules of B2B companies through the gateway: admins keep any company's, a company_admin
member their own company's alone; creates idempotent by Idempotency-Key, a PUT at the version of
If-Match (or expected_version), deletes once; bad input is a 400 with every field."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Client

USD = "USD"


def _rule(name: str, amount: int | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, **fields}
    if amount is not None:
        body["min_total"] = {"amount": amount, "currency": USD}
    return body


async def _company(gateway: Client) -> tuple[str, dict[str, str]]:
    """A company with the approvers bob and carol; the admin's headers."""
    account = gateway.unique("hooli")
    for user_id in ("bob", "carol"):
        await gateway.join(account, user_id, "b2b_approver")
    return account, await gateway.auth("admin")


async def test_admins_create_replace_list_and_delete_a_companys_rules(gateway: Client) -> None:
    account, admin = await _company(gateway)
    rules = f"/v1/admin/companies/{account}/approval-rules"
    key = {"Idempotency-Key": f"rule-{uuid.uuid4()}"}
    finance = _rule("finance", 1_000_000, position=2, approvers=["carol"], hold_days=90)
    created = await gateway.http.post(rules, json=finance, headers={**admin, **key})
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["quorum"], rule["hold_days"], rule["version"], created.headers["etag"]) == (1, 90, 1, '"1"')
    again = await gateway.http.post(rules, json=finance, headers={**admin, **key})
    assert again.status_code == 201 and again.json() == rule
    no_key = await gateway.http.post(rules, json=finance, headers=admin)
    gateway.problem(no_key, 400, "IDEMPOTENCY_KEY_REQUIRED")
    head = _rule("department head", 100_000, position=1, approvers=["bob"])
    await gateway.http.post(rules, json=head, headers={**admin, "Idempotency-Key": f"rule-{uuid.uuid4()}"})
    listed = await gateway.http.get(rules, headers=admin)
    assert [r["name"] for r in listed.json()["rules"]] == ["department head", "finance"], listed.text

    one = f"{rules}/{rule['rule_id']}"
    both = {**finance, "approvers": ["bob", "carol"], "quorum": 2}
    replaced = await gateway.http.put(one, json=both, headers={**admin, "If-Match": '"1"'})
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["quorum"], replaced.headers["etag"]) == (2, '"2"')
    stale = await gateway.http.put(one, json=both, headers={**admin, "If-Match": '"1"'})
    gateway.problem(stale, 409, "VERSION_MISMATCH")
    stale_body = await gateway.http.put(one, json={**both, "expected_version": 1}, headers=admin)
    gateway.problem(stale_body, 409, "VERSION_MISMATCH")
    bad_etag = await gateway.http.put(one, json=both, headers={**admin, "If-Match": "latest"})
    assert [e["field"] for e in gateway.problem(bad_etag, 400, "INVALID_ARGUMENT")["errors"]] == ["If-Match"]

    assert (await gateway.http.delete(one, headers=admin)).status_code == 204
    assert (await gateway.http.delete(one, headers=admin)).status_code == 204
    gateway.problem(await gateway.http.put(one, json=both, headers=admin), 404, "NOT_FOUND")
    assert [r["name"] for r in (await gateway.http.get(rules, headers=admin)).json()["rules"]] == ["department head"]


async def test_bad_rules_are_refused_with_every_field_and_change_nothing(gateway: Client) -> None:
    account, admin = await _company(gateway)
    rules = f"/v1/admin/companies/{account}/approval-rules"
    bad = _rule("", 5, cost_centre="NOPE", category_id="shoes", approvers=["nobody"], quorum=2)
    bad["min_total"]["currency"] = "XXX"
    refused = await gateway.http.post(rules, json=bad, headers={**admin, "Idempotency-Key": f"bad-{uuid.uuid4()}"})
    fields = {e["field"] for e in gateway.problem(refused, 400, "INVALID_ARGUMENT")["errors"]}
    assert fields == {"name", "min_total.currency", "cost_centre", "category_id", "approvers[0]", "quorum"}
    typo = await gateway.http.post(
        rules, json={"name": "x", "treshold": 1}, headers={**admin, "Idempotency-Key": f"typo-{uuid.uuid4()}"}
    )
    assert typo.status_code == 400, typo.text
    assert (await gateway.http.get(rules, headers=admin)).json()["rules"] == []
    customer = await gateway.auth("customer")
    gateway.problem(await gateway.http.get(rules, headers=customer), 403, "ROLE_REQUIRED")
    missing = await gateway.http.get("/v1/admin/companies/no-such-company/approval-rules", headers=admin)
    gateway.problem(missing, 404, "NOT_FOUND")


async def test_a_company_admin_keeps_their_own_companys_rules_alone(gateway: Client) -> None:
    account, admin = await _company(gateway)
    other, _ = await _company(gateway)
    boss = "boss-" + uuid.uuid4().hex[:6]
    await gateway.join(account, boss)
    promote = await gateway.http.patch(
        f"/v1/admin/companies/{account}/members/{boss}", json={"role": "company_admin"}, headers=admin
    )
    assert promote.status_code == 200, promote.text
    as_boss = await gateway.auth("b2b_buyer", boss, account_id=account, member=False)
    created = await gateway.http.post(
        "/v1/company/approval-rules",
        json=_rule("head", 50_000, approvers=["bob"]),
        headers={**as_boss, "Idempotency-Key": f"own-{uuid.uuid4()}"},
    )
    assert created.status_code == 201 and created.json()["account_id"] == account, created.text
    rule_id = created.json()["rule_id"]
    own = await gateway.http.get("/v1/company/approval-rules", headers=as_boss)
    assert [r["rule_id"] for r in own.json()["rules"]] == [rule_id]
    changed = await gateway.http.put(
        f"/v1/company/approval-rules/{rule_id}", json=_rule("head", 60_000), headers={**as_boss, "If-Match": '"1"'}
    )
    assert changed.status_code == 200 and changed.json()["min_total"]["amount"] == 60_000, changed.text
    # Another company's admin routes are not theirs, nor are its rules through their own routes.
    elsewhere = await gateway.http.get(f"/v1/admin/companies/{other}/approval-rules", headers=as_boss)
    gateway.problem(elsewhere, 403, "ROLE_REQUIRED")
    as_bob = await gateway.auth("b2b_approver", "bob", account_id=account, member=False)
    gateway.problem(await gateway.http.get("/v1/company/approval-rules", headers=as_bob), 403, "COMPANY_ADMIN_REQUIRED")
    outsider = await gateway.auth("b2b_approver", "carol", account_id=other, member=False)
    gone = await gateway.http.delete(f"/v1/company/approval-rules/{rule_id}", headers=outsider)
    gateway.problem(gone, 403, "COMPANY_ADMIN_REQUIRED")
    assert (await gateway.http.delete(f"/v1/company/approval-rules/{rule_id}", headers=as_boss)).status_code == 204


async def test_a_machine_client_keeps_rules_with_the_approval_rules_scopes(gateway: Client) -> None:
    account, admin = await _company(gateway)
    body = {"name": "procurement", "scopes": ["approval_rules:read"], "request_id": gateway.unique("req")}
    created = await gateway.http.post("/v1/admin/integration-clients", json=body, headers=admin)
    assert created.status_code == 201, created.text
    client = created.json()
    form = {
        "grant_type": "client_credentials",
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }
    issued = await gateway.http.post("/v1/oauth/token", data=form)
    assert issued.status_code == 200, issued.text
    machine = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    rules = f"/v1/admin/companies/{account}/approval-rules"
    assert (await gateway.http.get(rules, headers=machine)).status_code == 200
    refused = await gateway.http.post(rules, json=_rule("head"), headers={**machine, "Idempotency-Key": "machine-1"})
    problem = gateway.problem(refused, 403, "INSUFFICIENT_SCOPE")
    assert problem["metadata"]["required_scope"] == "approval_rules:write"
