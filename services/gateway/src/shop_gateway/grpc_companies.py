"""B2B companies over gRPC (shop.storefront.v1.CompaniesService): companies, members and approval rules
through the same use cases as their HTTP routes, in the customers service's own messages. An admin acts
on the company the request names; a B2B user on their own (the company_admin routes under /v1/company)."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from shop.customers.v1 import customers_pb2 as pb
from shop.storefront.v1 import companies_pb2_grpc
from shop_gateway.app import approval_rules
from shop_gateway.gateway import Gateway
from shop_gateway.grpcapi import Context, StorefrontServicer
from shop_gateway.principal import B2B_ROLES


class CompaniesServicer(companies_pb2_grpc.CompaniesServiceServicer):
    def __init__(self, gateway: Gateway):
        self.shop = gateway.shop
        self.edge = StorefrontServicer(gateway)  # authentication, scopes, rate limits and buying context as there

    async def _call(self, operation: str, request: Message, context: Context) -> Any:
        who, _ = await self.edge._admit(context)
        own = who.role in B2B_ROLES
        return await approval_rules.call(self.shop.backends, who, operation, request, own=own)

    async def CreateCompany(self, request: pb.CreateCompanyRequest, context: Context) -> pb.CreateCompanyResponse:
        response: pb.CreateCompanyResponse = await self._call("CreateCompany", request, context)
        return response

    async def UpdateCompany(self, request: pb.UpdateCompanyRequest, context: Context) -> pb.UpdateCompanyResponse:
        response: pb.UpdateCompanyResponse = await self._call("UpdateCompany", request, context)
        return response

    async def GetCompany(self, request: pb.GetCompanyRequest, context: Context) -> pb.GetCompanyResponse:
        response: pb.GetCompanyResponse = await self._call("GetCompany", request, context)
        return response

    async def ListCompanies(self, request: pb.ListCompaniesRequest, context: Context) -> pb.ListCompaniesResponse:
        response: pb.ListCompaniesResponse = await self._call("ListCompanies", request, context)
        return response

    async def AddCompanyMember(
        self, request: pb.AddCompanyMemberRequest, context: Context
    ) -> pb.AddCompanyMemberResponse:
        response: pb.AddCompanyMemberResponse = await self._call("AddCompanyMember", request, context)
        return response

    async def UpdateCompanyMember(
        self, request: pb.UpdateCompanyMemberRequest, context: Context
    ) -> pb.UpdateCompanyMemberResponse:
        response: pb.UpdateCompanyMemberResponse = await self._call("UpdateCompanyMember", request, context)
        return response

    async def RemoveCompanyMember(
        self, request: pb.RemoveCompanyMemberRequest, context: Context
    ) -> pb.RemoveCompanyMemberResponse:
        response: pb.RemoveCompanyMemberResponse = await self._call("RemoveCompanyMember", request, context)
        return response

    async def CreateApprovalRule(
        self, request: pb.CreateApprovalRuleRequest, context: Context
    ) -> pb.CreateApprovalRuleResponse:
        response: pb.CreateApprovalRuleResponse = await self._call("CreateApprovalRule", request, context)
        return response

    async def UpdateApprovalRule(
        self, request: pb.UpdateApprovalRuleRequest, context: Context
    ) -> pb.UpdateApprovalRuleResponse:
        response: pb.UpdateApprovalRuleResponse = await self._call("UpdateApprovalRule", request, context)
        return response

    async def DeleteApprovalRule(
        self, request: pb.DeleteApprovalRuleRequest, context: Context
    ) -> pb.DeleteApprovalRuleResponse:
        response: pb.DeleteApprovalRuleResponse = await self._call("DeleteApprovalRule", request, context)
        return response

    async def ListApprovalRules(
        self, request: pb.ListApprovalRulesRequest, context: Context
    ) -> pb.ListApprovalRulesResponse:
        response: pb.ListApprovalRulesResponse = await self._call("ListApprovalRules", request, context)
        return response
