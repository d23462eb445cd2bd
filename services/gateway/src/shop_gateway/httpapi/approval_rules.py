"""Approval rules of B2B companies over HTTP: /v1/admin/companies/{account_id}/approval-rules for
admins, /v1/company/approval-rules for a company's own company_admin members. A rule asks for one
approval step of the orders it matches (docs/api.md "Approval rules"); creates are idempotent by the
Idempotency-Key header, a PUT replaces a rule at the version it names (If-Match or expected_version)
and answers its new ETag."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response
from pydantic import Field

from shop.customers.v1 import customers_pb2 as pb
from shop_gateway.app import approval_rules as rules
from shop_gateway.app.validation import MAX_INT64
from shop_gateway.httpapi.backoffice.common import IdempotencyKey, router
from shop_gateway.httpapi.backoffice.pricing_models import OUTPUT, Resource
from shop_gateway.httpapi.companies import UserId, keyed
from shop_gateway.httpapi.deps import ShopDep, SignedIn
from shop_gateway.httpapi.schemas import MoneyBody
from shop_gateway.principal import Principal

admin_rules = router("/v1/admin/companies/{account_id}/approval-rules", "back office: companies")
own_rules = router("/v1/company/approval-rules", "company accounts")

IfMatch = Annotated[str | None, Header(alias="If-Match", description="the rule's ETag: change only that version")]


class RuleBody(Resource):
    """What a rule says: the orders it matches and the approval step it asks for."""

    name: str = Field(max_length=200, description='the step\'s name, e.g. "department head"')
    position: int = Field(0, ge=0, le=9999, description="the step's place in the chain (ties: the older rule first)")
    min_total: MoneyBody | None = Field(None, description="orders of at least this total; null: any amount")
    cost_centre: str = Field("", max_length=32, description="orders of this cost centre of the company; empty: any")
    category_id: str = Field("", max_length=64, description="orders with a line of this category; empty: any")
    approvers: list[UserId] = Field(
        default_factory=list, max_length=20, description="members who approve or company admins; empty: any approver"
    )
    quorum: int = Field(0, ge=0, le=20, description="approvals the step needs (1..approvers); 0: 1")
    hold_days: int = Field(0, ge=0, le=92, description="how long a matched order may wait, 1-92 days; 0: 3")

    def spec(self) -> pb.ApprovalRuleSpec:
        return self.to_proto(pb.ApprovalRuleSpec)


class RuleChange(RuleBody):
    expected_version: int = Field(
        0, ge=0, le=MAX_INT64, description="the version this change is made to (or If-Match); 0: any"
    )

    def spec(self) -> pb.ApprovalRuleSpec:
        return RuleBody.model_validate(self.model_dump(exclude={"expected_version"})).spec()


class ApprovalRule(Resource):
    account_id: str
    rule_id: str
    name: str
    position: int
    min_total: MoneyBody | None = None
    cost_centre: str
    category_id: str
    approvers: list[str]
    quorum: int
    hold_days: int
    version: int
    created_at: str | None = Field(None, description=OUTPUT)
    updated_at: str | None = Field(None, description=OUTPUT)


class ApprovalRules(Resource):
    rules: list[ApprovalRule] = Field(description="in chain order: position, then age")


def _rule(message: pb.ApprovalRule, response: Response) -> ApprovalRule:
    response.headers["ETag"] = f'"{message.version}"'
    return ApprovalRule.of(message)


async def _list(shop: ShopDep, who: Principal, account_id: str, *, own: bool) -> ApprovalRules:
    request = pb.ListApprovalRulesRequest(account_id=account_id)
    found = await rules.call(shop.backends, who, "ListApprovalRules", request, own=own)
    return ApprovalRules(rules=[ApprovalRule.of(r) for r in found.rules])


async def _create(
    shop: ShopDep, who: Principal, account_id: str, body: RuleBody, key: str | None, response: Response, *, own: bool
) -> ApprovalRule:
    request = pb.CreateApprovalRuleRequest(request_id=keyed(key), account_id=account_id, rule=body.spec())
    created = await rules.call(shop.backends, who, "CreateApprovalRule", request, own=own)
    return _rule(created.rule, response)


async def _update(
    shop: ShopDep,
    who: Principal,
    account_id: str,
    rule_id: str,
    body: RuleChange,
    if_match: str | None,
    response: Response,
    *,
    own: bool,
) -> ApprovalRule:
    version = rules.expected_version(if_match, body.expected_version)
    request = rules.update(account_id, rule_id, version, body.spec())
    return _rule((await rules.call(shop.backends, who, "UpdateApprovalRule", request, own=own)).rule, response)


async def _delete(shop: ShopDep, who: Principal, account_id: str, rule_id: str, *, own: bool) -> Response:
    request = pb.DeleteApprovalRuleRequest(account_id=account_id, rule_id=rule_id)
    await rules.call(shop.backends, who, "DeleteApprovalRule", request, own=own)
    return Response(status_code=204)


# --- admins -------------------------------------------------------------------------------------


@admin_rules.get("", summary="A company's approval rules in chain order (admin)")
async def list_approval_rules(account_id: str, shop: ShopDep, who: SignedIn) -> ApprovalRules:
    return await _list(shop, who, account_id, own=False)


@admin_rules.post("", status_code=201, summary="Add an approval rule to a company (admin; Idempotency-Key required)")
async def create_approval_rule(
    account_id: str, body: RuleBody, shop: ShopDep, who: SignedIn, response: Response, key: IdempotencyKey = None
) -> ApprovalRule:
    """The same key again answers the rule it created."""
    return await _create(shop, who, account_id, body, key, response, own=False)


@admin_rules.put("/{rule_id}", summary="Replace an approval rule at its version (admin)")
async def update_approval_rule(
    account_id: str,
    rule_id: str,
    body: RuleChange,
    shop: ShopDep,
    who: SignedIn,
    response: Response,
    if_match: IfMatch = None,
) -> ApprovalRule:
    """A stale version is 409 VERSION_MISMATCH; the same rule again changes nothing (same version)."""
    return await _update(shop, who, account_id, rule_id, body, if_match, response, own=False)


@admin_rules.delete("/{rule_id}", status_code=204, summary="Delete an approval rule (admin)")
async def delete_approval_rule(account_id: str, rule_id: str, shop: ShopDep, who: SignedIn) -> Response:
    """Orders already waiting keep the chain they were given; deleting twice is 204 twice."""
    return await _delete(shop, who, account_id, rule_id, own=False)


# --- a company's own company_admin members ------------------------------------------------------


@own_rules.get("", summary="The caller's company's approval rules (its company_admin members)")
async def list_own_approval_rules(shop: ShopDep, who: SignedIn) -> ApprovalRules:
    return await _list(shop, who, who.account_id, own=True)


@own_rules.post("", status_code=201, summary="Add an approval rule to the caller's company (company_admin)")
async def create_own_approval_rule(
    body: RuleBody, shop: ShopDep, who: SignedIn, response: Response, key: IdempotencyKey = None
) -> ApprovalRule:
    return await _create(shop, who, who.account_id, body, key, response, own=True)


@own_rules.put("/{rule_id}", summary="Replace an approval rule of the caller's company (company_admin)")
async def update_own_approval_rule(
    rule_id: str, body: RuleChange, shop: ShopDep, who: SignedIn, response: Response, if_match: IfMatch = None
) -> ApprovalRule:
    return await _update(shop, who, who.account_id, rule_id, body, if_match, response, own=True)


@own_rules.delete("/{rule_id}", status_code=204, summary="Delete an approval rule of the caller's company")
async def delete_own_approval_rule(rule_id: str, shop: ShopDep, who: SignedIn) -> Response:
    return await _delete(shop, who, who.account_id, rule_id, own=True)
