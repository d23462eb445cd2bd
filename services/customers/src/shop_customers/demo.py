"""The demo B2B company of `make run` (seeded by shop_devstack.seed through CreateCompany and
AddCompanyMember, each idempotent by its request id): `acme-corp`, net 30 with a credit limit, two
cost centres, the buyer `alice-buyer` (orders above 1,000.00 USD wait for approval), the approvers
`bob-approver` and `carol-finance`, and two approval rules (CreateApprovalRule, idempotent too): the
"department head" (bob-approver) approves orders from 1,000.00 USD, then "finance" (carol-finance)
those from 10,000.00 USD, which may wait a quarter (90 days). Dev tokens name them: {"username":
"alice-buyer", "role": "b2b_buyer", "account_id": "acme-corp"}."""

from __future__ import annotations

from shop.common.v1 import common_pb2
from shop.customers.v1 import customers_pb2 as pb

DEMO_ACCOUNT = "acme-corp"


def _usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency="USD")


def demo_company() -> pb.CreateCompanyRequest:
    return pb.CreateCompanyRequest(
        request_id="demo-company-acme-corp",
        account_id=DEMO_ACCOUNT,
        name="Acme Corp",
        payment_terms_days=30,
        credit_limit=_usd(5_000_000),
        cost_centres=[pb.CostCentre(code="OPS", name="Operations"), pb.CostCentre(code="IT", name="IT")],
    )


def demo_members() -> list[pb.AddCompanyMemberRequest]:
    return [
        pb.AddCompanyMemberRequest(
            request_id="demo-member-alice-buyer",
            account_id=DEMO_ACCOUNT,
            user_id="alice-buyer",
            role=pb.MEMBER_ROLE_BUYER,
            cost_centre="OPS",
            order_limit=_usd(100_000),
        ),
        pb.AddCompanyMemberRequest(
            request_id="demo-member-bob-approver",
            account_id=DEMO_ACCOUNT,
            user_id="bob-approver",
            role=pb.MEMBER_ROLE_APPROVER,
            cost_centre="OPS",
        ),
        pb.AddCompanyMemberRequest(
            request_id="demo-member-carol-finance",
            account_id=DEMO_ACCOUNT,
            user_id="carol-finance",
            role=pb.MEMBER_ROLE_APPROVER,
        ),
    ]


def demo_approval_rules() -> list[pb.CreateApprovalRuleRequest]:
    """After the members they name."""
    rules = [
        pb.ApprovalRuleSpec(name="department head", position=1, min_total=_usd(100_000), approvers=["bob-approver"]),
        pb.ApprovalRuleSpec(
            name="finance", position=2, min_total=_usd(1_000_000), approvers=["carol-finance"], hold_days=90
        ),
    ]
    return [
        pb.CreateApprovalRuleRequest(request_id=f"demo-rule-{i}", account_id=DEMO_ACCOUNT, rule=rule)
        for i, rule in enumerate(rules, 1)
    ]
