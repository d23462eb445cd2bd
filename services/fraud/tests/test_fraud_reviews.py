"""The review queue over real gRPC: authorization, order and pagination, approve/reject idempotency and
conflicts, the events that reach NATS, and reviews cancelled by shop.checkout.failed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from shop.checkout.v1 import checkout_pb2
from shop.checkout.v1 import events_pb2 as checkout_events
from shop.common.v1 import common_pb2
from shop.fraud.v1 import events_pb2
from shop.fraud.v1 import fraud_pb2 as R
from shopkit import events as kit_events
from shopkit.auth import metadata_for
from shopkit.testing import eventually

if TYPE_CHECKING:
    from conftest import FraudService

ANALYST = metadata_for("fraud_analyst", customer_id="analyst-1")
OTHER_ANALYST = metadata_for("fraud_analyst", customer_id="analyst-2")
CUSTOMER = metadata_for("customer", customer_id="cust-1")


async def open_review(fraud: FraudService) -> R.Assessment:
    assessment = await fraud.assess(fraud.review_context())
    assert assessment.decision == R.DECISION_REVIEW and assessment.review_id
    return assessment


async def decided_events(fraud: FraudService, review_id: str) -> int:
    rows = await fraud.sql(
        "SELECT payload FROM outbox WHERE subject = 'shop.fraud.review_decided' ORDER BY seq",
    )
    return sum(1 for row in rows if events_pb2.FraudReviewDecided.FromString(row.payload).review_id == review_id)


async def test_only_analysts_admins_and_services_see_and_decide(fraud: FraudService) -> None:
    review_id = (await open_review(fraud)).review_id
    calls: list[Callable[[Any], Any]] = [
        lambda md: fraud.stub.ListReviews(R.ListReviewsRequest(), metadata=md),
        lambda md: fraud.stub.GetReview(R.GetReviewRequest(review_id=review_id), metadata=md),
        lambda md: fraud.stub.ApproveReview(R.ApproveReviewRequest(review_id=review_id), metadata=md),
        lambda md: fraud.stub.RejectReview(R.RejectReviewRequest(review_id=review_id, note="no"), metadata=md),
    ]
    for metadata in (CUSTOMER, metadata_for("b2b_approver"), ()):
        for call in calls:
            error = await fraud.fails(call(metadata))
            assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "ROLE_REQUIRED"
    got = await fraud.stub.GetReview(R.GetReviewRequest(review_id=review_id), metadata=ANALYST)
    assert got.review.status == R.REVIEW_STATUS_OPEN and got.review.assessment.review_id == review_id
    assert not got.review.HasField("decided_at")
    for metadata in (ANALYST, metadata_for("admin"), metadata_for("service")):
        await fraud.stub.ListReviews(R.ListReviewsRequest(), metadata=metadata)


async def test_queue_lists_open_reviews_first_oldest_first_in_pages(fraud: FraudService) -> None:
    fraud.clock.now = datetime(2001, 1, 1, tzinfo=UTC)  # older than every other review of the module
    ids = []
    for _ in range(5):
        ids.append((await open_review(fraud)).review_id)
        fraud.clock.advance(timedelta(minutes=1))
    await fraud.stub.ApproveReview(R.ApproveReviewRequest(review_id=ids[1]), metadata=ANALYST)
    fraud.clock.now = datetime.now(UTC)

    first = await fraud.stub.ListReviews(
        R.ListReviewsRequest(page=common_pb2.PageRequest(page_size=2)), metadata=ANALYST
    )
    assert [r.review_id for r in first.reviews] == [ids[0], ids[2]] and first.page.next_page_token
    second = await fraud.stub.ListReviews(
        R.ListReviewsRequest(page=common_pb2.PageRequest(page_size=2, page_token=first.page.next_page_token)),
        metadata=ANALYST,
    )
    assert [r.review_id for r in second.reviews] == [ids[3], ids[4]]
    assert all(r.status == R.REVIEW_STATUS_OPEN and r.assessment.assessment_id for r in second.reviews)

    both = [R.REVIEW_STATUS_APPROVED, R.REVIEW_STATUS_OPEN]
    everything: list[R.Review] = []
    token = ""
    while True:
        page = await fraud.stub.ListReviews(
            R.ListReviewsRequest(statuses=both, page=common_pb2.PageRequest(page_size=3, page_token=token)),
            metadata=ANALYST,
        )
        everything.extend(page.reviews)
        token = page.page.next_page_token
        if not token:
            break
    statuses = [r.status for r in everything]
    assert statuses == sorted(statuses, key=lambda s: s != R.REVIEW_STATUS_OPEN)  # OPEN first
    positions = {r.review_id: i for i, r in enumerate(everything)}
    assert positions[ids[0]] == 0 and positions[ids[4]] == 3
    assert everything[positions[ids[1]]].status == R.REVIEW_STATUS_APPROVED
    assert len(positions) == len(everything)  # no review twice across pages

    for request, field in [
        (R.ListReviewsRequest(statuses=[R.REVIEW_STATUS_UNSPECIFIED]), "statuses[0]"),
        (R.ListReviewsRequest(page=common_pb2.PageRequest(page_token="garbage!")), "page.page_token"),
        (R.ListReviewsRequest(page=common_pb2.PageRequest(page_size=-1)), "page.page_size"),
    ]:
        error = await fraud.fails(fraud.stub.ListReviews(request, metadata=ANALYST))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT and [v.field for v in error.violations] == [field]


async def test_approve_and_reject_are_idempotent_and_final(fraud: FraudService) -> None:
    approved_id = (await open_review(fraud)).review_id
    approved = (
        await fraud.stub.ApproveReview(
            R.ApproveReviewRequest(review_id=approved_id, note="called the customer"), metadata=ANALYST
        )
    ).review
    assert approved.status == R.REVIEW_STATUS_APPROVED
    assert (approved.decided_by, approved.note) == ("analyst-1", "called the customer")
    assert approved.HasField("decided_at") and approved.assessment.decision == R.DECISION_REVIEW
    again = await fraud.stub.ApproveReview(R.ApproveReviewRequest(review_id=approved_id), metadata=OTHER_ANALYST)
    assert again.review == approved  # unchanged, whoever repeats it
    conflict = await fraud.fails(
        fraud.stub.RejectReview(R.RejectReviewRequest(review_id=approved_id, note="changed my mind"), metadata=ANALYST)
    )
    assert conflict.code == grpc.StatusCode.FAILED_PRECONDITION and conflict.reason == "REVIEW_CLOSED"
    assert conflict.metadata["status"] == "approved"

    rejected_id = (await open_review(fraud)).review_id
    no_note = await fraud.fails(fraud.stub.RejectReview(R.RejectReviewRequest(review_id=rejected_id), metadata=ANALYST))
    assert [v.field for v in no_note.violations] == ["note"]
    rejected = await fraud.stub.RejectReview(
        R.RejectReviewRequest(review_id=rejected_id, note="stolen card"), metadata=ANALYST
    )
    assert rejected.review.status == R.REVIEW_STATUS_REJECTED
    repeat = await fraud.stub.RejectReview(R.RejectReviewRequest(review_id=rejected_id, note="again"), metadata=ANALYST)
    assert repeat.review == rejected.review
    conflict = await fraud.fails(
        fraud.stub.ApproveReview(R.ApproveReviewRequest(review_id=rejected_id), metadata=ANALYST)
    )
    assert conflict.code == grpc.StatusCode.FAILED_PRECONDITION and conflict.reason == "REVIEW_CLOSED"
    assert await decided_events(fraud, approved_id) == 1 and await decided_events(fraud, rejected_id) == 1

    missing = await fraud.fails(
        fraud.stub.ApproveReview(R.ApproveReviewRequest(review_id=str(uuid.uuid4())), metadata=ANALYST)
    )
    assert missing.code == grpc.StatusCode.NOT_FOUND
    malformed = await fraud.fails(fraud.stub.GetReview(R.GetReviewRequest(review_id="nope"), metadata=ANALYST))
    assert [v.field for v in malformed.violations] == ["review_id"]
    too_long = await fraud.fails(
        fraud.stub.ApproveReview(R.ApproveReviewRequest(review_id=approved_id, note="x" * 2001), metadata=ANALYST)
    )
    assert [v.field for v in too_long.violations] == ["note"]


async def test_concurrent_approve_and_reject_decide_once(fraud: FraudService) -> None:
    review_id = (await open_review(fraud)).review_id
    approve = fraud.stub.ApproveReview(R.ApproveReviewRequest(review_id=review_id), metadata=ANALYST)
    reject = fraud.stub.RejectReview(R.RejectReviewRequest(review_id=review_id, note="no"), metadata=OTHER_ANALYST)
    outcomes = await asyncio.gather(approve, reject, return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(failures) == 1 and failures[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await decided_events(fraud, review_id) == 1


async def test_events_reach_nats(fraud: FraudService, js: JetStreamContext) -> None:
    sub = await js.pull_subscribe(
        "shop.fraud.>",
        stream=kit_events.stream_name("fraud"),
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
    )
    assessment = await open_review(fraud)
    await fraud.stub.ApproveReview(R.ApproveReviewRequest(review_id=assessment.review_id), metadata=ANALYST)

    received: dict[str, tuple[bytes, dict[str, str]]] = {}

    async def both_arrived() -> bool:
        try:
            batch = await sub.fetch(100, timeout=0.5)
        except TimeoutError:
            return False
        for msg in batch:
            await msg.ack()
            if msg.subject == "shop.fraud.assessed":
                if events_pb2.FraudAssessed.FromString(msg.data).assessment_id != assessment.assessment_id:
                    continue
            elif events_pb2.FraudReviewDecided.FromString(msg.data).review_id != assessment.review_id:
                continue
            received[msg.subject] = (msg.data, dict(msg.headers or {}))
        return len(received) == 2

    await eventually(both_arrived)
    data, headers = received["shop.fraud.assessed"]
    assessed = events_pb2.FraudAssessed.FromString(data)
    assert (assessed.checkout_id, assessed.score, assessed.decision, assessed.review_id) == (
        assessment.checkout_id,
        assessment.score,
        R.DECISION_REVIEW,
        assessment.review_id,
    )
    assert list(assessed.reasons) == [r.code for r in assessment.reasons]
    assert assessed.customer_id == "" and headers["Nats-Msg-Id"] == assessed.meta.event_id
    assert assessed.meta.aggregate_id == assessment.assessment_id
    data, headers = received["shop.fraud.review_decided"]
    decided = events_pb2.FraudReviewDecided.FromString(data)
    assert (decided.status, decided.decided_by, decided.checkout_id, decided.assessment_id) == (
        R.REVIEW_STATUS_APPROVED,
        "analyst-1",
        assessment.checkout_id,
        assessment.assessment_id,
    )
    assert decided.HasField("decided_at") and headers["Nats-Msg-Id"] == decided.meta.event_id


async def test_failed_checkout_cancels_its_open_review(fraud: FraudService, js: JetStreamContext) -> None:
    assessment = await open_review(fraud)
    await kit_events.ensure_stream(js, kit_events.stream_config("checkout"))
    failed = checkout_events.CheckoutFailed(
        checkout_id=assessment.checkout_id,
        failure=checkout_pb2.CheckoutFailure(code=checkout_pb2.FAILURE_CODE_HOLD_EXPIRED),
    )
    await js.publish("shop.checkout.failed", failed.SerializeToString(), headers={"Nats-Msg-Id": str(uuid.uuid4())})

    async def cancelled() -> bool:
        got = await fraud.stub.GetReview(R.GetReviewRequest(review_id=assessment.review_id), metadata=ANALYST)
        return got.review.status == R.REVIEW_STATUS_CANCELLED

    await eventually(cancelled)
    error = await fraud.fails(
        fraud.stub.ApproveReview(R.ApproveReviewRequest(review_id=assessment.review_id), metadata=ANALYST)
    )
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and error.metadata["status"] == "cancelled"
    assert await decided_events(fraud, assessment.review_id) == 0
