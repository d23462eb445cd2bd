"""Approval rules of a company over gRPC on a real database: created once per request, replaced at a
version, deleted, listed in chain order, administered by admins and the company's company_admin
members alone; the chain checkout resolves from them; bad input refused and nothing changed."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import grpc

from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2 as pb
from shop.customers.v1 import events_pb2
from shop_customers.demo import demo_approval_rules, demo_company, demo_members
from shopkit.auth import metadata_for
from shopkit.testing import published_event

if TYPE_CHECKING:
    from conftest import Stack

SERVICE = metadata_for("service")


def _usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency="USD")


async def _company(stack: Stack) -> str:
    """A company with the buyer alice, the approvers bob and carol, and the company_admin dave."""
    account = f"co-{uuid.uuid4().hex[:10]}"
    create = pb.CreateCompanyRequest(
        request_id=f"create-{account}",
        account_id=account,
        name="Acme",
        credit_limit=_usd(10_000_000),
        cost_centres=[pb.CostCentre(code="OPS", name="Operations"), pb.CostCentre(code="IT", name="IT")],
    )
    await stack.stub.CreateCompany(create, metadata=stack.admin)
    roles = {
        "alice": pb.MEMBER_ROLE_BUYER,
        "bob": pb.MEMBER_ROLE_APPROVER,
        "carol": pb.MEMBER_ROLE_APPROVER,
        "dave": pb.MEMBER_ROLE_COMPANY_ADMIN,
    }
    for user_id, role in roles.items():
        add = pb.AddCompanyMemberRequest(request_id=f"add-{user_id}", account_id=account, user_id=user_id, role=role)
        await stack.stub.AddCompanyMember(add, metadata=stack.admin)
    return account


def _spec(name: str, **fields: object) -> pb.ApprovalRuleSpec:
    return pb.ApprovalRuleSpec(name=name, **fields)  # type: ignore[arg-type]


async def _create(stack: Stack, account: str, spec: pb.ApprovalRuleSpec, request_id: str = "") -> pb.ApprovalRule:
    request = pb.CreateApprovalRuleRequest(request_id=request_id or uuid.uuid4().hex, account_id=account, rule=spec)
    return (await stack.stub.CreateApprovalRule(request, metadata=stack.admin)).rule


async def _list(stack: Stack, account: str) -> list[pb.ApprovalRule]:
    request = pb.ListApprovalRulesRequest(account_id=account)
    return list((await stack.stub.ListApprovalRules(request, metadata=stack.admin)).rules)


def _resolve(account: str, total: int, buyer: str = "alice", **fields: object) -> pb.ResolveApprovalChainRequest:
    return pb.ResolveApprovalChainRequest(account_id=account, buyer_user_id=buyer, total=_usd(total), **fields)  # type: ignore[arg-type]


async def test_a_rule_is_created_once_per_request_and_listed_in_chain_order(stack: Stack) -> None:
    account = await _company(stack)
    finance = _spec("finance", position=2, min_total=_usd(1_000_000), approvers=["carol"], hold_days=90)
    created = await _create(stack, account, finance, "finance-1")
    assert created.rule_id.startswith("ar_") and (created.quorum, created.hold_days, created.version) == (1, 90, 1)
    assert await _create(stack, account, finance, "finance-1") == created
    head = await _create(stack, account, _spec("department head", position=1, min_total=_usd(100_000)))
    assert head.hold_days == 3 and not head.approvers
    assert [r.name for r in await _list(stack, account)] == ["department head", "finance"]

    def about(payload: bytes) -> bool:
        return events_pb2.ApprovalRuleChanged.FromString(payload).rule.rule_id == created.rule_id

    event = events_pb2.ApprovalRuleChanged.FromString(
        await published_event(stack.nats_url, "shop.customers.approval_rule_changed", about)
    )
    assert event.rule.approvers == ["carol"] and not event.deleted


async def test_a_rule_is_replaced_at_its_version_and_deleted_once(stack: Stack) -> None:
    account = await _company(stack)
    rule = await _create(stack, account, _spec("head", approvers=["bob"]))
    change = pb.UpdateApprovalRuleRequest(
        account_id=account,
        rule_id=rule.rule_id,
        expected_version=1,
        rule=_spec("head", approvers=["bob", "carol"], quorum=2, cost_centre="OPS"),
    )
    updated = (await stack.stub.UpdateApprovalRule(change, metadata=stack.admin)).rule
    assert (updated.version, updated.quorum, updated.cost_centre) == (2, 2, "OPS")
    stale = await stack.failure(stack.stub.UpdateApprovalRule(change, metadata=stack.admin))
    assert (stale.code, stale.reason) == (grpc.StatusCode.ABORTED, "VERSION_MISMATCH")
    change.expected_version = 2
    same = (await stack.stub.UpdateApprovalRule(change, metadata=stack.admin)).rule
    assert same.version == 2  # nothing to change: no new version
    # The rule holds the cost centre OPS: the company cannot drop it.
    drop = pb.UpdateCompanyRequest(
        account_id=account, cost_centres=pb.CostCentres(items=[pb.CostCentre(code="IT", name="IT")])
    )
    in_use = await stack.failure(stack.stub.UpdateCompany(drop, metadata=stack.admin))
    assert in_use.reason == "COST_CENTRE_IN_USE"
    delete = pb.DeleteApprovalRuleRequest(account_id=account, rule_id=rule.rule_id)
    assert (await stack.stub.DeleteApprovalRule(delete, metadata=stack.admin)).deleted
    assert not (await stack.stub.DeleteApprovalRule(delete, metadata=stack.admin)).deleted
    assert await _list(stack, account) == []
    missing = await stack.failure(stack.stub.UpdateApprovalRule(change, metadata=stack.admin))
    assert missing.code == grpc.StatusCode.NOT_FOUND


async def test_bad_rules_are_refused_with_every_violation_and_change_nothing(stack: Stack) -> None:
    account = await _company(stack)
    bad = _spec(
        "",
        position=-1,
        min_total=common_pb2.Money(amount=-5, currency="XXX"),
        cost_centre="NOPE",
        category_id="not-a-uuid",
        approvers=["alice", "nobody"],
        quorum=3,
        hold_days=93,
    )
    request = pb.CreateApprovalRuleRequest(request_id="bad-1", account_id=account, rule=bad)
    refused = await stack.failure(stack.stub.CreateApprovalRule(request, metadata=stack.admin))
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in refused.violations} == {
        "name",
        "position",
        "min_total.currency",
        "min_total.amount",
        "cost_centre",
        "category_id",
        "approvers[0]",
        "approvers[1]",
        "quorum",
        "hold_days",
    }
    assert await _list(stack, account) == []
    unknown = pb.CreateApprovalRuleRequest(request_id="r-1", account_id="no-such-co", rule=_spec("x"))
    assert (await stack.failure(stack.stub.CreateApprovalRule(unknown, metadata=stack.admin))).code == (
        grpc.StatusCode.NOT_FOUND
    )


async def test_a_company_admin_manages_their_own_companys_rules_alone(stack: Stack) -> None:
    account, other = await _company(stack), await _company(stack)
    as_dave = metadata_for("b2b_buyer", "dave", account)
    request = pb.CreateApprovalRuleRequest(request_id="own-1", account_id=account, rule=_spec("head"))
    assert (await stack.stub.CreateApprovalRule(request, metadata=as_dave)).rule.name == "head"
    listed = await stack.stub.ListApprovalRules(pb.ListApprovalRulesRequest(account_id=account), metadata=as_dave)
    assert len(listed.rules) == 1
    elsewhere = pb.CreateApprovalRuleRequest(request_id="own-2", account_id=other, rule=_spec("head"))
    assert (await stack.failure(stack.stub.CreateApprovalRule(elsewhere, metadata=as_dave))).code == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    as_bob = metadata_for("b2b_approver", "bob", account)
    read = stack.stub.ListApprovalRules(pb.ListApprovalRulesRequest(account_id=account), metadata=as_bob)
    assert (await stack.failure(read)).code == grpc.StatusCode.PERMISSION_DENIED
    resolve = stack.stub.ResolveApprovalChain(_resolve(account, 1), metadata=as_dave)
    assert (await stack.failure(resolve)).code == grpc.StatusCode.PERMISSION_DENIED


async def test_the_chain_of_an_order_follows_the_rules(stack: Stack) -> None:
    account = await _company(stack)
    head = await _create(stack, account, _spec("head", position=1, min_total=_usd(100_000), approvers=["bob"]))
    finance = await _create(
        stack,
        account,
        _spec("finance", position=2, min_total=_usd(1_000_000), approvers=["carol", "dave"], quorum=2, hold_days=90),
    )
    chain = await stack.stub.ResolveApprovalChain(_resolve(account, 1_000_000, cost_centre="OPS"), metadata=SERVICE)
    assert [(s.name, s.rule_id, list(s.approvers), s.quorum) for s in chain.steps] == [
        ("head", head.rule_id, ["bob"], 1),
        ("finance", finance.rule_id, ["carol", "dave"], 2),
    ]
    assert chain.hold_days == 90
    # Carol buys: she drops out of finance, whose quorum shrinks to who is left.
    by_carol = await stack.stub.ResolveApprovalChain(_resolve(account, 2_000_000, buyer="carol"), metadata=SERVICE)
    assert [(list(s.approvers), s.quorum) for s in by_carol.steps] == [(["bob"], 1), (["dave"], 1)]
    small = await stack.stub.ResolveApprovalChain(_resolve(account, 5_000), metadata=SERVICE)
    assert (list(small.steps), small.hold_days) == ([], 0)
    over = await stack.stub.ResolveApprovalChain(_resolve(account, 5_000, over_limit=True), metadata=SERVICE)
    assert [(s.name, s.rule_id, list(s.approvers), s.quorum) for s in over.steps] == [("spending limit", "", [], 1)]


async def test_resolving_for_a_suspended_or_unknown_company_or_with_bad_facts_is_refused(stack: Stack) -> None:
    account = await _company(stack)
    unknown = await stack.failure(stack.stub.ResolveApprovalChain(_resolve("no-such-co", 1), metadata=SERVICE))
    assert unknown.code == grpc.StatusCode.NOT_FOUND
    bad = pb.ResolveApprovalChainRequest(account_id=account, total=common_pb2.Money(amount=-1, currency="usd1"))
    refused = await stack.failure(stack.stub.ResolveApprovalChain(bad, metadata=SERVICE))
    assert {v.field for v in refused.violations} == {"buyer_user_id", "total.currency", "total.amount"}
    suspend = pb.UpdateCompanyRequest(account_id=account, status=pb.COMPANY_STATUS_SUSPENDED)
    await stack.stub.UpdateCompany(suspend, metadata=stack.admin)
    suspended = await stack.failure(stack.stub.ResolveApprovalChain(_resolve(account, 1), metadata=SERVICE))
    assert (suspended.code, suspended.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ACCOUNT_SUSPENDED")


async def test_the_demo_company_and_its_rules_are_accepted_and_give_the_two_step_chain(stack: Stack) -> None:
    await stack.stub.CreateCompany(demo_company(), metadata=stack.admin)
    for member in demo_members():
        await stack.stub.AddCompanyMember(member, metadata=stack.admin)
    for rule in demo_approval_rules():
        await stack.stub.CreateApprovalRule(rule, metadata=stack.admin)
    big = _resolve(demo_company().account_id, 1_000_000, buyer="alice-buyer")
    chain = await stack.stub.ResolveApprovalChain(big, metadata=SERVICE)
    assert [(s.name, list(s.approvers)) for s in chain.steps] == [
        ("department head", ["bob-approver"]),
        ("finance", ["carol-finance"]),
    ]
    assert chain.hold_days == 90
