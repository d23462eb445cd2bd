"""Reviews and assessments as stored, and the review state machine."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from shop_fraud.domain.purchase import Purchase
from shop_fraud.domain.scoring import Outcome


class ReviewStatus(Enum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # the checkout ended before an analyst decided


class Transition(Enum):
    APPLY = "apply"  # OPEN -> the wanted status
    UNCHANGED = "unchanged"  # already in the wanted status: a repeat returns it as it is
    CLOSED = "closed"  # decided otherwise (or cancelled): FAILED_PRECONDITION


def transition(current: ReviewStatus, wanted: ReviewStatus) -> Transition:
    """What deciding a review in status `current` as `wanted` does."""
    if current is wanted:
        return Transition.UNCHANGED
    if current is ReviewStatus.OPEN:
        return Transition.APPLY
    return Transition.CLOSED


@dataclass(frozen=True)
class Assessment:
    assessment_id: uuid.UUID
    checkout_id: str
    purchase: Purchase
    outcome: Outcome
    model_version: str
    assessed_at: datetime
    review_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Review:
    review_id: uuid.UUID
    status: ReviewStatus
    assessment_id: uuid.UUID
    checkout_id: str
    created_at: datetime
    decided_by: str = ""
    note: str = ""
    decided_at: datetime | None = None
