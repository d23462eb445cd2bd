"""The gRPC servicer of shop.cart.v1.CartService: identity, validation at the edge and
protobuf <-> domain mapping. Bad input is refused before anything is read or changed."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from shop.cart.v1 import cart_pb2, cart_pb2_grpc
from shop.common.v1 import common_pb2
from shop_cart import domain
from shop_cart.domain import CartStatus, CustomerContext, Line, ProblemKind
from shop_cart.operations import Carts, View
from shop_cart.settings import CartSettings
from shopkit.auth import Caller, caller, require_role
from shopkit.errors import PermissionDenied, Violations
from shopkit.identifiers import check_country, check_request_id, check_sku
from shopkit.money import is_currency
from shopkit.personal_data import PersonalDataRpcs

Context = grpc.aio.ServicerContext[Any, Any]

MAX_TEXT = 128
MAX_COUPON_CODE = 64

_STATUS_TO_PB = {
    CartStatus.ACTIVE: cart_pb2.CART_STATUS_ACTIVE,
    CartStatus.CHECKED_OUT: cart_pb2.CART_STATUS_CHECKED_OUT,
    CartStatus.MERGED: cart_pb2.CART_STATUS_MERGED,
    CartStatus.ABANDONED: cart_pb2.CART_STATUS_ABANDONED,
}
_PROBLEM_TO_PB = {
    ProblemKind.OUT_OF_STOCK: cart_pb2.LINE_PROBLEM_KIND_OUT_OF_STOCK,
    ProblemKind.INSUFFICIENT_STOCK: cart_pb2.LINE_PROBLEM_KIND_INSUFFICIENT_STOCK,
    ProblemKind.PRICE_CHANGED: cart_pb2.LINE_PROBLEM_KIND_PRICE_CHANGED,
    ProblemKind.DISCONTINUED: cart_pb2.LINE_PROBLEM_KIND_DISCONTINUED,
    ProblemKind.NOT_SELLABLE: cart_pb2.LINE_PROBLEM_KIND_NOT_SELLABLE,
    ProblemKind.PRICE_UNAVAILABLE: cart_pb2.LINE_PROBLEM_KIND_PRICE_UNAVAILABLE,
}


# --- validation ------------------------------------------------------------------------------------


def _uuid(v: Violations, value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        v.add(field, "must be a UUID")
        return uuid.UUID(int=0)


def _version(v: Violations, value: int, field: str = "expected_version") -> int:
    v.check(value >= 0, field, "must not be negative (0 skips the check)")
    return value


def _context(
    v: Violations, pb: common_pb2.CustomerContext, field: str = "context", *, customer_required: bool
) -> CustomerContext:
    v.check(is_currency(pb.currency), f"{field}.currency", "is required: an ISO-4217 code like USD")
    v.check(pb.channel in domain.CHANNELS, f"{field}.channel", f"is required: one of {', '.join(domain.CHANNELS)}")
    check_country(v, pb.country, f"{field}.country")
    if customer_required:
        v.check(bool(pb.customer_id), f"{field}.customer_id", "is required")
    for name in ("customer_id", "customer_group", "account_id"):
        value = getattr(pb, name)
        v.check(
            len(value) <= MAX_TEXT and value == value.strip(),
            f"{field}.{name}",
            f"must be at most {MAX_TEXT} characters, without surrounding spaces",
        )
    return CustomerContext(
        customer_id=pb.customer_id,
        customer_group=pb.customer_group,
        account_id=pb.account_id,
        channel=pb.channel,
        country=pb.country,
        currency=pb.currency,
    )


def _check_account(context: CustomerContext, who: Caller) -> None:
    """Account prices are contract data: a context may only name the caller's own account."""
    if context.account_id and not who.is_admin and context.account_id != who.account_id:
        raise PermissionDenied(
            "the context names another account", reason="ACCOUNT_MISMATCH", metadata={"account_id": context.account_id}
        )


# --- mapping ------------------------------------------------------------------------------------------


def _ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _money(amount: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount=amount, currency=currency)


