"""The search projection's rebuild (role admin): the catalog re-reads every base price and stock total
from pricing and inventory in the background."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shop_gateway.app.backoffice import search
from shop_gateway.httpapi.backoffice.common import router
from shop_gateway.httpapi.deps import ShopDep, SignedIn

projection = router("/v1/admin/search-projection", "back office: search")


class SearchRebuildView(BaseModel):
    requested: int = Field(description="the newest rebuild asked for (rebuilds are numbered)")
    completed: int = Field(description="the newest rebuild finished; equal to requested when there is nothing to do")
    running: bool = Field(description="a rebuild is under way (it resumes after a catalog restart)")
    completed_at: datetime | None = Field(description="when the newest rebuild finished")


def _view(done: search.SearchRebuild) -> SearchRebuildView:
    return SearchRebuildView(
        requested=done.requested, completed=done.completed, running=done.running, completed_at=done.completed_at
    )


@projection.post("/rebuild", status_code=202, summary="Rebuild search's prices and stock from their owners (admin)")
async def rebuild_search_projection(shop: ShopDep, who: SignedIn) -> SearchRebuildView:
    """Use when search shows no price, or out of stock, for products pricing and inventory have (a catalog
    deployed after they were set, or whose event consumers lagged past the streams' retention). The catalog
    pages through every base price and stock total in the background; ordered by the owners' audit ids and
    stock versions, a rebuild never undoes a newer change. Idempotent: asking while one is pending adds
    nothing (while one runs, one more is queued). GET /v1/admin/search-projection to follow it: done when
    `completed` reaches the `requested` this answered."""
    return _view(await search.rebuild_search_projection(shop, who))


@projection.get("", summary="Where the search projection's rebuilds stand (admin)")
async def get_search_projection(shop: ShopDep, who: SignedIn) -> SearchRebuildView:
    return _view(await search.search_projection_rebuild(shop, who))
