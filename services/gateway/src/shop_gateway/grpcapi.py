"""The public gRPC API (shop.storefront.v1.StorefrontService): thin adapters over the application layer.

Results are converted by field name (the storefront messages mirror `app.models`); errors are
DomainErrors that the kit's server interceptor answers with status codes and google.rpc details.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from shop.storefront.v1 import storefront_pb2 as pb
from shop.storefront.v1 import storefront_pb2_grpc
from shop_gateway.app import cart, catalog, checkout, guest, mapping, models, orders, shipping
from shop_gateway.gateway import Gateway
from shop_gateway.principal import CART_TOKEN_HEADER, ClientInfo, Principal
from shop_gateway.scopes import admit_rpc

Context = grpc.aio.ServicerContext[Any, Any]
M = TypeVar("M", bound=Message)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def to_proto(message_type: type[M], **fields: Any) -> M:
    """A storefront message from plain results (dataclasses), matched by field name."""
    return json_format.ParseDict({name: _plain(value) for name, value in fields.items()}, message_type())


def _address(message: Any, name: str) -> models.Address | None:
    return mapping.address(getattr(message, name)) if message.HasField(name) else None


def peer_ip(peer: str) -> str:
    """ipv4:10.0.0.1:5000 -> 10.0.0.1, ipv6:[::1]:5000 -> ::1, anything else -> ''."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return ""


