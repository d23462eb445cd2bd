"""The approval-rule RPCs of shop.customers.v1.CustomersService (mixed into the servicer): each
finds who calls, calls one use case of `ApprovalRules`, encodes."""

from __future__ import annotations

from typing import Any

import grpc

from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2 as pb
from shop_customers.approvals import mapping
from shop_customers.approvals.operations import ApprovalRules
from shopkit.auth import caller

Context = grpc.aio.ServicerContext[Any, Any]


class ApprovalRuleRpcs:
    approval_rules: ApprovalRules

    async def CreateApprovalRule(
        self, request: pb.CreateApprovalRuleRequest, context: Context
    ) -> pb.CreateApprovalRuleResponse:
        created = await self.approval_rules.create(
            caller(context), request.account_id.strip(), request.request_id, mapping.spec(request.rule)
        )
        return pb.CreateApprovalRuleResponse(rule=mapping.rule(created))

    async def UpdateApprovalRule(
        self, request: pb.UpdateApprovalRuleRequest, context: Context
    ) -> pb.UpdateApprovalRuleResponse:
        updated = await self.approval_rules.update(
            caller(context),
            request.account_id.strip(),
            request.rule_id.strip(),
            mapping.spec(request.rule),
            request.expected_version,
        )
        return pb.UpdateApprovalRuleResponse(rule=mapping.rule(updated))

    async def DeleteApprovalRule(
        self, request: pb.DeleteApprovalRuleRequest, context: Context
    ) -> pb.DeleteApprovalRuleResponse:
        deleted = await self.approval_rules.delete(caller(context), request.account_id.strip(), request.rule_id.strip())
        return pb.DeleteApprovalRuleResponse(deleted=deleted)

    async def ListApprovalRules(
        self, request: pb.ListApprovalRulesRequest, context: Context
    ) -> pb.ListApprovalRulesResponse:
        found = await self.approval_rules.list(caller(context), request.account_id.strip())
        return pb.ListApprovalRulesResponse(rules=[mapping.rule(r) for r in found])

    async def ResolveApprovalChain(
        self, request: pb.ResolveApprovalChainRequest, context: Context
    ) -> common_pb2.ApprovalChain:
        found = await self.approval_rules.resolve(
            caller(context), request.account_id.strip(), mapping.order_facts(request)
        )
        return mapping.chain(found)
