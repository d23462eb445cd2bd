"""One review of the fraud queue with everything its score was made of: the reasons that fired (with their
weights), the rule and model scores, and the purchase's signals (IP and its country, device, card and
address countries, lines). Listing and deciding reviews are `app.orders.list_reviews` / `decide_review`."""

from __future__ import annotations

from shop.fraud.v1 import fraud_pb2
from shop_gateway.app.backoffice.common import require_analyst
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.principal import Principal
from shopkit.errors import NotFound


async def get_review(shop: Shop, who: Principal, review_id: str) -> fraud_pb2.Review:
    require_analyst(who)
    if not review_id:
        raise NotFound("review", review_id)
    with upstream("fraud", {"review_id": "id"}):
        response = await shop.backends.fraud.GetReview(
            fraud_pb2.GetReviewRequest(review_id=review_id), metadata=who.metadata()
        )
    review: fraud_pb2.Review = response.review
    return review
