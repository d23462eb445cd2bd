"""The back office over gRPC (shop.storefront.v1.BackOfficeService): thin adapters over the application
layer's back-office use cases, which check the roles; the resources are the services' own messages."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from shop.catalog.v1 import catalog_pb2
from shop.fraud.v1 import fraud_pb2
from shop.inventory.v1 import inventory_pb2
from shop.order.v1 import order_pb2
from shop.storefront.v1 import backoffice_pb2 as pb
from shop.storefront.v1 import backoffice_pb2_grpc
from shop_gateway.app import admin
from shop_gateway.app.backoffice import catalog, fraud, inventory, orders, search
from shop_gateway.app.backoffice.catalog import ProductImport
from shop_gateway.app.backoffice.common import require_admin
from shop_gateway.gateway import Gateway
from shop_gateway.grpc_backoffice_pricing import PricingRpcs
from shop_gateway.grpcapi import Context, StorefrontServicer
from shop_gateway.principal import Principal


def _time(message: Any, name: str) -> Any:
    return getattr(message, name).ToDatetime(tzinfo=UTC) if message.HasField(name) else None


def _lines(lines: Any) -> list[orders.LineQuantity]:
    return [orders.LineQuantity(line.line_id, line.quantity) for line in lines]


def _levels(levels: Any) -> list[inventory_pb2.StockLevel]:
    return [inventory_pb2.StockLevel(**dataclasses.asdict(level)) for level in levels]


def _rebuild(done: search.SearchRebuild) -> catalog_pb2.SearchProjectionRebuild:
    message = catalog_pb2.SearchProjectionRebuild(
        requested=done.requested, completed=done.completed, running=done.running
    )
    if done.completed_at is not None:
        message.completed_at.FromDatetime(done.completed_at)
    return message


def _import(job: ProductImport) -> pb.ProductImport:
    message = pb.ProductImport(
        import_id=job.import_id,
        status=job.status,
        lines_total=job.lines_total,
        lines_done=job.lines_done,
        created=job.created,
        updated=job.updated,
        unchanged=job.unchanged,
        failed=job.failed,
        error=job.error,
        started_by=job.started_by,
    )
    message.started_at.FromDatetime(job.started_at)
    if job.finished_at is not None:
        message.finished_at.CopyFrom(Timestamp())
        message.finished_at.FromDatetime(job.finished_at)
    return message


class BackOfficeServicer(PricingRpcs, backoffice_pb2_grpc.BackOfficeServiceServicer):
    def __init__(self, gateway: Gateway):
        self.shop = gateway.shop
        self.edge = StorefrontServicer(gateway)  # authentication, rate limits and client facts as there

    async def _admit(self, context: Context) -> Principal:
        who, _ = await self.edge._admit(context)
        return who

    # --- orders ---

    async def SearchOrders(self, request: pb.SearchOrdersRequest, context: Context) -> pb.SearchOrdersResponse:
        who = await self._admit(context)
        query = orders.OrderQuery(
            statuses=list(request.statuses),
            customer_id=request.customer_id,
            account_id=request.account_id,
            number=request.number,
            created_after=_time(request, "created_after"),
            created_before=_time(request, "created_before"),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        found, token = await orders.search_orders(self.shop, who, query)
        return pb.SearchOrdersResponse(orders=found, next_page_token=token)

    async def GetStaffOrder(self, request: pb.GetStaffOrderRequest, context: Context) -> order_pb2.GetOrderResponse:
        who = await self._admit(context)
        return order_pb2.GetOrderResponse(order=await orders.get_order(self.shop, who, request.order_id))

    async def FulfilOrder(self, request: pb.FulfilOrderRequest, context: Context) -> order_pb2.FulfilOrderResponse:
        who = await self._admit(context)
        return await orders.fulfil_order(
            self.shop,
            who,
            request.order_id,
            key=request.idempotency_key,
            lines=_lines(request.lines),
            location_id=request.location_id,
            carrier=request.carrier,
            tracking_number=request.tracking_number,
        )

    async def RefundOrder(self, request: pb.RefundOrderRequest, context: Context) -> order_pb2.RefundOrderResponse:
        who = await self._admit(context)
        return await orders.refund_order(
            self.shop,
            who,
            request.order_id,
            key=request.idempotency_key,
            reason=request.reason,
            amount=request.amount if request.HasField("amount") else None,
            lines=_lines(request.lines),
        )

    # --- locations and stock ---

    async def CreateLocation(
        self, request: inventory_pb2.CreateLocationRequest, context: Context
    ) -> inventory_pb2.Location:
        return await inventory.create_location(self.shop, await self._admit(context), request.location)

    async def UpdateLocation(
        self, request: inventory_pb2.UpdateLocationRequest, context: Context
    ) -> inventory_pb2.Location:
        who = await self._admit(context)
        return await inventory.update_location(self.shop, who, request.location, list(request.update_mask.paths))

    async def GetLocation(self, request: inventory_pb2.GetLocationRequest, context: Context) -> inventory_pb2.Location:
        return await inventory.get_location(self.shop, await self._admit(context), request.location_id)

    async def ListLocations(
        self, request: inventory_pb2.ListLocationsRequest, context: Context
    ) -> inventory_pb2.ListLocationsResponse:
        return await inventory.list_locations(self.shop, await self._admit(context), request)

    async def Restock(self, request: inventory_pb2.RestockRequest, context: Context) -> inventory_pb2.RestockResponse:
        who = await self._admit(context)
        entries = [inventory.Delivery(e.sku, e.location_id, e.quantity) for e in request.entries]
        return await inventory.restock(self.shop, who, key=request.restock_id, entries=entries, reason=request.reason)

    async def AdjustStock(
        self, request: inventory_pb2.AdjustStockRequest, context: Context
    ) -> inventory_pb2.AdjustStockResponse:
        who = await self._admit(context)
        level = await inventory.adjust_stock(
            self.shop,
            who,
            key=request.adjustment_id,
            sku=request.sku,
            location_id=request.location_id,
            delta=request.delta,
            reason=request.reason,
        )
        return inventory_pb2.AdjustStockResponse(stock=level)

    async def SetStock(
        self, request: inventory_pb2.SetStockRequest, context: Context
    ) -> inventory_pb2.SetStockResponse:
        who = await self._admit(context)
        entries = [admin.StockInput(e.sku, e.location_id, e.on_hand) for e in request.entries]
        result = await admin.set_stock(self.shop, who, entries, reason=request.reason)
        return inventory_pb2.SetStockResponse(stock=_levels(result.stock))

    async def GetStockLevels(
        self, request: inventory_pb2.GetStockLevelsRequest, context: Context
    ) -> inventory_pb2.GetStockLevelsResponse:
        result = await admin.stock_levels(self.shop, await self._admit(context), list(request.skus))
        return inventory_pb2.GetStockLevelsResponse(stock=_levels(result.stock))

    # --- fraud reviews ---

    async def GetReview(self, request: fraud_pb2.GetReviewRequest, context: Context) -> fraud_pb2.GetReviewResponse:
        review = await fraud.get_review(self.shop, await self._admit(context), request.review_id)
        return fraud_pb2.GetReviewResponse(review=review)

    # --- bulk product import ---

    async def StartProductImport(
        self, request_iterator: AsyncIterator[catalog_pb2.ImportProductsRequest], context: Context
    ) -> pb.ProductImport:
        who = require_admin(await self._admit(context))  # before reading the stream

        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                for line in message.lines:
                    yield line.encode() + b"\n"

        settings = self.shop.settings
        key = dict(context.invocation_metadata() or ()).get("idempotency-key", "")
        lines = await catalog.read_upload(
            chunks(), max_bytes=settings.import_max_bytes, max_lines=settings.import_max_lines
        )
        return _import(await catalog.start_import(self.shop, who, lines, str(key)))

    async def ListProductImports(
        self, request: pb.ListProductImportsRequest, context: Context
    ) -> pb.ListProductImportsResponse:
        found, token = await catalog.list_imports(
            self.shop, await self._admit(context), page_size=request.page_size, page_token=request.page_token
        )
        return pb.ListProductImportsResponse(imports=[_import(job) for job in found], next_page_token=token)

    async def GetProductImport(self, request: pb.GetProductImportRequest, context: Context) -> pb.ProductImport:
        return _import(await catalog.get_import(self.shop, await self._admit(context), request.import_id))

    async def ListProductImportLines(
        self, request: pb.ListProductImportLinesRequest, context: Context
    ) -> pb.ListProductImportLinesResponse:
        reports, token = await catalog.import_lines(
            self.shop,
            await self._admit(context),
            request.import_id,
            failed_only=request.failed_only,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListProductImportLinesResponse(
            lines=[
                pb.ImportLineReport(
                    line=r.line,
                    status=r.status,
                    slug=r.slug,
                    message=r.message,
                    errors=[catalog_pb2.FieldViolation(field=e.field, description=e.description) for e in r.errors],
                )
                for r in reports
            ],
            next_page_token=token,
        )

    async def RebuildSearchProjection(
        self, request: catalog_pb2.RebuildSearchProjectionRequest, context: Context
    ) -> catalog_pb2.SearchProjectionRebuild:
        return _rebuild(await search.rebuild_search_projection(self.shop, await self._admit(context)))

    async def GetSearchProjectionRebuild(
        self, request: catalog_pb2.GetSearchProjectionRebuildRequest, context: Context
    ) -> catalog_pb2.SearchProjectionRebuild:
        return _rebuild(await search.search_projection_rebuild(self.shop, await self._admit(context)))
