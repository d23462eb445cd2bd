"""The approval chain a CreateOrderRequest carries, validated at the edge (a module of its own: the
servicer's modules import it)."""

from __future__ import annotations

from shop.common.v1 import common_pb2
from shop_order.domain.chain import ApprovalChain, StepProgress
from shopkit.errors import Violations

MAX_NAME = 200
MAX_ID = 128
MAX_STEPS = 20
MAX_APPROVERS = 50
MAX_HOLD_DAYS = 366


def check_chain(v: Violations, pb: common_pb2.ApprovalChain, path: str = "approval_chain") -> ApprovalChain:
    """The chain of a CreateOrderRequest: 0..20 steps, each with 0..50 distinct approvers and a quorum
    within them (0 reads as 1), and a hold of 0..366 days."""
    v.check(len(pb.steps) <= MAX_STEPS, f"{path}.steps", f"must hold at most {MAX_STEPS} steps")
    v.check(0 <= pb.hold_days <= MAX_HOLD_DAYS, f"{path}.hold_days", f"must be 0 to {MAX_HOLD_DAYS}")
    steps: list[StepProgress] = []
    for i, step in enumerate(pb.steps):
        at = f"{path}.steps[{i}]"
        _text(v, step.name, f"{at}.name", MAX_NAME)
        v.check(len(step.rule_id) <= MAX_ID, f"{at}.rule_id", f"must be at most {MAX_ID} characters")
        v.check(len(step.approvers) <= MAX_APPROVERS, f"{at}.approvers", f"must hold at most {MAX_APPROVERS}")
        v.check(len(set(step.approvers)) == len(step.approvers), f"{at}.approvers", "must not repeat an approver")
        for j, approver in enumerate(step.approvers):
            _text(v, approver, f"{at}.approvers[{j}]", MAX_ID)
        quorum = step.quorum or 1
        v.check(
            1 <= quorum <= max(1, len(step.approvers)),
            f"{at}.quorum",
            "must be 1 to the number of approvers (1 without approvers)",
        )
        steps.append(StepProgress(step.name.strip(), step.rule_id, tuple(step.approvers), quorum))
    return ApprovalChain(tuple(steps), hold_days=pb.hold_days)


def _text(v: Violations, value: str, path: str, limit: int) -> None:
    v.check(bool(value.strip()) and len(value) <= limit, path, f"is required, at most {limit} characters")
