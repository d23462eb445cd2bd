"""B2B companies as the customers service holds them: the admins' and company admins' use cases,
and the buying context that fills a B2B caller's facts (limits, terms, tax id) on each request.

A token names who the user is and which account they belong to; what the account and the user may do
is data (customers: GetBuyingContext), cached briefly per user and account on each gateway replica."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import grpc
from google.protobuf.message import Message

from shop.customers.v1 import customers_pb2 as pb
from shop_gateway.app.access import require_role, require_token
from shop_gateway.app.backoffice.common import ADMIN
from shop_gateway.app.errors import upstream
from shop_gateway.backends import Backends
from shop_gateway.principal import B2B_ROLES, Principal
from shopkit.errors import PermissionDenied
from shopkit.expiring import Expiring
from shopkit.money import Money

# Each admin operation, and whether a company's company_admin member may call it for their own company.
OPERATIONS: dict[str, bool] = {
    "CreateCompany": False,
    "UpdateCompany": False,
    "ListCompanies": False,
    "GetCompany": True,
    "AddCompanyMember": True,
    "UpdateCompanyMember": True,
    "RemoveCompanyMember": True,
    # Approval rules (app/approval_rules.py): a company_admin member keeps their own company's.
    "CreateApprovalRule": True,
    "UpdateApprovalRule": True,
    "DeleteApprovalRule": True,
    "ListApprovalRules": True,
}
# The token role a membership gives (the membership, not the token, says who approves).
MEMBER_ROLES = {pb.MEMBER_ROLE_APPROVER: "b2b_approver"}
PERIODS = {pb.LIMIT_PERIOD_DAY: "day", pb.LIMIT_PERIOD_WEEK: "week", pb.LIMIT_PERIOD_MONTH: "month"}
MAX_CACHED = 100_000


async def call(backends: Backends, who: Principal, operation: str, request: Message) -> Any:
    """`operation` of the customers service for an admin (the /v1/admin routes)."""
    require_role(who, ADMIN)
    with upstream("customers"):
        return await getattr(backends.customers, operation)(request, metadata=who.metadata())


async def call_for_own(backends: Backends, who: Principal, operation: str, request: Message) -> Any:
    """`operation` on the caller's own company (the /v1/company routes): a B2B user; the customers
    service admits its company_admin members alone."""
    require_role(who, B2B_ROLES)
    if not OPERATIONS[operation]:
        raise PermissionDenied("companies are created and changed by admins", reason="ROLE_REQUIRED")
    setattr(request, "account_id", who.account_id)  # noqa: B010 - every member request names the account
    with upstream("customers"):
        return await getattr(backends.customers, operation)(request, metadata=who.metadata())


def _money(message: Any) -> Money:
    return Money(message.amount, message.currency)


def with_context(who: Principal, context: pb.GetBuyingContextResponse) -> Principal:
    """The caller with their company's and membership's facts."""
    company, member = context.company, context.member
    if company.status == pb.COMPANY_STATUS_SUSPENDED:
        suspended = f"the account {who.account_id} is suspended"
        raise PermissionDenied(suspended, reason="ACCOUNT_SUSPENDED", metadata={"account_id": who.account_id})
    limit, period = None, ""
    if member.HasField("period_limit") and member.limit_period in PERIODS:
        limit, period = _money(member.period_limit), PERIODS[member.limit_period]
    elif member.HasField("order_limit"):
        limit, period = _money(member.order_limit), "order"
    return replace(
        who,
        role=MEMBER_ROLES.get(member.role, "b2b_buyer"),
        approval_limit=limit,
        approval_period=period,
        order_limit=_money(member.order_limit) if member.HasField("order_limit") else None,
        payment_terms_days=company.payment_terms_days,
        tax_id=company.tax_id,
        cost_centre=member.cost_centre,
        credit_limit=_money(company.credit_limit),
        company_role=pb.MemberRole.Name(member.role).removeprefix("MEMBER_ROLE_").lower(),
    )


class BuyingContexts:
    """GetBuyingContext per (user, account), kept for `seconds` (0: asked on every request)."""

    def __init__(self, backends: Backends, seconds: float):
        self.backends = backends
        self.seconds = seconds
        self._cache: Expiring[tuple[str, str], pb.GetBuyingContextResponse] = Expiring(MAX_CACHED)

    async def fill(self, who: Principal) -> Principal:
        """A B2B caller with the facts of their membership; anyone else as they are. A user who is
        not a member of the account their token names is refused (403 NOT_A_MEMBER)."""
        if who.role not in B2B_ROLES:
            return who
        require_token(who)
        key, now = (who.subject, who.account_id), time.monotonic()
        context = self._cache.get(key, now)
        if context is None:
            context = await self._ask(who)
            if self.seconds > 0:
                self._cache.put(key, context, now + self.seconds, now)
        return with_context(who, context)

    async def _ask(self, who: Principal) -> pb.GetBuyingContextResponse:
        request = pb.GetBuyingContextRequest(user_id=who.subject, account_id=who.account_id)
        try:
            response: pb.GetBuyingContextResponse = await self.backends.customers.GetBuyingContext(
                request, metadata=who.metadata()
            )
            return response
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise PermissionDenied(
                    f"{who.subject} is not a member of the account {who.account_id}",
                    reason="NOT_A_MEMBER",
                    metadata={"account_id": who.account_id},
                ) from None
            with upstream("customers"):
                raise
