"""B2B companies: created once per request, changed at a version, their members with roles, cost
centres and limits in the company's currency; who may administer them; the gateway's buying context;
bad input refused with field violations and nothing changed."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import grpc

from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2 as pb
from shop.customers.v1 import events_pb2
from shopkit.auth import metadata_for
from shopkit.testing import published_event

if TYPE_CHECKING:
    from conftest import Stack


def _eur(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency="EUR")


def _new_company(account_id: str = "") -> pb.CreateCompanyRequest:
    return pb.CreateCompanyRequest(
        request_id=f"create-{uuid.uuid4().hex[:8]}",
        account_id=account_id or f"co-{uuid.uuid4().hex[:10]}",
        name="Acme Corp",
        tax_id="DE123456789",
        payment_terms_days=30,
        credit_limit=_eur(5_000_000),
        cost_centres=[pb.CostCentre(code="OPS", name="Operations"), pb.CostCentre(code="RND", name="Research")],
    )


def _buyer(account_id: str, user_id: str, **fields: object) -> pb.AddCompanyMemberRequest:
    values: dict[str, object] = {
        "request_id": f"add-{user_id}",
        "account_id": account_id,
        "user_id": user_id,
        "role": pb.MEMBER_ROLE_BUYER,
        "cost_centre": "OPS",
        "order_limit": _eur(100_000),
        "period_limit": _eur(500_000),
        "limit_period": pb.LIMIT_PERIOD_MONTH,
    }
    return pb.AddCompanyMemberRequest(**{**values, **fields})  # type: ignore[arg-type]


async def test_a_company_is_created_once_per_request_and_its_account_id_is_taken(stack: Stack) -> None:
    request = _new_company()
    created = (await stack.stub.CreateCompany(request, metadata=stack.admin)).company
    assert (created.account_id, created.payment_terms_days, created.version) == (request.account_id, 30, 1)
    assert created.credit_limit == _eur(5_000_000) and created.status == pb.COMPANY_STATUS_ACTIVE
    assert [c.code for c in created.cost_centres] == ["OPS", "RND"]
    again = (await stack.stub.CreateCompany(request, metadata=stack.admin)).company
    assert again == created
    other = pb.CreateCompanyRequest()
    other.CopyFrom(request)
    other.request_id = "another-request"
    taken = await stack.failure(stack.stub.CreateCompany(other, metadata=stack.admin))
    assert taken.code == grpc.StatusCode.ALREADY_EXISTS

    def about(payload: bytes) -> bool:
        return events_pb2.CompanyChanged.FromString(payload).company.account_id == request.account_id

    event = events_pb2.CompanyChanged.FromString(
        await published_event(stack.nats_url, "shop.customers.company_changed", about)
    )
    assert event.company.tax_id == "DE123456789"


async def test_bad_companies_are_refused_with_every_violation(stack: Stack) -> None:
    bad = pb.CreateCompanyRequest(
        request_id="",
        account_id="Not A Slug",
        name="",
        payment_terms_days=400,
        credit_limit=common_pb2.Money(amount=-1, currency="XYZ"),
        cost_centres=[pb.CostCentre(code="A", name="x"), pb.CostCentre(code="A", name="")],
    )
    refused = await stack.failure(stack.stub.CreateCompany(bad, metadata=stack.admin))
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in refused.violations}
    assert {
        "request_id",
        "account_id",
        "name",
        "payment_terms_days",
        "credit_limit.currency",
        "credit_limit.amount",
        "cost_centres[1].code",
        "cost_centres[1].name",
    } <= fields
    listed = await stack.stub.ListCompanies(pb.ListCompaniesRequest(page_size=100), metadata=stack.admin)
    assert "Not A Slug" not in [c.account_id for c in listed.companies]


async def test_updates_take_the_version_and_keep_cost_centres_in_use(stack: Stack) -> None:
    company = (await stack.stub.CreateCompany(_new_company(), metadata=stack.admin)).company
    await stack.stub.AddCompanyMember(_buyer(company.account_id, "u-1"), metadata=stack.admin)
    request = pb.UpdateCompanyRequest(account_id=company.account_id, expected_version=1, payment_terms_days=60)
    request.status = pb.COMPANY_STATUS_SUSPENDED
    updated = (await stack.stub.UpdateCompany(request, metadata=stack.admin)).company
    assert (updated.payment_terms_days, updated.status, updated.version) == (60, pb.COMPANY_STATUS_SUSPENDED, 2)
    stale = await stack.failure(stack.stub.UpdateCompany(request, metadata=stack.admin))
    assert stale.code == grpc.StatusCode.ABORTED
    drop_ops = pb.UpdateCompanyRequest(
        account_id=company.account_id, cost_centres=pb.CostCentres(items=[pb.CostCentre(code="RND", name="R&D")])
    )
    in_use = await stack.failure(stack.stub.UpdateCompany(drop_ops, metadata=stack.admin))
    assert in_use.code == grpc.StatusCode.FAILED_PRECONDITION and in_use.reason == "COST_CENTRE_IN_USE"
    other_currency = pb.UpdateCompanyRequest(account_id=company.account_id, credit_limit=_eur(1))
    other_currency.credit_limit.currency = "USD"
    refused = await stack.failure(stack.stub.UpdateCompany(other_currency, metadata=stack.admin))
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    found = await stack.stub.GetCompany(pb.GetCompanyRequest(account_id=company.account_id), metadata=stack.admin)
    assert found.company == updated
    missing = pb.UpdateCompanyRequest(account_id="no-such-company", payment_terms_days=1)
    assert (
        await stack.failure(stack.stub.UpdateCompany(missing, metadata=stack.admin))
    ).code == grpc.StatusCode.NOT_FOUND


async def test_members_are_added_once_changed_at_a_version_and_removed(stack: Stack) -> None:
    account = (await stack.stub.CreateCompany(_new_company(), metadata=stack.admin)).company.account_id
    add = _buyer(account, "alice")
    member = (await stack.stub.AddCompanyMember(add, metadata=stack.admin)).member
    assert member.order_limit == _eur(100_000) and member.limit_period == pb.LIMIT_PERIOD_MONTH
    assert (await stack.stub.AddCompanyMember(add, metadata=stack.admin)).member == member
    twice = _buyer(account, "alice", request_id="other")
    assert (await stack.failure(stack.stub.AddCompanyMember(twice, metadata=stack.admin))).code == (
        grpc.StatusCode.ALREADY_EXISTS
    )
    bad = _buyer(account, "bob", cost_centre="NOPE", limit_period=pb.LIMIT_PERIOD_UNSPECIFIED, role=9)
    bad.order_limit.currency = "USD"
    refused = await stack.failure(stack.stub.AddCompanyMember(bad, metadata=stack.admin))
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {"cost_centre", "limit_period", "role", "order_limit.currency"} <= {v.field for v in refused.violations}
    change = pb.UpdateCompanyMemberRequest(
        account_id=account, user_id="alice", expected_version=1, role=pb.MEMBER_ROLE_APPROVER, clear_order_limit=True
    )
    changed = (await stack.stub.UpdateCompanyMember(change, metadata=stack.admin)).member
    assert changed.role == pb.MEMBER_ROLE_APPROVER and not changed.HasField("order_limit") and changed.version == 2
    assert (await stack.failure(stack.stub.UpdateCompanyMember(change, metadata=stack.admin))).code == (
        grpc.StatusCode.ABORTED
    )
    found = await stack.stub.GetCompany(pb.GetCompanyRequest(account_id=account), metadata=stack.admin)
    assert [m.user_id for m in found.members] == ["alice"]
    remove = pb.RemoveCompanyMemberRequest(account_id=account, user_id="alice")
    assert (await stack.stub.RemoveCompanyMember(remove, metadata=stack.admin)).removed
    assert not (await stack.stub.RemoveCompanyMember(remove, metadata=stack.admin)).removed

    def about(payload: bytes) -> bool:
        event = events_pb2.CompanyMemberChanged.FromString(payload)
        return event.member.account_id == account and event.removed

    await published_event(stack.nats_url, "shop.customers.company_member_changed", about)


async def test_a_company_admin_manages_their_own_company_alone(stack: Stack) -> None:
    account = (await stack.stub.CreateCompany(_new_company(), metadata=stack.admin)).company.account_id
    other = (await stack.stub.CreateCompany(_new_company(), metadata=stack.admin)).company.account_id
    boss = _buyer(account, "boss", role=pb.MEMBER_ROLE_COMPANY_ADMIN)
    await stack.stub.AddCompanyMember(boss, metadata=stack.admin)
    await stack.stub.AddCompanyMember(_buyer(account, "carol"), metadata=stack.admin)
    as_boss = metadata_for("b2b_buyer", "boss", account)
    added = (await stack.stub.AddCompanyMember(_buyer(account, "dave"), metadata=as_boss)).member
    assert added.user_id == "dave"
    elsewhere = await stack.failure(stack.stub.AddCompanyMember(_buyer(other, "eve"), metadata=as_boss))
    assert elsewhere.code == grpc.StatusCode.PERMISSION_DENIED
    as_carol = metadata_for("b2b_buyer", "carol", account)
    refused = await stack.failure(stack.stub.AddCompanyMember(_buyer(account, "frank"), metadata=as_carol))
    assert refused.code == grpc.StatusCode.PERMISSION_DENIED
    create = await stack.failure(stack.stub.CreateCompany(_new_company(), metadata=as_boss))
    assert create.code == grpc.StatusCode.PERMISSION_DENIED


async def test_the_buying_context_is_the_members_own(stack: Stack) -> None:
    account = (await stack.stub.CreateCompany(_new_company(), metadata=stack.admin)).company.account_id
    await stack.stub.AddCompanyMember(_buyer(account, "gina"), metadata=stack.admin)
    as_gina = metadata_for("b2b_buyer", "gina", account)
    context = await stack.stub.GetBuyingContext(
        pb.GetBuyingContextRequest(user_id="gina", account_id=account), metadata=as_gina
    )
    assert context.member.role == pb.MEMBER_ROLE_BUYER and context.member.cost_centre == "OPS"
    assert context.member.period_limit == _eur(500_000)
    assert (context.company.tax_id, context.company.payment_terms_days) == ("DE123456789", 30)
    as_admin = await stack.stub.GetBuyingContext(
        pb.GetBuyingContextRequest(user_id="gina", account_id=account), metadata=stack.admin
    )
    assert as_admin == context
    stranger = pb.GetBuyingContextRequest(user_id="harry", account_id=account)
    missing = await stack.failure(stack.stub.GetBuyingContext(stranger, metadata=stack.admin))
    assert missing.code == grpc.StatusCode.NOT_FOUND and missing.reason == "NOT_A_MEMBER"
    someone_else = await stack.failure(stack.stub.GetBuyingContext(stranger, metadata=as_gina))
    assert someone_else.code == grpc.StatusCode.PERMISSION_DENIED


async def test_companies_are_listed_a_page_at_a_time(stack: Stack) -> None:
    prefix = f"pg-{uuid.uuid4().hex[:6]}"
    for n in range(3):
        await stack.stub.CreateCompany(_new_company(f"{prefix}-{n}"), metadata=stack.admin)
    seen: list[str] = []
    token = ""
    while True:
        page = await stack.stub.ListCompanies(
            pb.ListCompaniesRequest(page_size=2, page_token=token), metadata=stack.admin
        )
        seen += [c.account_id for c in page.companies]
        token = page.next_page_token
        if not token:
            break
    assert [a for a in seen if a.startswith(prefix)] == [f"{prefix}-{n}" for n in range(3)]
    assert seen == sorted(seen)