def line_to_pb(line: Line, currency: str) -> cart_pb2.CartLine:
    pb = cart_pb2.CartLine(
        line_id=str(line.line_id),
        sku=line.sku,
        product_id=line.product_id,
        name=line.name,
        quantity=line.quantity,
        added_at=_ts(line.added_at),
        weight_grams=line.weight_grams,
    )
    if line.price is not None:
        pb.unit_price.CopyFrom(_money(line.price.unit_price, currency))
        pb.original_price.CopyFrom(_money(line.price.original_price, currency))
        pb.discount.CopyFrom(_money(line.price.discount, currency))
        pb.line_total.CopyFrom(_money(line.price.line_total, currency))
    for problem in domain.line_problems(line, currency):
        item = pb.problems.add(
            kind=_PROBLEM_TO_PB[problem.kind],
            blocking=problem.blocking,
            message=problem.message,
            available_quantity=problem.available_quantity,
        )
        if problem.previous_unit_price is not None:
            item.previous_unit_price.CopyFrom(_money(problem.previous_unit_price, currency))
    return pb


def cart_to_pb(view: View, idle_ttl: timedelta) -> cart_pb2.Cart:
    cart, currency = view.cart, view.cart.currency
    context = cart.context
    pricing = cart.pricing
    pb = cart_pb2.Cart(
        cart_id=str(cart.cart_id),
        customer_id=context.customer_id,
        account_id=context.account_id,
        context=common_pb2.CustomerContext(
            customer_id=context.customer_id,
            customer_group=context.customer_group,
            account_id=context.account_id,
            channel=context.channel,
            country=context.country,
            currency=context.currency,
        ),
        status=_STATUS_TO_PB[cart.status],
        lines=[line_to_pb(line, currency) for line in cart.lines],
        pricing=cart_pb2.CartPricing(
            subtotal=_money(pricing.subtotal, currency),
            discount_total=_money(pricing.discount_total, currency),
            total=_money(pricing.total, currency),
            priced_at=_ts(pricing.priced_at),
            expires_at=_ts(pricing.expires_at),
            stale=view.stale,
        ),
        has_blocking_problems=cart.has_blocking_problems,
        version=cart.version,
        merged_into_cart_id=str(cart.merged_into) if cart.merged_into else "",
        checkout_id=cart.checkout_id,
        order_id=cart.order_id,
        created_at=_ts(cart.created_at),
        updated_at=_ts(cart.updated_at),
    )
    if cart.coupon is not None:
        coupon = cart.coupon
        pb.coupon.CopyFrom(
            cart_pb2.CouponState(
                code=coupon.code,
                applied=coupon.applied,
                reason=coupon.reason,
                description=coupon.description,
                discount=_money(coupon.discount, currency),
            )
        )
    if cart.status is CartStatus.ACTIVE:
        pb.expires_at.CopyFrom(_ts(cart.expires_at(idle_ttl)))
    return pb


# --- the servicer -------------------------------------------------------------------------------------


