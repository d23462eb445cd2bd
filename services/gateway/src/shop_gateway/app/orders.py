"""Orders of the caller, B2B approvals, and the fraud review queue."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.descriptor import EnumDescriptor

from shop.common.v1 import common_pb2
from shop.fraud.v1 import fraud_pb2
from shop.order.v1 import order_pb2
from shop_gateway.app import mapping, models
from shop_gateway.app.access import require_role
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import check_note, check_page
from shop_gateway.principal import B2B_ROLES, SHOPPER_ROLES, Principal
from shopkit.errors import NotFound, Violations

APPROVER_ROLES = ("b2b_approver",)
ANALYST_ROLES = ("fraud_analyst", "admin")
PAGE_FIELDS = {"page.page_token": "page_token", "page.page_size": "page_size", "order_id": "id", "review_id": "id"}


def _statuses(violations: Violations, names: Sequence[str], enum: EnumDescriptor, prefix: str, field: str) -> list[int]:
    values: list[int] = []
    for name in names:
        value = mapping.enum_value(enum, name, prefix)
        if value is None:
            violations.add(field, f"{name!r} is not a known status")
        else:
            values.append(value)
    return values


def _visible(who: Principal, order: order_pb2.Order) -> bool:
    """Shoppers see their own orders; B2B roles also their account's; admins everything."""
    if who.role == "admin" or order.customer_id == who.subject:
        return True
    return who.role in B2B_ROLES and bool(who.account_id) and order.account_id == who.account_id


async def _order(shop: Shop, who: Principal, order_id: str) -> order_pb2.Order:
    if not order_id:
        raise NotFound("order", order_id)
    with upstream("order", PAGE_FIELDS):
        response = await shop.backends.order.GetOrder(
            order_pb2.GetOrderRequest(order_id=order_id, view=order_pb2.ORDER_VIEW_BASIC), metadata=who.metadata()
        )
    if not _visible(who, response.order):
        raise NotFound("order", order_id)  # someone else's: do not reveal that it exists
    return response.order


async def list_orders(
    shop: Shop,
    who: Principal,
    *,
    statuses: Sequence[str] = (),
    scope: str = "mine",
    page_size: int = 0,
    page_token: str = "",
) -> models.OrderPage:
    require_role(who, SHOPPER_ROLES)
    violations = Violations()
    size = check_page(violations, page_size)
    values = _statuses(violations, statuses, order_pb2.OrderStatus.DESCRIPTOR, "ORDER_STATUS_", "status")
    violations.check(scope in ("mine", "account"), "scope", 'must be "mine" or "account"')
    violations.check(scope != "account" or who.role in B2B_ROLES, "scope", '"account" is for B2B roles')
    violations.raise_if_any()
    request = order_pb2.ListOrdersRequest(
        statuses=values,  # type: ignore[arg-type]
        page=common_pb2.PageRequest(page_size=size, page_token=page_token),
        view=order_pb2.ORDER_VIEW_BASIC,
    )
    if scope == "account":
        request.account_id = who.account_id
    else:
        request.customer_id = who.subject
    with upstream("order", PAGE_FIELDS):
        response = await shop.backends.order.ListOrders(request, metadata=who.metadata())
    orders = [mapping.order(o) for o in response.orders if _visible(who, o)]
    return models.OrderPage(orders=orders, next_page_token=response.page.next_page_token)


async def get_order(shop: Shop, who: Principal, order_id: str) -> models.Order:
    require_role(who, (*SHOPPER_ROLES, "admin"))
    return mapping.order(await _order(shop, who, order_id))


async def cancel_order(shop: Shop, who: Principal, order_id: str, *, note: str = "") -> models.Order:
    require_role(who, (*SHOPPER_ROLES, "admin"))
    violations = Violations()
    check_note(violations, note)
    violations.raise_if_any()
    await _order(shop, who, order_id)  # the gateway's own visibility check before any change
    reason = (
        order_pb2.CANCELLATION_REASON_MERCHANT
        if who.role == "admin"
        else order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST
    )
    with upstream("order", PAGE_FIELDS):
        response = await shop.backends.order.CancelOrder(
            order_pb2.CancelOrderRequest(order_id=order_id, reason=reason, note=note), metadata=who.metadata()
        )
    return mapping.order(response.order)


