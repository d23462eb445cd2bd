"""RebuildSearchProjection and GetSearchProjectionRebuild (mixed into CatalogServicer): ask for a
backfill of the search projection from pricing and inventory, which the backfill worker runs in the
background (backfill.py), and read where the runs stand."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from shop.catalog.v1 import catalog_pb2
from shop_catalog.backfill import Backfill, BackfillState
from shopkit.auth import require_role
from shopkit.errors import FailedPrecondition

Context = grpc.aio.ServicerContext[Any, Any]
BACKFILL_NOT_CONFIGURED = "SEARCH_BACKFILL_NOT_CONFIGURED"


def rebuild_to_pb(state: BackfillState) -> catalog_pb2.SearchProjectionRebuild:
    message = catalog_pb2.SearchProjectionRebuild(
        requested=state.requested, completed=state.completed, running=state.running
    )
    if state.completed_at is not None:
        at = Timestamp()
        at.FromDatetime(state.completed_at)
        message.completed_at.CopyFrom(at)
    return message


class ProjectionRpcs:
    # Set by main when catalog has pricing's and inventory's addresses.
    backfill: Backfill | None = None

    async def RebuildSearchProjection(
        self, request: catalog_pb2.RebuildSearchProjectionRequest, context: Context
    ) -> catalog_pb2.SearchProjectionRebuild:
        require_role(context)
        return rebuild_to_pb(await self._backfill().request())

    async def GetSearchProjectionRebuild(
        self, request: catalog_pb2.GetSearchProjectionRebuildRequest, context: Context
    ) -> catalog_pb2.SearchProjectionRebuild:
        require_role(context)
        return rebuild_to_pb(await self._backfill().state())

    def _backfill(self) -> Backfill:
        if self.backfill is None:
            raise FailedPrecondition(
                "this catalog has no pricing and inventory addresses to rebuild its search projection from",
                reason=BACKFILL_NOT_CONFIGURED,
            )
        return self.backfill
