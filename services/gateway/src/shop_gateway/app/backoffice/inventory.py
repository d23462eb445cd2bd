"""Locations (warehouses and stores) and stock movements: deliveries (restock) and adjustments, each once
per Idempotency-Key. Absolute counts and the stock levels are `app.admin.set_stock` / `stock_levels`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2
from shop_gateway.app.backoffice.common import (
    IDEMPOTENCY_FIELD,
    MAX_ENTRIES,
    MAX_TEXT,
    changing,
    check_count,
    check_text,
    require_admin,
    require_key,
)
from shop_gateway.app.errors import upstream
from shop_gateway.app.shop import Shop
from shop_gateway.app.validation import MAX_QUANTITY, check_page
from shop_gateway.principal import Principal
from shopkit.errors import NotFound, Violations

LOCATION_FIELDS = {"location": "", "update_mask": "fields", "page.page_token": "page_token"}
STOCK_FIELDS = {"restock_id": IDEMPOTENCY_FIELD, "adjustment_id": IDEMPOTENCY_FIELD}
UPDATABLE = ("name", "country", "address", "priority", "click_and_collect", "active")


@dataclass(frozen=True)
class Delivery:
    sku: str
    location_id: str
    quantity: int


async def create_location(shop: Shop, who: Principal, location: inventory_pb2.Location) -> inventory_pb2.Location:
    """Safe to repeat: the same id with the same fields returns the location."""
    require_admin(who)
    with changing(shop, "inventory", LOCATION_FIELDS):
        created: inventory_pb2.Location = await shop.backends.inventory.CreateLocation(
            inventory_pb2.CreateLocationRequest(location=location), metadata=who.metadata()
        )
    return created


async def update_location(
    shop: Shop, who: Principal, location: inventory_pb2.Location, fields: Sequence[str]
) -> inventory_pb2.Location:
    """Changes the named fields only."""
    require_admin(who)
    violations = Violations()
    for index, name in enumerate(fields):
        violations.check(name in UPDATABLE, f"fields[{index}]", f"must be one of {', '.join(UPDATABLE)}")
    violations.check(bool(fields), "fields", "name at least one field to change")
    violations.raise_if_any()
    request = inventory_pb2.UpdateLocationRequest(location=location)
    request.update_mask.paths.extend(fields)
    with changing(shop, "inventory", LOCATION_FIELDS):
        updated: inventory_pb2.Location = await shop.backends.inventory.UpdateLocation(request, metadata=who.metadata())
    return updated


async def get_location(shop: Shop, who: Principal, location_id: str) -> inventory_pb2.Location:
    require_admin(who)
    if not location_id:
        raise NotFound("location", location_id)
    with upstream("inventory", {"location_id": "id"}):
        found: inventory_pb2.Location = await shop.backends.inventory.GetLocation(
            inventory_pb2.GetLocationRequest(location_id=location_id), metadata=who.metadata()
        )
    return found


async def list_locations(
    shop: Shop, who: Principal, query: inventory_pb2.ListLocationsRequest
) -> inventory_pb2.ListLocationsResponse:
    """Every location by id, filtered by type, country, click-and-collect and (with include_inactive) all."""
    require_admin(who)
    violations = Violations()
    query.page.page_size = check_page(violations, query.page.page_size)
    check_text(violations, query.country, "country", limit=2)
    violations.raise_if_any()
    with upstream("inventory", LOCATION_FIELDS):
        response: inventory_pb2.ListLocationsResponse = await shop.backends.inventory.ListLocations(
            query, metadata=who.metadata()
        )
    return response


def _check_stock_key(violations: Violations, sku: str, location_id: str, field: str) -> None:
    check_text(violations, sku, f"{field}sku", required=True)
    check_text(violations, location_id, f"{field}location_id", required=True)


async def restock(
    shop: Shop, who: Principal, *, key: str, entries: Sequence[Delivery], reason: str = ""
) -> inventory_pb2.RestockResponse:
    """Received goods, all or nothing, applied once per key (e.g. the delivery note)."""
    require_admin(who)
    violations = Violations()
    require_key(violations, key)
    check_count(violations, entries, "entries", least=1, most=MAX_ENTRIES)
    for index, entry in enumerate(entries):
        _check_stock_key(violations, entry.sku, entry.location_id, f"entries[{index}].")
        violations.check(
            1 <= entry.quantity <= MAX_QUANTITY, f"entries[{index}].quantity", f"must be 1 to {MAX_QUANTITY}"
        )
    check_text(violations, reason, "reason", limit=MAX_TEXT)
    violations.raise_if_any()
    request = inventory_pb2.RestockRequest(
        restock_id=key,
        entries=[
            inventory_pb2.RestockEntry(sku=e.sku, location_id=e.location_id, quantity=e.quantity) for e in entries
        ],
        reason=reason,
    )
    with changing(shop, "inventory", STOCK_FIELDS):
        response: inventory_pb2.RestockResponse = await shop.backends.inventory.Restock(
            request, metadata=who.metadata()
        )
    return response


async def adjust_stock(
    shop: Shop, who: Principal, *, key: str, sku: str, location_id: str, delta: int, reason: str
) -> inventory_pb2.StockLevel:
    """On-hand changed by a signed delta (damaged, found, ...), once per key; never below what is reserved."""
    require_admin(who)
    violations = Violations()
    require_key(violations, key)
    _check_stock_key(violations, sku, location_id, "")
    violations.check(
        delta != 0 and abs(delta) <= MAX_QUANTITY, "delta", f"must be non-zero, -{MAX_QUANTITY} to {MAX_QUANTITY}"
    )
    check_text(violations, reason, "reason", limit=MAX_TEXT, required=True)
    violations.raise_if_any()
    request = inventory_pb2.AdjustStockRequest(
        adjustment_id=key, sku=sku, location_id=location_id, delta=delta, reason=reason
    )
    with changing(shop, "inventory", STOCK_FIELDS):
        response = await shop.backends.inventory.AdjustStock(request, metadata=who.metadata())
    level: inventory_pb2.StockLevel = response.stock
    return level


def page(size: int, token: str) -> common_pb2.PageRequest:
    return common_pb2.PageRequest(page_size=size, page_token=token)
