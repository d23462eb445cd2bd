"""The search projection for staff: ask the catalog to rebuild its copy of prices and stock (what
search filters, sorts and counts by) from pricing and inventory. The catalog runs the rebuild in the
background; asking again while one is pending adds nothing. Role admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shop.catalog.v1 import catalog_pb2
from shop_gateway.app.backoffice.common import changing, require_admin
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.principal import Principal


@dataclass(frozen=True)
class SearchRebuild:
    requested: int  # the newest run asked for (runs are numbered)
    completed: int  # the newest run finished
    running: bool
    completed_at: datetime | None


def _rebuild(done: catalog_pb2.SearchProjectionRebuild) -> SearchRebuild:
    at = done.completed_at.ToDatetime(tzinfo=UTC) if done.HasField("completed_at") else None
    return SearchRebuild(done.requested, done.completed, done.running, at)


async def rebuild_search_projection(shop: Shop, who: Principal) -> SearchRebuild:
    require_admin(who)
    # The public answers the gateway keeps (listings with price and stock filters) change as it runs.
    with changing(shop, "catalog"):
        done = await shop.backends.catalog.RebuildSearchProjection(
            catalog_pb2.RebuildSearchProjectionRequest(), metadata=who.metadata()
        )
    return _rebuild(done)


async def search_projection_rebuild(shop: Shop, who: Principal) -> SearchRebuild:
    require_admin(who)
    with upstream("catalog"):
        done = await shop.backends.catalog.GetSearchProjectionRebuild(
            catalog_pb2.GetSearchProjectionRebuildRequest(), metadata=who.metadata()
        )
    return _rebuild(done)