class CartServicer(PersonalDataRpcs, cart_pb2_grpc.CartServiceServicer):
    def __init__(self, carts: Carts, settings: CartSettings):
        self.carts = carts
        self.settings = settings
        self.idle_ttl = timedelta(seconds=settings.cart_idle_ttl_seconds)

    def _pb(self, view: View) -> cart_pb2.Cart:
        return cart_to_pb(view, self.idle_ttl)

    def _quantity(self, v: Violations, value: int, *, minimum: int) -> None:
        limit = self.settings.max_line_quantity
        v.check(minimum <= value <= limit, "quantity", f"must be between {minimum} and {limit}")

    async def CreateCart(self, request: cart_pb2.CreateCartRequest, context: Context) -> cart_pb2.CreateCartResponse:
        who = caller(context)
        v = Violations()
        customer_context = _context(v, request.context, customer_required=False)
        if not customer_context.customer_id or request.request_id:
            check_request_id(v, request.request_id, "request_id")
        v.raise_if_any()
        _check_account(customer_context, who)
        view = await self.carts.create(who, customer_context, request.request_id)
        return cart_pb2.CreateCartResponse(cart=self._pb(view))

    async def GetCart(self, request: cart_pb2.GetCartRequest, context: Context) -> cart_pb2.GetCartResponse:
        v = Violations()
        cart_id = _uuid(v, request.cart_id, "cart_id")
        v.raise_if_any()
        return cart_pb2.GetCartResponse(cart=self._pb(await self.carts.get(caller(context), cart_id)))

    async def GetActiveCart(
        self, request: cart_pb2.GetActiveCartRequest, context: Context
    ) -> cart_pb2.GetActiveCartResponse:
        v = Violations()
        v.check(0 < len(request.customer_id) <= MAX_TEXT, "customer_id", f"is required (at most {MAX_TEXT} characters)")
        v.raise_if_any()
        view = await self.carts.active_of(caller(context), request.customer_id)
        return cart_pb2.GetActiveCartResponse(cart=self._pb(view))

    async def AddCartLine(self, request: cart_pb2.AddCartLineRequest, context: Context) -> cart_pb2.AddCartLineResponse:
        v = Violations()
        cart_id = _uuid(v, request.cart_id, "cart_id")
        check_sku(v, request.sku, "sku")
        self._quantity(v, request.quantity, minimum=1)
        check_request_id(v, request.request_id, "request_id")
        expected = _version(v, request.expected_version)
        v.raise_if_any()
        view, line_id = await self.carts.add_line(
            caller(context), cart_id, request.sku, request.quantity, request.request_id, expected
        )
        return cart_pb2.AddCartLineResponse(cart=self._pb(view), line_id=str(line_id))

    async def UpdateCartLine(
        self, request: cart_pb2.UpdateCartLineRequest, context: Context
    ) -> cart_pb2.UpdateCartLineResponse:
        v = Violations()
        cart_id = _uuid(v, request.cart_id, "cart_id")
        line_id = _uuid(v, request.line_id, "line_id")
        self._quantity(v, request.quantity, minimum=0)
        expected = _version(v, request.expected_version)
        v.raise_if_any()
        view = await self.carts.update_line(caller(context), cart_id, line_id, request.quantity, expected)
        return cart_pb2.UpdateCartLineResponse(cart=self._pb(view))

    async def RemoveCartLine(
        self, request: cart_pb2.RemoveCartLineRequest, context: Context
    ) -> cart_pb2.RemoveCartLineResponse:
        v = Violations()
        cart_id = _uuid(v, request.cart_id, "cart_id")
        line_id = _uuid(v, request.line_id, "line_id")
        expected = _version(v, request.expected_version)
        v.raise_if_any()
        view = await self.carts.remove_line(caller(context), cart_id, line_id, expected)
        return cart_pb2.RemoveCartLineResponse(cart=self._pb(view))

    async def ApplyCoupon(self, request: cart_pb2.ApplyCouponRequest, context: Context) -> cart_pb2.ApplyCouponResponse:
        v = Violations()
        cart_id = _uuid(v, request.cart_id, "cart_id")
        code = domain.normalise_code(request.coupon_code)
        v.check(0 < len(code) <= MAX_COUPON_CODE, "coupon_code", f"is required (at most {MAX_COUPON_CODE} characters)")
        expected = _version(v, request.expected_version)
        v.raise_if_any()
        view = await self.carts.apply_coupon(caller(context), cart_id, code, expected)
        return cart_pb2.ApplyCouponResponse(cart=self._pb(view))

    async def RemoveCoupon(
        self, request: cart_pb2.RemoveCouponRequest, context: Context
    ) -> cart_pb2.RemoveCouponResponse:
        v = Violations()
        cart_id = _uuid(v, request.cart_id, "cart_id")
        expected = _version(v, request.expected_version)
        v.raise_if_any()
        view = await self.carts.remove_coupon(caller(context), cart_id, expected)
        return cart_pb2.RemoveCouponResponse(cart=self._pb(view))

    async def MergeCarts(self, request: cart_pb2.MergeCartsRequest, context: Context) -> cart_pb2.MergeCartsResponse:
        who = caller(context)
        v = Violations()
        guest_cart_id = _uuid(v, request.guest_cart_id, "guest_cart_id")
        customer_context = _context(v, request.context, customer_required=True)
        v.raise_if_any()
        _check_account(customer_context, who)
        view = await self.carts.merge(who, guest_cart_id, customer_context)
        return cart_pb2.MergeCartsResponse(cart=self._pb(view))

    async def RefreshCart(self, request: cart_pb2.RefreshCartRequest, context: Context) -> cart_pb2.RefreshCartResponse:
        v = Violations()
        cart_id = _uuid(v, request.cart_id, "cart_id")
        v.raise_if_any()
        return cart_pb2.RefreshCartResponse(cart=self._pb(await self.carts.refresh(caller(context), cart_id)))

    async def CheckOutCart(
        self, request: cart_pb2.CheckOutCartRequest, context: Context
    ) -> cart_pb2.CheckOutCartResponse:
        require_role(context, ("service",))
        v = Violations()
        cart_id = _uuid(v, request.cart_id, "cart_id")
        check_request_id(v, request.checkout_id, "checkout_id")
        check_request_id(v, request.order_id, "order_id")
        v.raise_if_any()
        view = await self.carts.check_out(cart_id, request.checkout_id, request.order_id)
        return cart_pb2.CheckOutCartResponse(cart=self._pb(view))
