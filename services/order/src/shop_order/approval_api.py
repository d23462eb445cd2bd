"""The approvers' inbox of the order servicer: ListPendingApprovals."""

from __future__ import annotations

from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2
from shop_order import codec
from shop_order.api import MAX_ID, Context, actor_of, check_text, check_view, page_token, read_cursor
from shop_order.domain.model import NOT_APPROVER
from shop_order.operations import Orders
from shopkit import pagination
from shopkit.errors import PermissionDenied, Violations


class ApprovalRpcs:
    """Mixed into the OrderServicer."""

    orders: Orders

    async def ListPendingApprovals(
        self, request: order_pb2.ListPendingApprovalsRequest, context: Context
    ) -> order_pb2.ListPendingApprovalsResponse:
        actor = actor_of(context)
        approver_id = request.approver_id or actor.id
        account_id = request.account_id or actor.account_id
        if actor.role != "admin" and (
            actor.role != "b2b_approver" or approver_id != actor.id or account_id != actor.account_id
        ):
            raise PermissionDenied(
                "an approver may only list the approvals waiting for them in their own account", reason=NOT_APPROVER
            )
        v = Violations()
        check_text(v, approver_id, "approver_id", limit=MAX_ID, required=True)
        check_text(v, account_id, "account_id", limit=MAX_ID, required=True)
        full = check_view(v, request.view)
        v.raise_if_any()
        limit = pagination.page_size(request.page.page_size)
        found = await self.orders.pending_approvals(
            approver_id, account_id, read_cursor(request.page.page_token), limit + 1, full
        )
        page = found[:limit]
        return order_pb2.ListPendingApprovalsResponse(
            orders=[codec.order(order, full=full) for order in page],
            page=common_pb2.PageResponse(next_page_token=page_token(found, limit)),
        )