class StorefrontServicer(storefront_pb2_grpc.StorefrontServiceServicer):
    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.shop = gateway.shop

    async def _admit(self, context: Context) -> tuple[Principal, ClientInfo]:
        metadata = {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}
        header = self.gateway.settings.ip_country_header.lower()
        client = self.gateway.client_info(
            peer_ip(context.peer() or ""),
            metadata.get("x-forwarded-for"),
            metadata.get(header) if header else None,
            metadata.get("x-device-id"),
        )
        who = await self.gateway.admit(metadata.get("authorization"), client, metadata.get(CART_TOKEN_HEADER.lower()))
        return admit_rpc(who), client

    # --- browsing ---

    async def ListProducts(self, request: pb.ListProductsRequest, context: Context) -> pb.ListProductsResponse:
        who, _ = await self._admit(context)
        page = await catalog.list_products(
            self.shop,
            who,
            query=request.query,
            category=request.category,
            page_size=request.page_size,
            page_token=request.page_token,
            browse=catalog.Browse(
                sort=request.sort,
                min_price=request.min_price if request.HasField("min_price") else None,
                max_price=request.max_price if request.HasField("max_price") else None,
                in_stock=request.in_stock,
                facets=tuple(request.facets),
            ),
        )
        return to_proto(
            pb.ListProductsResponse, products=page.products, next_page_token=page.next_page_token, facets=page.facets
        )

    async def GetProduct(self, request: pb.GetProductRequest, context: Context) -> pb.GetProductResponse:
        who, _ = await self._admit(context)
        return to_proto(pb.GetProductResponse, product=await catalog.get_product(self.shop, who, request.id))

    async def ListCategories(self, request: pb.ListCategoriesRequest, context: Context) -> pb.ListCategoriesResponse:
        who, _ = await self._admit(context)
        result = await catalog.list_categories(self.shop, who)
        return to_proto(pb.ListCategoriesResponse, categories=result.categories)

    async def ListStores(self, request: pb.ListStoresRequest, context: Context) -> pb.ListStoresResponse:
        who, _ = await self._admit(context)
        result = await catalog.list_stores(self.shop, who, country=request.country)
        return to_proto(pb.ListStoresResponse, stores=result.stores)

    # --- cart ---

    async def GetCart(self, request: pb.GetCartRequest, context: Context) -> pb.GetCartResponse:
        who, _ = await self._admit(context)
        return to_proto(pb.GetCartResponse, cart=await cart.get_cart(self.shop, who))

    async def AddCartItem(self, request: pb.AddCartItemRequest, context: Context) -> pb.AddCartItemResponse:
        who, _ = await self._admit(context)
        result = await cart.add_item(
            self.shop,
            who,
            sku=request.sku,
            quantity=request.quantity,
            request_id=request.request_id,
            expected_version=request.expected_version,
        )
        return to_proto(pb.AddCartItemResponse, cart=result)

    async def UpdateCartItem(self, request: pb.UpdateCartItemRequest, context: Context) -> pb.UpdateCartItemResponse:
        who, _ = await self._admit(context)
        result = await cart.update_item(
            self.shop, who, sku=request.sku, quantity=request.quantity, expected_version=request.expected_version
        )
        return to_proto(pb.UpdateCartItemResponse, cart=result)

    async def RemoveCartItem(self, request: pb.RemoveCartItemRequest, context: Context) -> pb.RemoveCartItemResponse:
        who, _ = await self._admit(context)
        result = await cart.remove_item(self.shop, who, sku=request.sku, expected_version=request.expected_version)
        return to_proto(pb.RemoveCartItemResponse, cart=result)

    async def ApplyCoupon(self, request: pb.ApplyCouponRequest, context: Context) -> pb.ApplyCouponResponse:
        who, _ = await self._admit(context)
        result = await cart.apply_coupon(self.shop, who, code=request.code, expected_version=request.expected_version)
        return to_proto(pb.ApplyCouponResponse, cart=result)

    async def RemoveCoupon(self, request: pb.RemoveCouponRequest, context: Context) -> pb.RemoveCouponResponse:
        who, _ = await self._admit(context)
        result = await cart.remove_coupon(self.shop, who, expected_version=request.expected_version)
        return to_proto(pb.RemoveCouponResponse, cart=result)

    async def CreateGuestCart(self, request: pb.CreateGuestCartRequest, context: Context) -> pb.CreateGuestCartResponse:
        who, _ = await self._admit(context)
        result = await guest.create_cart(
            self.shop, who, request_id=request.request_id, currency=request.currency, country=request.country
        )
        return to_proto(pb.CreateGuestCartResponse, cart=result)

    async def MergeGuestCart(self, request: pb.MergeGuestCartRequest, context: Context) -> pb.MergeGuestCartResponse:
        who, _ = await self._admit(context)
        result = await guest.merge_cart(self.shop, who, cart_token=request.cart_token)
        return to_proto(pb.MergeGuestCartResponse, cart=result)

    async def GetShippingOptions(
        self, request: pb.GetShippingOptionsRequest, context: Context
    ) -> pb.GetShippingOptionsResponse:
        who, _ = await self._admit(context)
        result = await shipping.estimate(
            self.shop,
            who,
            country=request.country,
            region=request.region,
            postal_code=request.postal_code,
            pickup=request.pickup,
            shipping_method=request.shipping_method,
        )
        return to_proto(pb.GetShippingOptionsResponse, **dataclasses.asdict(result))

    # --- checkout and orders ---

    async def PlaceOrder(self, request: pb.PlaceOrderRequest, context: Context) -> pb.PlaceOrderResponse:
        who, client = await self._admit(context)
        if request.device_id:
            client = dataclasses.replace(client, device_id=request.device_id[:128])
        fulfillment = request.fulfillment if request.HasField("fulfillment") else pb.Fulfillment(method="ship")
        order = checkout.CheckoutInput(
            idempotency_key=request.idempotency_key,
            payment_method=request.payment_method,
            purchase_order_number=request.purchase_order_number,
            shipping_address=_address(request, "shipping_address"),
            billing_address=_address(request, "billing_address"),
            fulfillment_method=fulfillment.method or "ship",
            store_id=fulfillment.store_id,
            email=request.email,
            cart_version=request.cart_version,
            shipping_method=request.shipping_method,
            shipping_address_id=request.shipping_address_id,
            billing_address_id=request.billing_address_id,
            quote_id=request.quote_id,
        )
        result = await checkout.place_order(self.shop, who, client, order)
        return to_proto(pb.PlaceOrderResponse, **dataclasses.asdict(result))

    async def GetCheckout(self, request: pb.GetCheckoutRequest, context: Context) -> pb.GetCheckoutResponse:
        who, _ = await self._admit(context)
        return to_proto(
            pb.GetCheckoutResponse, checkout=await checkout.get_checkout(self.shop, who, request.checkout_id)
        )

    async def ListOrders(self, request: pb.ListOrdersRequest, context: Context) -> pb.ListOrdersResponse:
        who, _ = await self._admit(context)
        page = await orders.list_orders(
            self.shop,
            who,
            statuses=list(request.statuses),
            scope=request.scope or "mine",
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return to_proto(pb.ListOrdersResponse, orders=page.orders, next_page_token=page.next_page_token)

    async def GetOrder(self, request: pb.GetOrderRequest, context: Context) -> pb.GetOrderResponse:
        who, _ = await self._admit(context)
        return to_proto(pb.GetOrderResponse, order=await orders.get_order(self.shop, who, request.order_id))

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: Context) -> pb.CancelOrderResponse:
        who, _ = await self._admit(context)
        result = await orders.cancel_order(self.shop, who, request.order_id, note=request.note)
        return to_proto(pb.CancelOrderResponse, order=result)

    # --- approvals and reviews ---

    async def ListApprovals(self, request: pb.ListApprovalsRequest, context: Context) -> pb.ListApprovalsResponse:
        who, _ = await self._admit(context)
        page = await orders.list_approvals(self.shop, who, page_size=request.page_size, page_token=request.page_token)
        return to_proto(pb.ListApprovalsResponse, orders=page.orders, next_page_token=page.next_page_token)

    async def ApproveOrder(self, request: pb.ApproveOrderRequest, context: Context) -> pb.ApproveOrderResponse:
        who, _ = await self._admit(context)
        result = await orders.decide_approval(self.shop, who, request.order_id, approve=True, note=request.note)
        return to_proto(pb.ApproveOrderResponse, order=result)

    async def RejectOrder(self, request: pb.RejectOrderRequest, context: Context) -> pb.RejectOrderResponse:
        who, _ = await self._admit(context)
        result = await orders.decide_approval(self.shop, who, request.order_id, approve=False, note=request.note)
        return to_proto(pb.RejectOrderResponse, order=result)

    async def ListReviews(self, request: pb.ListReviewsRequest, context: Context) -> pb.ListReviewsResponse:
        who, _ = await self._admit(context)
        page = await orders.list_reviews(
            self.shop, who, statuses=list(request.statuses), page_size=request.page_size, page_token=request.page_token
        )
        return to_proto(pb.ListReviewsResponse, reviews=page.reviews, next_page_token=page.next_page_token)

    async def ApproveReview(self, request: pb.ApproveReviewRequest, context: Context) -> pb.ApproveReviewResponse:
        who, _ = await self._admit(context)
        result = await orders.decide_review(self.shop, who, request.review_id, approve=True, note=request.note)
        return to_proto(pb.ApproveReviewResponse, review=result)

    async def RejectReview(self, request: pb.RejectReviewRequest, context: Context) -> pb.RejectReviewResponse:
        who, _ = await self._admit(context)
        result = await orders.decide_review(self.shop, who, request.review_id, approve=False, note=request.note)
        return to_proto(pb.RejectReviewResponse, review=result)
