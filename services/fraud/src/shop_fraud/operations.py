"""The service's use cases over the store: assess a purchase, read and decide reviews.

Every write is one unit of work that also stages its events in the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from shop_fraud import events, store
from shop_fraud.domain import scoring
from shop_fraud.domain.model import LogisticModel
from shop_fraud.domain.policy import Policy
from shop_fraud.domain.purchase import Hasher, KeyKind, Purchase
from shop_fraud.domain.reviews import Assessment, Review, ReviewStatus, Transition, transition
from shop_fraud.domain.scoring import Decision
from shop_fraud.domain.signals import History, Signals
from shopkit.db import Database
from shopkit.errors import AlreadyExists, FailedPrecondition, NotFound
from shopkit.outbox import OutboxRelay

Clock = Callable[[], datetime]

# A rejected review deny-lists the purchase's device and card, not its email, customer or IP: an
# account takeover uses the victim's email and account, and IPs are shared (NAT, mobile carriers).
DENY_KINDS = (KeyKind.DEVICE, KeyKind.CARD)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Fraud:
    def __init__(
        self,
        db: Database,
        policy: Policy,
        model: LogisticModel,
        hasher: Hasher,
        *,
        clock: Clock = utc_now,
        history_orders: int = 50,
        deny_on_reject: bool = True,
        relay: OutboxRelay | None = None,
    ):
        self.db = db
        self.policy = policy
        self.model = model
        self.hasher = hasher
        self.clock = clock
        self.history_orders = history_orders
        self.deny_on_reject = deny_on_reject
        self.relay = relay
        self.model_version = scoring.model_version(model)

    def _published(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    # --- assessments -------------------------------------------------------------------------------

    async def assess(self, checkout_id: str, purchase: Purchase) -> Assessment:
        """Score a purchase once per checkout id; a repeat returns the first assessment and counts nothing."""
        now = self.clock()
        keys = self.hasher.keys(purchase)
        buyer = self.hasher.buyer(purchase)
        card = self.hasher.key(KeyKind.CARD, purchase.card_fingerprint) if purchase.card_fingerprint else None
        # One unit of work of prepared statements. A repeat is found by the insert (ON CONFLICT on
        # the checkout id), so the first call of a checkout (the usual case) reads nothing twice.
        async with self.db.driver_transaction() as conn:
            history = History()
            if purchase.customer_id:
                customer = self.hasher.key(KeyKind.CUSTOMER, purchase.customer_id)
                history = await store.history(
                    conn, customer, purchase.amount.currency, now=now, latest=self.history_orders
                )
            signals = Signals(
                purchase=purchase,
                now=now,
                velocity=await store.velocity(conn, keys, now=now, exclude_ref=checkout_id, buyer=buyer, card=card),
                history=history,
                deny_listed=await store.denied_kinds(conn, keys),
            )
            outcome = scoring.assess(signals, self.policy, self.model)
            review_id = uuid.uuid4() if outcome.decision is Decision.REVIEW else None
            assessment = Assessment(uuid.uuid4(), checkout_id, purchase, outcome, self.model_version, now, review_id)
            inserted = await store.insert_assessment(conn, assessment)
            if inserted:
                await store.add_observations(
                    conn,
                    [
                        {
                            "kind": kind,
                            "key": key,
                            "source": "attempt",
                            "ref": checkout_id,
                            "at": now,
                            "amount": purchase.amount.amount,
                            "currency": purchase.amount.currency,
                            "buyer": buyer if kind is KeyKind.DEVICE else None,
                            "card": card if kind is KeyKind.DEVICE else None,
                        }
                        for kind, key in keys
                    ],
                )
                if review_id is not None:
                    review = Review(review_id, ReviewStatus.OPEN, assessment.assessment_id, checkout_id, created_at=now)
                    await store.insert_review(conn, review)
                await store.outbox_writer.add(conn, [events.assessed(assessment)])
        if not inserted:
            # Assessed before (or a concurrent call with the same checkout id committed first): the
            # first assessment stands.
            winner = await self.get_assessment(checkout_id=checkout_id)
            return _repeat(winner, purchase)
        self._published()
        return assessment

    async def get_assessment(
        self, *, assessment_id: uuid.UUID | None = None, checkout_id: str | None = None
    ) -> Assessment:
        async with self.db.connect() as conn:
            found = await store.find_assessment(conn, assessment_id=assessment_id, checkout_id=checkout_id)
        if found is None:
            raise NotFound("assessment", str(assessment_id) if assessment_id else str(checkout_id))
        return found

    # --- reviews -----------------------------------------------------------------------------------

    async def get_review(self, review_id: uuid.UUID) -> tuple[Review, Assessment]:
        async with self.db.connect() as conn:
            review = await store.get_review(conn, review_id)
            if review is None:
                raise NotFound("review", str(review_id))
            assessment = await store.find_assessment(conn, assessment_id=review.assessment_id)
        assert assessment is not None  # the foreign key guarantees it
        return review, assessment

    async def list_reviews(
        self, statuses: Sequence[ReviewStatus], after: store.QueueCursor | None, limit: int
    ) -> list[tuple[Review, Assessment]]:
        async with self.db.connect() as conn:
            found = await store.list_reviews(conn, statuses, after=after, limit=limit)
            by_id = await store.assessments_by_id(conn, [review.assessment_id for review in found])
        return [(review, by_id[review.assessment_id]) for review in found]

    async def decide(
        self, review_id: uuid.UUID, status: ReviewStatus, *, decided_by: str, note: str
    ) -> tuple[Review, Assessment]:
        """Approve or reject an OPEN review; the same decision again returns it unchanged, another one
        is FAILED_PRECONDITION (REVIEW_CLOSED)."""
        now = self.clock()
        async with self.db.transaction() as conn:
            decided = await store.close_review(conn, review_id, status, decided_by=decided_by, note=note, now=now)
            if decided is None:
                current = await store.get_review(conn, review_id)
                if current is None:
                    raise NotFound("review", str(review_id))
                if transition(current.status, status) is not Transition.UNCHANGED:
                    raise FailedPrecondition(
                        f"the review is {current.status.value} already",
                        reason="REVIEW_CLOSED",
                        metadata={"status": current.status.value},
                    )
                decided = current
                fresh = False
            else:
                fresh = True
            assessment = await store.find_assessment(conn, assessment_id=decided.assessment_id)
            assert assessment is not None
            if fresh:
                if status is ReviewStatus.REJECTED and self.deny_on_reject:
                    keys = [(kind, key) for kind, key in self.hasher.keys(assessment.purchase) if kind in DENY_KINDS]
                    await store.deny(conn, keys, review_id)
                await events.review_decided(conn, decided)
        if fresh:
            self._published()
        return decided, assessment


def _repeat(existing: Assessment, purchase: Purchase) -> Assessment:
    if existing.purchase.amount != purchase.amount:
        raise AlreadyExists(
            f"checkout {existing.checkout_id} was assessed for another amount",
            reason="CHECKOUT_ID_REUSED",
            metadata={"checkout_id": existing.checkout_id},
        )
    return existing
