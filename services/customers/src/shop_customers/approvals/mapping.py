"""Protobuf <-> domain for approval rules and chains at the edge of the customers service."""

from __future__ import annotations

from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2 as pb
from shop_customers.approvals.rules import ApprovalRule, Chain, OrderFacts, RuleSpec
from shop_customers.mapping import timestamp
from shopkit.money import Money


def _money(message: common_pb2.Money) -> Money:
    return Money(message.amount, message.currency.strip().upper())


def rule(value: ApprovalRule) -> pb.ApprovalRule:
    spec = value.spec
    return pb.ApprovalRule(
        account_id=value.account_id,
        rule_id=value.rule_id,
        name=spec.name,
        position=spec.position,
        min_total=spec.min_total.to_proto() if spec.min_total else None,
        cost_centre=spec.cost_centre,
        category_id=spec.category_id,
        approvers=list(spec.approvers),
        quorum=spec.quorum,
        hold_days=spec.hold_days,
        version=value.version,
        created_at=timestamp(value.created_at),
        updated_at=timestamp(value.updated_at),
    )


def spec(message: pb.ApprovalRuleSpec) -> RuleSpec:
    return RuleSpec(
        name=message.name.strip(),
        position=message.position,
        min_total=_money(message.min_total) if message.HasField("min_total") else None,
        cost_centre=message.cost_centre.strip(),
        category_id=message.category_id.strip().lower(),
        approvers=tuple(a.strip() for a in message.approvers),
        quorum=message.quorum,
        hold_days=message.hold_days,
    )


def order_facts(request: pb.ResolveApprovalChainRequest) -> OrderFacts:
    return OrderFacts(
        buyer_user_id=request.buyer_user_id.strip(),
        total=_money(request.total),
        cost_centre=request.cost_centre.strip(),
        category_ids=frozenset(c.strip().lower() for c in request.category_ids),
        over_limit=request.over_limit,
    )


def chain(value: Chain) -> common_pb2.ApprovalChain:
    steps = [
        common_pb2.ApprovalStep(name=s.name, rule_id=s.rule_id, approvers=list(s.approvers), quorum=s.quorum)
        for s in value.steps
    ]
    return common_pb2.ApprovalChain(steps=steps, hold_days=value.hold_days)
