"""B2B companies over gRPC (CompaniesService, beside StorefrontService on the gateway's gRPC port) against the
REAL customers service: an admin creates a company, adds members and rules for any company; a company_admin
member keeps their own company's rules whatever account the request names; the others are refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest

from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2 as pb
from shop.storefront.v1 import companies_pb2_grpc
from shopkit.errors import parse_rpc_error

if TYPE_CHECKING:
    from conftest import Client

    Stub = companies_pb2_grpc.CompaniesServiceAsyncStub
Metadata = tuple[tuple[str, str], ...]


@pytest.fixture(scope="module")
async def stub(gateway: Client) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.runtime.grpc_port}") as channel:
        yield companies_pb2_grpc.CompaniesServiceStub(channel)  # type: ignore[no-untyped-call]


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


async def refused(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call  # type: ignore[misc]
    return error.value.code(), parse_rpc_error(error.value).reason


async def test_an_admin_keeps_any_company_and_a_company_admin_their_own(gateway: Client, stub: Stub) -> None:
    admin = bearer(await gateway.token(role="admin"))
    account, other = gateway.unique("initech"), gateway.unique("globex")
    usd = common_pb2.Money(amount=5_000_000, currency="USD")
    for name in (account, other):
        create = pb.CreateCompanyRequest(
            request_id=f"company-{name}", account_id=name, name=name.title(), payment_terms_days=30, credit_limit=usd
        )
        assert (await stub.CreateCompany(create, metadata=admin)).company.account_id == name
    boss = "boss-" + uuid.uuid4().hex[:6]
    for user_id, role in ((boss, pb.MEMBER_ROLE_COMPANY_ADMIN), ("peter", pb.MEMBER_ROLE_APPROVER)):
        add = pb.AddCompanyMemberRequest(
            request_id=f"{account}-{user_id}", account_id=account, user_id=user_id, role=role
        )
        await stub.AddCompanyMember(add, metadata=admin)
    company = await stub.GetCompany(pb.GetCompanyRequest(account_id=account), metadata=admin)
    assert sorted(m.user_id for m in company.members) == sorted([boss, "peter"])

    as_boss = bearer(await gateway.token(boss, "b2b_buyer", account_id=account, member=False))
    spec = pb.ApprovalRuleSpec(
        name="department head", min_total=common_pb2.Money(amount=100_000, currency="USD"), approvers=["peter"]
    )
    # The account the request names is the caller's own company, whatever it says.
    create_rule = pb.CreateApprovalRuleRequest(request_id=gateway.unique("rule"), account_id=other, rule=spec)
    rule = (await stub.CreateApprovalRule(create_rule, metadata=as_boss)).rule
    assert rule.account_id == account
    own = await stub.ListApprovalRules(pb.ListApprovalRulesRequest(account_id=other), metadata=as_boss)
    assert [r.rule_id for r in own.rules] == [rule.rule_id]
    assert not (await stub.ListApprovalRules(pb.ListApprovalRulesRequest(account_id=other), metadata=admin)).rules

    # Companies themselves are the admins'; a member who is no company_admin keeps no rules.
    new = pb.CreateCompanyRequest(request_id="c-x", account_id="mine", name="Mine", credit_limit=usd)
    assert await refused(stub.CreateCompany(new, metadata=as_boss)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "ROLE_REQUIRED",
    )
    as_peter = bearer(await gateway.token("peter", "b2b_approver", account_id=account, member=False))
    listing = stub.ListApprovalRules(pb.ListApprovalRulesRequest(), metadata=as_peter)
    assert await refused(listing) == (grpc.StatusCode.PERMISSION_DENIED, "COMPANY_ADMIN_REQUIRED")
    customer = bearer(await gateway.token(role="customer"))
    assert (await refused(stub.GetCompany(pb.GetCompanyRequest(account_id=account), metadata=customer)))[0] is (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert (await refused(stub.ListCompanies(pb.ListCompaniesRequest())))[0] is grpc.StatusCode.UNAUTHENTICATED

    delete = pb.DeleteApprovalRuleRequest(account_id=account, rule_id=rule.rule_id)
    await stub.DeleteApprovalRule(delete, metadata=admin)
    assert not (await stub.ListApprovalRules(pb.ListApprovalRulesRequest(account_id=account), metadata=admin)).rules
