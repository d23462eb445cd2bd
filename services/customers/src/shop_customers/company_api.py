"""The B2B company RPCs of shop.customers.v1.CustomersService (mixed into the servicer): each finds
who calls, calls one use case of `Companies`, encodes."""

from __future__ import annotations

from typing import Any

import grpc

from shop.customers.v1 import customers_pb2 as pb
from shop_customers import company_mapping as mapping
from shop_customers.company_operations import Companies
from shopkit.auth import caller

Context = grpc.aio.ServicerContext[Any, Any]


class CompanyRpcs:
    companies: Companies

    async def CreateCompany(self, request: pb.CreateCompanyRequest, context: Context) -> pb.CreateCompanyResponse:
        created = await self.companies.create(caller(context), mapping.new_company(request))
        return pb.CreateCompanyResponse(company=mapping.company(created))

    async def UpdateCompany(self, request: pb.UpdateCompanyRequest, context: Context) -> pb.UpdateCompanyResponse:
        updated = await self.companies.update(
            caller(context), request.account_id.strip(), mapping.company_change(request), request.expected_version
        )
        return pb.UpdateCompanyResponse(company=mapping.company(updated))

    async def GetCompany(self, request: pb.GetCompanyRequest, context: Context) -> pb.GetCompanyResponse:
        company, members = await self.companies.get(caller(context), request.account_id.strip())
        return pb.GetCompanyResponse(
            company=mapping.company(company), members=[mapping.member(m, company.currency) for m in members]
        )

    async def ListCompanies(self, request: pb.ListCompaniesRequest, context: Context) -> pb.ListCompaniesResponse:
        found, token = await self.companies.list(caller(context), request.page_size, request.page_token)
        return pb.ListCompaniesResponse(companies=[mapping.company(c) for c in found], next_page_token=token)

    async def AddCompanyMember(
        self, request: pb.AddCompanyMemberRequest, context: Context
    ) -> pb.AddCompanyMemberResponse:
        currencies: list[tuple[str, str]] = []
        new = mapping.new_member(request, currencies)
        added, currency = await self.companies.add_member(caller(context), request.request_id, new, currencies)
        return pb.AddCompanyMemberResponse(member=mapping.member(added, currency))

    async def UpdateCompanyMember(
        self, request: pb.UpdateCompanyMemberRequest, context: Context
    ) -> pb.UpdateCompanyMemberResponse:
        updated, currency = await self.companies.update_member(
            caller(context),
            request.account_id.strip(),
            request.user_id.strip(),
            mapping.member_change(request),
            request.expected_version,
        )
        return pb.UpdateCompanyMemberResponse(member=mapping.member(updated, currency))

    async def RemoveCompanyMember(
        self, request: pb.RemoveCompanyMemberRequest, context: Context
    ) -> pb.RemoveCompanyMemberResponse:
        removed = await self.companies.remove_member(
            caller(context), request.account_id.strip(), request.user_id.strip()
        )
        return pb.RemoveCompanyMemberResponse(removed=removed)

    async def GetBuyingContext(
        self, request: pb.GetBuyingContextRequest, context: Context
    ) -> pb.GetBuyingContextResponse:
        company, member = await self.companies.buying_context(
            caller(context), request.user_id.strip(), request.account_id.strip()
        )
        return pb.GetBuyingContextResponse(
            company=mapping.company(company), member=mapping.member(member, company.currency)
        )
