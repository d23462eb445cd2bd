"""B2B companies over HTTP: /v1/admin/companies for admins (companies, cost centres, members) and
/v1/company for a company's own company_admin members (their members). The customers service holds
them; creates are idempotent by the Idempotency-Key header, changes take the version they change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Response
from pydantic import Field

from shop.customers.v1 import customers_pb2 as pb
from shop_gateway.app import companies
from shop_gateway.app.backoffice import protojson
from shop_gateway.app.backoffice.common import require_key
from shop_gateway.app.validation import MAX_INT64
from shop_gateway.httpapi.backoffice.common import IdempotencyKey, PageSize, PageToken, router
from shop_gateway.httpapi.backoffice.pricing_models import OUTPUT, Resource
from shop_gateway.httpapi.deps import ShopDep, SignedIn
from shop_gateway.httpapi.schemas import MoneyBody
from shopkit.errors import Violations

admin_companies = router("/v1/admin/companies", "back office: companies")
own_company = router("/v1/company", "company accounts")

Name = Annotated[str, Field(max_length=200)]
UserId = Annotated[str, Field(max_length=128, description="the subject of the user's tokens")]
Days = Annotated[int, Field(ge=0, le=365, description="invoice terms: net days; 0: no invoices")]


class CostCentre(Resource):
    code: str = Field(max_length=32, description="1-32 of A-Z a-z 0-9 . _ -")
    name: Name


class Company(Resource):
    account_id: str = Field(description="the slug tokens name in their account_id claim")
    name: str
    tax_id: str
    payment_terms_days: int
    credit_limit: MoneyBody
    status: str = Field(description="active or suspended (its members cannot sign in to buy)")
    cost_centres: list[CostCentre]
    version: int
    created_at: str | None = Field(None, description=OUTPUT)
    updated_at: str | None = Field(None, description=OUTPUT)


class Member(Resource):
    account_id: str
    user_id: str
    role: str = Field(description="buyer, approver or company_admin")
    cost_centre: str
    order_limit: MoneyBody | None = Field(description="orders above it wait for an approver; null: the default")
    period_limit: MoneyBody | None = Field(description="spending above it in limit_period waits for an approver")
    limit_period: str = Field(description="day, week or month; empty without a period limit")
    version: int
    created_at: str | None = Field(None, description=OUTPUT)
    updated_at: str | None = Field(None, description=OUTPUT)


class CompanyDetail(Resource):
    company: Company
    members: list[Member]


class CompanyPage(Resource):
    companies: list[Company]
    next_page_token: str


class NewCompany(Resource):
    account_id: str = Field(max_length=63, description="2-63 of a-z 0-9 -: the tokens' account_id")
    name: Name
    tax_id: str = Field("", max_length=64, description="VAT id: exempts orders where the tax rule allows")
    payment_terms_days: Days = 0
    credit_limit: MoneyBody = Field(description="its currency is the company's (and its members' limits')")
    cost_centres: list[CostCentre] = Field(default_factory=list, max_length=200)


class CompanyChange(Resource):
    expected_version: int = Field(0, ge=0, le=MAX_INT64, description="the version this change is made to; 0: any")
    name: Name | None = None
    tax_id: str | None = Field(None, max_length=64)
    payment_terms_days: Days | None = None
    credit_limit: MoneyBody | None = None
    status: str = Field("", description="active or suspended; empty: unchanged")
    cost_centres: list[CostCentre] | None = Field(None, max_length=200, description="set: replaces them all")


class NewMember(Resource):
    user_id: UserId
    role: str = Field(description="buyer, approver or company_admin")
    cost_centre: str = Field("", max_length=32)
    order_limit: MoneyBody | None = None
    period_limit: MoneyBody | None = None
    limit_period: str = Field("", description="day, week or month (with period_limit)")


class MemberChange(Resource):
    expected_version: int = Field(0, ge=0, le=MAX_INT64)
    role: str = ""
    cost_centre: str | None = Field(None, max_length=32, description='"" removes it')
    order_limit: MoneyBody | None = None
    period_limit: MoneyBody | None = None
    limit_period: str = ""
    clear_order_limit: bool = False
    clear_period_limit: bool = False


def _message(values: dict[str, Any], message_type: type[Any]) -> Any:
    violations = Violations()
    message = protojson.from_plain(values, message_type, violations)
    violations.raise_if_any()
    return message


def keyed(key: str | None) -> str:
    violations = Violations()
    require_key(violations, key or "")
    violations.raise_if_any()
    return key or ""


def _company_change(account_id: str, body: CompanyChange) -> pb.UpdateCompanyRequest:
    values = body.model_dump(mode="json", exclude={"cost_centres"})
    request: pb.UpdateCompanyRequest = _message({**values, "account_id": account_id}, pb.UpdateCompanyRequest)
    if body.cost_centres is not None:
        request.cost_centres.SetInParent()
        request.cost_centres.items.extend(pb.CostCentre(code=c.code, name=c.name) for c in body.cost_centres)
    return request


def _new_member(account_id: str, body: NewMember, key: str | None) -> pb.AddCompanyMemberRequest:
    values = {**body.model_dump(mode="json"), "account_id": account_id, "request_id": keyed(key)}
    message: pb.AddCompanyMemberRequest = _message(values, pb.AddCompanyMemberRequest)
    return message


def _member_change(account_id: str, user_id: str, body: MemberChange) -> pb.UpdateCompanyMemberRequest:
    values = {**body.model_dump(mode="json"), "account_id": account_id, "user_id": user_id}
    message: pb.UpdateCompanyMemberRequest = _message(values, pb.UpdateCompanyMemberRequest)
    return message


def _detail(response: pb.GetCompanyResponse) -> CompanyDetail:
    return CompanyDetail(company=Company.of(response.company), members=[Member.of(m) for m in response.members])


# --- admins -------------------------------------------------------------------------------------


@admin_companies.post("", status_code=201, summary="Create a company (admin; Idempotency-Key required)")
async def create_company(body: NewCompany, shop: ShopDep, who: SignedIn, key: IdempotencyKey = None) -> Company:
    """The same key again answers the company it created; another key for a taken account id is 409."""
    values = {**body.model_dump(mode="json"), "request_id": keyed(key)}
    request = _message(values, pb.CreateCompanyRequest)
    response = await companies.call(shop.backends, who, "CreateCompany", request)
    return Company.of(response.company)


@admin_companies.get("", summary="Companies by account id (admin)")
async def list_companies(
    shop: ShopDep, who: SignedIn, page_size: PageSize = 0, page_token: PageToken = ""
) -> CompanyPage:
    request = pb.ListCompaniesRequest(page_size=page_size, page_token=page_token)
    response = await companies.call(shop.backends, who, "ListCompanies", request)
    return CompanyPage(companies=[Company.of(c) for c in response.companies], next_page_token=response.next_page_token)


@admin_companies.get("/{account_id}", summary="A company with its members (admin)")
async def get_company(account_id: str, shop: ShopDep, who: SignedIn) -> CompanyDetail:
    request = pb.GetCompanyRequest(account_id=account_id)
    return _detail(await companies.call(shop.backends, who, "GetCompany", request))


@admin_companies.patch("/{account_id}", summary="Change a company's terms, status or cost centres (admin)")
async def update_company(account_id: str, body: CompanyChange, shop: ShopDep, who: SignedIn) -> Company:
    """Fields left out stay; cost centres a member uses cannot be removed (409 COST_CENTRE_IN_USE)."""
    response = await companies.call(shop.backends, who, "UpdateCompany", _company_change(account_id, body))
    return Company.of(response.company)


@admin_companies.post("/{account_id}/members", status_code=201, summary="Add a member (admin)")
async def add_member(
    account_id: str, body: NewMember, shop: ShopDep, who: SignedIn, key: IdempotencyKey = None
) -> Member:
    request = _new_member(account_id, body, key)
    return Member.of((await companies.call(shop.backends, who, "AddCompanyMember", request)).member)


@admin_companies.patch("/{account_id}/members/{user_id}", summary="Change a member's role, cost centre or limits")
async def update_member(account_id: str, user_id: str, body: MemberChange, shop: ShopDep, who: SignedIn) -> Member:
    request = _member_change(account_id, user_id, body)
    return Member.of((await companies.call(shop.backends, who, "UpdateCompanyMember", request)).member)


@admin_companies.delete("/{account_id}/members/{user_id}", status_code=204, summary="Remove a member (admin)")
async def remove_member(account_id: str, user_id: str, shop: ShopDep, who: SignedIn) -> Response:
    request = pb.RemoveCompanyMemberRequest(account_id=account_id, user_id=user_id)
    await companies.call(shop.backends, who, "RemoveCompanyMember", request)
    return Response(status_code=204)


# --- a company's own company_admin members ------------------------------------------------------


@own_company.get("", summary="The caller's company with its members (its company_admin members)")
async def get_own_company(shop: ShopDep, who: SignedIn) -> CompanyDetail:
    return _detail(await companies.call_for_own(shop.backends, who, "GetCompany", pb.GetCompanyRequest()))


@own_company.post("/members", status_code=201, summary="Add a member to the caller's company (company_admin)")
async def add_own_member(body: NewMember, shop: ShopDep, who: SignedIn, key: IdempotencyKey = None) -> Member:
    request = _new_member(who.account_id, body, key)
    return Member.of((await companies.call_for_own(shop.backends, who, "AddCompanyMember", request)).member)


@own_company.patch("/members/{user_id}", summary="Change a member of the caller's company (company_admin)")
async def update_own_member(user_id: str, body: MemberChange, shop: ShopDep, who: SignedIn) -> Member:
    request = _member_change(who.account_id, user_id, body)
    return Member.of((await companies.call_for_own(shop.backends, who, "UpdateCompanyMember", request)).member)


@own_company.delete("/members/{user_id}", status_code=204, summary="Remove a member of the caller's company")
async def remove_own_member(user_id: str, shop: ShopDep, who: SignedIn) -> Response:
    request = pb.RemoveCompanyMemberRequest(account_id=who.account_id, user_id=user_id)
    await companies.call_for_own(shop.backends, who, "RemoveCompanyMember", request)
    return Response(status_code=204)
