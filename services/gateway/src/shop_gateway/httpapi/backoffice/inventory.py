"""Locations and stock movements (role admin). Absolute stock counts and the levels per SKU per location
are PUT and GET /v1/stock."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import Field

from shop.inventory.v1 import inventory_pb2
from shop_gateway.app.backoffice import inventory, protojson
from shop_gateway.httpapi.backoffice.common import Body, Id, IdempotencyKey, PageSize, PageToken, Quantity, Text, router
from shop_gateway.httpapi.backoffice.views import LocationPage, LocationView, StockLevelList, StockLevelView
from shop_gateway.httpapi.deps import ShopDep, SignedIn
from shop_gateway.httpapi.schemas import AddressBody
from shopkit.errors import Violations

locations = router("/v1/admin", "back office: locations and stock")


class LocationFields(Body):
    name: str = Field("", max_length=200)
    country: str = Field("", max_length=2, description="ISO-3166-1 alpha-2")
    address: AddressBody | None = None
    priority: int = Field(0, ge=0, le=1_000_000, description="allocation order within a type: lower first")
    click_and_collect: bool = Field(False, description="stores only: customers may pick up here")
    active: bool = True


class LocationBody(LocationFields):
    location_id: str = Field(max_length=64, description='lower-case letters, digits and "-", e.g. "wh-de-berlin"')
    type: str = Field(description="warehouse or store; fixed at creation")


class DeliveryBody(Body):
    sku: Id
    location_id: Id
    quantity: Quantity


class RestockBody(Body):
    entries: list[DeliveryBody] = Field(max_length=1000, description="1 to 1000, one per (sku, location)")
    reason: Text = ""


class AdjustmentBody(Body):
    sku: Id
    location_id: Id
    delta: int = Field(ge=-1_000_000, le=1_000_000, description="signed change of on-hand, not zero")
    reason: Text = Field(description='required, e.g. "damaged", "found"')


def _location(values: dict[str, Any]) -> inventory_pb2.Location:
    violations = Violations()
    location = protojson.from_plain(values, inventory_pb2.Location, violations)
    violations.raise_if_any()
    return location


@locations.post("/locations", status_code=201, summary="Create a warehouse or store (admin)")
async def create_location(body: LocationBody, shop: ShopDep, who: SignedIn) -> LocationView:
    """Safe to repeat: the same id with the same fields answers the location; different fields are 409."""
    created = await inventory.create_location(shop, who, _location(body.model_dump()))
    return LocationView.of(created)


@locations.patch("/locations/{location_id}", summary="Change a location's fields (admin)")
async def update_location(location_id: str, body: LocationFields, shop: ShopDep, who: SignedIn) -> LocationView:
    """Only the fields the body names change (the type is fixed)."""
    named = sorted(body.model_fields_set)
    location = _location({**body.model_dump(include=body.model_fields_set), "location_id": location_id})
    return LocationView.of(await inventory.update_location(shop, who, location, named))


@locations.get("/locations", summary="Every location, by id (admin)")
async def list_locations(
    shop: ShopDep,
    who: SignedIn,
    type: Annotated[str, Query(description="warehouse or store; empty: both")] = "",
    country: Annotated[str, Query(max_length=2)] = "",
    click_and_collect_only: bool = False,
    include_inactive: bool = False,
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> LocationPage:
    filters = {"type": type, "country": country, "click_and_collect_only": click_and_collect_only}
    violations = Violations()
    query = protojson.from_plain(
        {**filters, "include_inactive": include_inactive}, inventory_pb2.ListLocationsRequest, violations
    )
    violations.raise_if_any()
    query.page.CopyFrom(inventory.page(page_size, page_token))
    found = await inventory.list_locations(shop, who, query)
    return LocationPage(
        locations=[LocationView.of(location) for location in found.locations],
        next_page_token=found.page.next_page_token,
    )


@locations.get("/locations/{location_id}", summary="One location (admin)")
async def get_location(location_id: str, shop: ShopDep, who: SignedIn) -> LocationView:
    return LocationView.of(await inventory.get_location(shop, who, location_id))


@locations.post("/stock/restocks", summary="Receive goods: add to on-hand, once per Idempotency-Key (admin)")
async def restock(
    body: RestockBody, shop: ShopDep, who: SignedIn, idempotency_key: IdempotencyKey = None
) -> StockLevelList:
    """All entries or none; the levels after the delivery, in request order."""
    entries = [inventory.Delivery(e.sku, e.location_id, e.quantity) for e in body.entries]
    result = await inventory.restock(shop, who, key=idempotency_key or "", entries=entries, reason=body.reason)
    return StockLevelList(stock=[StockLevelView.of(level) for level in result.stock])


@locations.post("/stock/adjustments", summary="Change on-hand by a signed delta, once per Idempotency-Key (admin)")
async def adjust_stock(
    body: AdjustmentBody, shop: ShopDep, who: SignedIn, idempotency_key: IdempotencyKey = None
) -> StockLevelView:
    """On-hand never goes below what is reserved (409 BELOW_RESERVED)."""
    level = await inventory.adjust_stock(
        shop,
        who,
        key=idempotency_key or "",
        sku=body.sku,
        location_id=body.location_id,
        delta=body.delta,
        reason=body.reason,
    )
    return StockLevelView.of(level)
