"""The gRPC servicer of shop.fraud.v1.FraudService.

Each method: authorise (Assess: service or admin; everything else: fraud_analyst, admin or
service), validate the whole request (INVALID_ARGUMENT with every field violation, before any
write), then one use case of `operations.Fraud`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import grpc

from shop.common.v1 import common_pb2
from shop.fraud.v1 import fraud_pb2, fraud_pb2_grpc
from shop_fraud import mapping, store
from shop_fraud.domain.reviews import ReviewStatus
from shop_fraud.operations import Fraud
from shopkit.auth import require_role
from shopkit.errors import FieldViolation, InvalidArgument, Violations
from shopkit.pagination import decode_token, encode_token, page_size
from shopkit.personal_data import PersonalDataRpcs

Context = grpc.aio.ServicerContext[Any, Any]

ASSESS_ROLES = ("service", "admin")
ANALYST_ROLES = ("fraud_analyst", "admin", "service")


def _cursor(token: str) -> store.QueueCursor | None:
    cursor = decode_token(token)
    if cursor is None:
        return None
    try:
        return bool(cursor["closed"]), datetime.fromisoformat(cursor["at"]), uuid.UUID(cursor["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgument([FieldViolation("page.page_token", "is not a token this service issued")]) from exc


def _token(closed: bool, created_at: datetime, review_id: uuid.UUID) -> str:
    return encode_token({"closed": closed, "at": created_at.isoformat(), "id": str(review_id)})


class FraudServicer(PersonalDataRpcs, fraud_pb2_grpc.FraudServiceServicer):
    def __init__(self, fraud: Fraud):
        self.fraud = fraud

    async def Assess(self, request: fraud_pb2.AssessRequest, context: Context) -> fraud_pb2.AssessResponse:
        require_role(context, ASSESS_ROLES)
        violations = Violations()
        purchase = mapping.purchase_from_pb(
            request.checkout_id, request.HasField("context"), request.context, violations, self.fraud.clock()
        )
        violations.raise_if_any()
        assessment = await self.fraud.assess(request.checkout_id, purchase)
        return fraud_pb2.AssessResponse(assessment=mapping.assessment_to_pb(assessment))

    async def GetAssessment(
        self, request: fraud_pb2.GetAssessmentRequest, context: Context
    ) -> fraud_pb2.GetAssessmentResponse:
        require_role(context, ANALYST_ROLES)
        violations = Violations()
        assessment_id = None
        if request.assessment_id:
            assessment_id = mapping.check_uuid(violations, request.assessment_id, "assessment_id")
        elif not request.checkout_id:
            violations.add("assessment_id", "assessment_id or checkout_id is required")
        violations.raise_if_any()
        assessment = await self.fraud.get_assessment(
            assessment_id=assessment_id, checkout_id=None if assessment_id else request.checkout_id
        )
        return fraud_pb2.GetAssessmentResponse(assessment=mapping.assessment_to_pb(assessment))

    async def ListReviews(
        self, request: fraud_pb2.ListReviewsRequest, context: Context
    ) -> fraud_pb2.ListReviewsResponse:
        require_role(context, ANALYST_ROLES)
        violations = Violations()
        statuses: list[ReviewStatus] = []
        for i, value in enumerate(request.statuses):
            status = mapping.STATUS_FROM_PB.get(value)
            if status is None:
                violations.add(f"statuses[{i}]", "must be a review status other than UNSPECIFIED")
            elif status not in statuses:
                statuses.append(status)
        violations.raise_if_any()
        limit = page_size(request.page.page_size)
        after = _cursor(request.page.page_token)
        found = await self.fraud.list_reviews(statuses or [ReviewStatus.OPEN], after, limit + 1)
        page = common_pb2.PageResponse()
        if len(found) > limit:
            found = found[:limit]
            last = found[-1][0]
            page.next_page_token = _token(last.status is not ReviewStatus.OPEN, last.created_at, last.review_id)
        return fraud_pb2.ListReviewsResponse(
            reviews=[mapping.review_to_pb(review, assessment) for review, assessment in found], page=page
        )

    async def GetReview(self, request: fraud_pb2.GetReviewRequest, context: Context) -> fraud_pb2.GetReviewResponse:
        require_role(context, ANALYST_ROLES)
        violations = Violations()
        review_id = mapping.check_uuid(violations, request.review_id, "review_id")
        violations.raise_if_any()
        assert review_id is not None
        review, assessment = await self.fraud.get_review(review_id)
        return fraud_pb2.GetReviewResponse(review=mapping.review_to_pb(review, assessment))

    async def ApproveReview(
        self, request: fraud_pb2.ApproveReviewRequest, context: Context
    ) -> fraud_pb2.ApproveReviewResponse:
        review = await self._decide(context, request.review_id, request.note, ReviewStatus.APPROVED)
        return fraud_pb2.ApproveReviewResponse(review=review)

    async def RejectReview(
        self, request: fraud_pb2.RejectReviewRequest, context: Context
    ) -> fraud_pb2.RejectReviewResponse:
        review = await self._decide(context, request.review_id, request.note, ReviewStatus.REJECTED)
        return fraud_pb2.RejectReviewResponse(review=review)

    async def _decide(self, context: Context, raw_id: str, note: str, status: ReviewStatus) -> fraud_pb2.Review:
        who = require_role(context, ANALYST_ROLES)
        violations = Violations()
        review_id = mapping.check_uuid(violations, raw_id, "review_id")
        mapping.check_note(violations, note, required=status is ReviewStatus.REJECTED)
        violations.raise_if_any()
        assert review_id is not None
        review, assessment = await self.fraud.decide(
            review_id, status, decided_by=who.customer_id or who.role, note=note.strip()
        )
        return mapping.review_to_pb(review, assessment)