# --- B2B approvals -----------------------------------------------------------------------------


async def list_approvals(shop: Shop, who: Principal, *, page_size: int = 0, page_token: str = "") -> models.OrderPage:
    """The approver's inbox: orders of their account whose current approval step waits for them."""
    require_role(who, APPROVER_ROLES)
    violations = Violations()
    size = check_page(violations, page_size)
    violations.raise_if_any()
    request = order_pb2.ListPendingApprovalsRequest(
        approver_id=who.subject,
        account_id=who.account_id,
        page=common_pb2.PageRequest(page_size=size, page_token=page_token),
        view=order_pb2.ORDER_VIEW_BASIC,
    )
    with upstream("order", PAGE_FIELDS):
        response = await shop.backends.order.ListPendingApprovals(request, metadata=who.metadata())
    return models.OrderPage(
        orders=[mapping.order(o) for o in response.orders if o.account_id == who.account_id],
        next_page_token=response.page.next_page_token,
    )


async def decide_approval(shop: Shop, who: Principal, order_id: str, *, approve: bool, note: str = "") -> models.Order:
    """An approver of the order's account approves or rejects it (a rejection needs a note)."""
    require_role(who, APPROVER_ROLES)
    violations = Violations()
    check_note(violations, note, required=not approve)
    violations.raise_if_any()
    order = await _order(shop, who, order_id)
    if order.account_id != who.account_id:
        raise NotFound("order", order_id)
    with upstream("order", PAGE_FIELDS):
        if approve:
            approved = await shop.backends.order.ApproveOrder(
                order_pb2.ApproveOrderRequest(order_id=order_id, note=note), metadata=who.metadata()
            )
            return mapping.order(approved.order)
        rejected = await shop.backends.order.RejectOrder(
            order_pb2.RejectOrderRequest(order_id=order_id, note=note), metadata=who.metadata()
        )
        return mapping.order(rejected.order)


# --- the fraud review queue -------------------------------------------------------------------


async def list_reviews(
    shop: Shop, who: Principal, *, statuses: Sequence[str] = (), page_size: int = 0, page_token: str = ""
) -> models.ReviewPage:
    require_role(who, ANALYST_ROLES)
    violations = Violations()
    size = check_page(violations, page_size)
    values = _statuses(violations, statuses, fraud_pb2.ReviewStatus.DESCRIPTOR, "REVIEW_STATUS_", "status")
    violations.raise_if_any()
    request = fraud_pb2.ListReviewsRequest(
        statuses=values,  # type: ignore[arg-type]
        page=common_pb2.PageRequest(page_size=size, page_token=page_token),
    )
    with upstream("fraud", PAGE_FIELDS):
        response = await shop.backends.fraud.ListReviews(request, metadata=who.metadata())
    return models.ReviewPage(
        reviews=[mapping.review(r) for r in response.reviews], next_page_token=response.page.next_page_token
    )


async def decide_review(shop: Shop, who: Principal, review_id: str, *, approve: bool, note: str = "") -> models.Review:
    require_role(who, ANALYST_ROLES)
    violations = Violations()
    check_note(violations, note, required=not approve)
    violations.raise_if_any()
    if not review_id:
        raise NotFound("review", review_id)
    with upstream("fraud", PAGE_FIELDS):
        if approve:
            approved = await shop.backends.fraud.ApproveReview(
                fraud_pb2.ApproveReviewRequest(review_id=review_id, note=note), metadata=who.metadata()
            )
            return mapping.review(approved.review)
        rejected = await shop.backends.fraud.RejectReview(
            fraud_pb2.RejectReviewRequest(review_id=review_id, note=note), metadata=who.metadata()
        )
        return mapping.review(rejected.review)
