"""One review of the fraud queue with its reasons and signals (fraud_analyst or admin); the queue and the
decisions are GET /v1/reviews and POST /v1/reviews/{id}/approve|reject."""

from __future__ import annotations

from shop_gateway.app.backoffice import fraud
from shop_gateway.httpapi.backoffice.common import router
from shop_gateway.httpapi.backoffice.views import ReviewDetail
from shop_gateway.httpapi.deps import ShopDep, SignedIn

reviews = router("/v1/reviews", "approvals and reviews")


@reviews.get("/{review_id}", summary="One review with its reasons and the purchase's signals (fraud_analyst)")
async def get_review(review_id: str, shop: ShopDep, who: SignedIn) -> ReviewDetail:
    return ReviewDetail.of(await fraud.get_review(shop, who, review_id))
