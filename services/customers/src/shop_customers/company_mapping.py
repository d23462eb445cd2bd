"""Protobuf <-> domain for B2B companies at the edge of the customers service."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2 as pb
from shop_customers.companies import Company, CompanyChange, CostCentre, Member, MemberChange, NewCompany
from shop_customers.mapping import timestamp

STATUSES = {"active": pb.COMPANY_STATUS_ACTIVE, "suspended": pb.COMPANY_STATUS_SUSPENDED}
ROLES = {
    "buyer": pb.MEMBER_ROLE_BUYER,
    "approver": pb.MEMBER_ROLE_APPROVER,
    "company_admin": pb.MEMBER_ROLE_COMPANY_ADMIN,
}
PERIODS = {"day": pb.LIMIT_PERIOD_DAY, "week": pb.LIMIT_PERIOD_WEEK, "month": pb.LIMIT_PERIOD_MONTH}
# Unknown enum numbers become a value the domain refuses with a field violation.
_UNKNOWN = "unknown"


def _named(table: Mapping[str, int], value: int) -> str:
    return next((name for name, number in table.items() if number == value), _UNKNOWN)


def _money(amount: int | None, currency: str) -> common_pb2.Money | None:
    return common_pb2.Money(amount=amount, currency=currency) if amount is not None else None


def _limit(message: common_pb2.Money) -> tuple[int, str]:
    return message.amount, message.currency.strip().upper()


def cost_centres(items: Iterable[pb.CostCentre]) -> tuple[CostCentre, ...]:
    return tuple(CostCentre(c.code.strip(), c.name.strip()) for c in items)


def company(value: Company) -> pb.Company:
    return pb.Company(
        account_id=value.account_id,
        name=value.name,
        tax_id=value.tax_id,
        payment_terms_days=value.payment_terms_days,
        credit_limit=common_pb2.Money(amount=value.credit_limit, currency=value.currency),
        status=STATUSES[value.status],
        cost_centres=[pb.CostCentre(code=c.code, name=c.name) for c in value.cost_centres],
        version=value.version,
        created_at=timestamp(value.created_at),
        updated_at=timestamp(value.updated_at),
    )


def member(value: Member, currency: str) -> pb.CompanyMember:
    return pb.CompanyMember(
        account_id=value.account_id,
        user_id=value.user_id,
        role=ROLES[value.role],
        cost_centre=value.cost_centre,
        order_limit=_money(value.order_limit, currency),
        period_limit=_money(value.period_limit, currency),
        limit_period=PERIODS.get(value.limit_period, pb.LIMIT_PERIOD_UNSPECIFIED),
        version=value.version,
        created_at=timestamp(value.created_at),
        updated_at=timestamp(value.updated_at),
    )


def new_company(request: pb.CreateCompanyRequest) -> NewCompany:
    return NewCompany(
        request_id=request.request_id,
        company=Company(
            account_id=request.account_id.strip(),
            name=request.name.strip(),
            currency=request.credit_limit.currency.strip().upper(),
            tax_id=request.tax_id.strip(),
            payment_terms_days=request.payment_terms_days,
            credit_limit=request.credit_limit.amount,
            cost_centres=cost_centres(request.cost_centres),
        ),
    )


def company_change(request: pb.UpdateCompanyRequest) -> CompanyChange:
    return CompanyChange(
        name=request.name.strip() if request.HasField("name") else None,
        tax_id=request.tax_id.strip() if request.HasField("tax_id") else None,
        payment_terms_days=request.payment_terms_days if request.HasField("payment_terms_days") else None,
        credit_limit=_limit(request.credit_limit) if request.HasField("credit_limit") else None,
        status=_named(STATUSES, request.status) if request.status else None,
        cost_centres=cost_centres(request.cost_centres.items) if request.HasField("cost_centres") else None,
    )


def new_member(request: pb.AddCompanyMemberRequest, currency_check: list[tuple[str, str]]) -> Member:
    """The member to add; the currencies of its limits go to `currency_check` (field, currency)."""
    for field in ("order_limit", "period_limit"):
        if request.HasField(field):
            currency_check.append((field, getattr(request, field).currency.strip().upper()))
    return Member(
        account_id=request.account_id.strip(),
        user_id=request.user_id.strip(),
        role=_named(ROLES, request.role),
        cost_centre=request.cost_centre.strip(),
        order_limit=request.order_limit.amount if request.HasField("order_limit") else None,
        period_limit=request.period_limit.amount if request.HasField("period_limit") else None,
        limit_period=_named(PERIODS, request.limit_period) if request.limit_period else "",
    )


def member_change(request: pb.UpdateCompanyMemberRequest) -> MemberChange:
    return MemberChange(
        role=_named(ROLES, request.role) if request.role else None,
        cost_centre=request.cost_centre.strip() if request.HasField("cost_centre") else None,
        order_limit=_limit(request.order_limit) if request.HasField("order_limit") else None,
        period_limit=_limit(request.period_limit) if request.HasField("period_limit") else None,
        limit_period=_named(PERIODS, request.limit_period) if request.limit_period else None,
        clear_order_limit=request.clear_order_limit,
        clear_period_limit=request.clear_period_limit,
    )
