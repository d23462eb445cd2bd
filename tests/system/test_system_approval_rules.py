"""Approval rules through the gateway on the launched stack: the demo seed's rules of acme-corp; an
admin creates, replaces, lists and deletes a company's rules; a company's company_admin keeps their
own company's, and one of another company reaches none of them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import httpx

from shop_devstack.harness import Stack

if TYPE_CHECKING:  # conftest is not importable at run time (pytest's importlib mode); its types are for mypy
    from conftest import JoinCompany


def _token(http: httpx.Client, stack: Stack, username: str, role: str, account_id: str = "") -> dict[str, str]:
    body = {"username": username, "role": role, **({"account_id": account_id} if account_id else {})}
    issued = http.post(f"{stack.gateway_url}/v1/auth/token", json=body)
    assert issued.status_code == 200, issued.text
    return {"authorization": f"Bearer {issued.json()['access_token']}"}


def _company_admin(
    http: httpx.Client, stack: Stack, join: JoinCompany, account: str, admin: dict[str, str]
) -> dict[str, str]:
    """A member of `account` promoted to company_admin; their headers."""
    user = f"boss-{uuid.uuid4().hex[:8]}"
    join(account, user)
    promoted = http.patch(
        f"{stack.gateway_url}/v1/admin/companies/{account}/members/{user}",
        json={"role": "company_admin"},
        headers=admin,
    )
    assert promoted.status_code == 200, promoted.text
    return _token(http, stack, user, "b2b_buyer", account)


def _rule(name: str, amount: int, approvers: list[str], **fields: Any) -> dict[str, Any]:
    return {"name": name, "min_total": {"amount": amount, "currency": "USD"}, "approvers": approvers, **fields}


def test_the_demo_company_has_its_two_rules(stack: Stack, http: httpx.Client) -> None:
    admin = _token(http, stack, "system-admin", "admin")
    listed = http.get(f"{stack.gateway_url}/v1/admin/companies/acme-corp/approval-rules", headers=admin)
    assert listed.status_code == 200, listed.text
    seeded = [(r["name"], r["min_total"]["amount"], r["approvers"], r["hold_days"]) for r in listed.json()["rules"]]
    assert seeded[:2] == [
        ("department head", 100_000, ["bob-approver"], 3),
        ("finance", 1_000_000, ["carol-finance"], 90),
    ]


def test_rules_are_kept_by_admins_and_by_their_own_companys_admin_alone(
    stack: Stack, http: httpx.Client, join: JoinCompany
) -> None:
    admin = _token(http, stack, "system-admin", "admin")
    account, other = f"rules-{uuid.uuid4().hex[:8]}", f"rules-{uuid.uuid4().hex[:8]}"
    join(account, "head-approver", "b2b_approver")
    join(account, "finance-approver", "b2b_approver")
    rules = f"{stack.gateway_url}/v1/admin/companies/{account}/approval-rules"

    created = http.post(
        rules,
        json=_rule("department head", 100_000, ["head-approver"], position=1),
        headers={**admin, "Idempotency-Key": f"head-{account}"},
    )
    assert created.status_code == 201, created.text
    head = created.json()
    again = http.post(
        rules,
        json=_rule("department head", 100_000, ["head-approver"], position=1),
        headers={**admin, "Idempotency-Key": f"head-{account}"},
    )
    assert again.json() == head
    replaced = http.put(
        f"{rules}/{head['rule_id']}",
        json=_rule("department head", 200_000, ["head-approver", "finance-approver"], position=1, quorum=2),
        headers={**admin, "If-Match": created.headers["etag"]},
    )
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["version"], replaced.json()["quorum"]) == (2, 2)
    stale = http.put(
        f"{rules}/{head['rule_id']}", json=_rule("x", 1, []), headers={**admin, "If-Match": created.headers["etag"]}
    )
    assert (stale.status_code, stale.json()["code"]) == (409, "VERSION_MISMATCH")

    # The company's own company_admin adds the finance step.
    as_boss = _company_admin(http, stack, join, account, admin)
    own = f"{stack.gateway_url}/v1/company/approval-rules"
    finance = http.post(
        own,
        json=_rule("finance", 1_000_000, ["finance-approver"], position=2, hold_days=90),
        headers={**as_boss, "Idempotency-Key": f"finance-{account}"},
    )
    assert finance.status_code == 201 and finance.json()["account_id"] == account, finance.text
    names = [r["name"] for r in http.get(own, headers=as_boss).json()["rules"]]
    assert names == ["department head", "finance"]

    # Another company's admin reaches none of them: not by the admin routes, nor by rule id.
    join(other, "someone")
    as_other = _company_admin(http, stack, join, other, admin)
    assert http.get(rules, headers=as_other).status_code == 403
    assert http.get(own, headers=as_other).json()["rules"] == []
    foreign = f"{own}/{head['rule_id']}"
    assert http.put(foreign, json=_rule("mine", 1, []), headers=as_other).status_code == 404
    http.delete(foreign, headers=as_other)  # no such rule in their company: nothing happens
    assert len(http.get(rules, headers=admin).json()["rules"]) == 2

    assert http.delete(f"{rules}/{head['rule_id']}", headers=admin).status_code == 204
    assert [r["name"] for r in http.get(rules, headers=admin).json()["rules"]] == ["finance"]
