"""An order's approval chain as plain data: the steps the account's rules asked for when the order
was placed (customers' ResolveApprovalChain), and every approver's decision on them.

Steps are decided in order. A step is approved when `quorum` of its approvers approved it, and
rejected as soon as one of them rejects it (which rejects the whole chain). A step without
approvers is open to any approver of the account other than the buyer and needs one approval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

# In `approval_waiting` (the store's inbox column): the current step is open to any approver.
ANY_APPROVER = "*"


class StepState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    approver: str
    verdict: Verdict
    note: str = ""
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StepProgress:
    name: str
    rule_id: str = ""
    approvers: tuple[str, ...] = ()  # empty: any approver of the account other than the buyer
    quorum: int = 1
    state: StepState = StepState.PENDING
    decisions: tuple[ApprovalDecision, ...] = ()

    def decision_of(self, approver: str) -> ApprovalDecision | None:
        return next((d for d in self.decisions if d.approver == approver), None)

    def names(self, approver: str) -> bool:
        """Whether `approver` may decide this step (besides admins)."""
        return not self.approvers or approver in self.approvers

    @property
    def approvals(self) -> int:
        return sum(1 for d in self.decisions if d.verdict is Verdict.APPROVE)


@dataclass(frozen=True, slots=True)
class ApprovalChain:
    """The chain and how far it got; `current` indexes the step waiting (len(steps) when done)."""

    steps: tuple[StepProgress, ...] = ()
    current: int = 0
    hold_days: int = 0

    @property
    def current_step(self) -> StepProgress | None:
        return self.steps[self.current] if 0 <= self.current < len(self.steps) else None

    @property
    def approved(self) -> bool:
        return bool(self.steps) and all(step.state is StepState.APPROVED for step in self.steps)

    @property
    def rejected(self) -> bool:
        return any(step.state is StepState.REJECTED for step in self.steps)

    def waiting_on(self) -> list[str]:
        """Who the current step still waits for (ANY_APPROVER for an open step); [] when decided."""
        step = self.current_step
        if step is None or self.rejected:
            return []
        if not step.approvers:
            return [ANY_APPROVER]
        return [a for a in step.approvers if step.decision_of(a) is None]

    def decide(self, approver: str, verdict: Verdict, note: str, now: datetime) -> ApprovalChain:
        """The chain after `approver`'s decision on the current step (the caller checked that they
        may decide it and have not)."""
        step = self.current_step
        assert step is not None
        decisions = (*step.decisions, ApprovalDecision(approver, verdict, note, now))
        state = StepState.PENDING
        if verdict is Verdict.REJECT:
            state = StepState.REJECTED
        elif sum(1 for d in decisions if d.verdict is Verdict.APPROVE) >= step.quorum:
            state = StepState.APPROVED
        decided = dataclasses.replace(step, decisions=decisions, state=state)
        steps = (*self.steps[: self.current], decided, *self.steps[self.current + 1 :])
        current = self.current + 1 if state is StepState.APPROVED else self.current
        return dataclasses.replace(self, steps=steps, current=current)


def any_approver_chain(hold_days: int = 0) -> ApprovalChain:
    """What an approval without rules is: one step any approver of the account decides."""
    return ApprovalChain((StepProgress("approver"),), hold_days=hold_days)


# --- JSON (the store's column) ---------------------------------------------------------------------


def to_json(chain: ApprovalChain) -> dict[str, Any]:
    return {
        "current": chain.current,
        "hold_days": chain.hold_days,
        "steps": [
            {
                "name": step.name,
                "rule_id": step.rule_id,
                "approvers": list(step.approvers),
                "quorum": step.quorum,
                "state": step.state.value,
                "decisions": [
                    {
                        "approver": d.approver,
                        "verdict": d.verdict.value,
                        "note": d.note,
                        "at": None if d.at is None else d.at.isoformat(),
                    }
                    for d in step.decisions
                ],
            }
            for step in chain.steps
        ],
    }


def from_json(value: Mapping[str, Any] | None) -> ApprovalChain:
    if not value:
        return ApprovalChain()
    return ApprovalChain(
        steps=tuple(
            StepProgress(
                name=str(step["name"]),
                rule_id=str(step.get("rule_id", "")),
                approvers=tuple(step.get("approvers", ())),
                quorum=int(step.get("quorum", 1)),
                state=StepState(step.get("state", "pending")),
                decisions=tuple(
                    ApprovalDecision(
                        str(d["approver"]),
                        Verdict(d["verdict"]),
                        str(d.get("note", "")),
                        None if d.get("at") is None else datetime.fromisoformat(d["at"]),
                    )
                    for d in step.get("decisions", ())
                ),
            )
            for step in value.get("steps", ())
        ),
        current=int(value.get("current", 0)),
        hold_days=int(value.get("hold_days", 0)),
    )
