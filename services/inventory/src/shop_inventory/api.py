"""The gRPC servicer: authorisation, validation at the edge and protobuf <-> domain mapping."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from shop.common.v1 import common_pb2, feed_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop_inventory import domain, stock_feed
from shop_inventory.domain import AllocationPolicy, Candidate, Fulfilment, Line, Location, LocationType, StockLevel
from shop_inventory.operations import Inventory
from shop_inventory.reserve_group import ReserveCommand
from shop_inventory.settings import InventorySettings
from shopkit import feeds, pagination
from shopkit.auth import require_role
from shopkit.errors import Violations
from shopkit.identifiers import COUNTRY, check_request_id, check_sku
from shopkit.runtime import Runtime

Context = grpc.aio.ServicerContext[Any, Any]

# --- validation ----------------------------------------------------------------------------------

LOCATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_LINES = 100
MAX_QUANTITY = 1_000_000
MAX_ON_HAND = 1_000_000_000
MAX_BATCH = 1000
MAX_SKUS = 200
MAX_TEXT = 200
MAX_PRIORITY = 1_000_000
UPDATABLE = ("name", "country", "address", "priority", "click_and_collect", "active")
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "phone")

_TYPE_TO_PB = {
    LocationType.WAREHOUSE: inventory_pb2.LOCATION_TYPE_WAREHOUSE,
    LocationType.STORE: inventory_pb2.LOCATION_TYPE_STORE,
}
_TYPE_FROM_PB = {pb: t for t, pb in _TYPE_TO_PB.items()}
_STATUS_TO_PB = {
    domain.ReservationStatus.ACTIVE: inventory_pb2.RESERVATION_STATUS_ACTIVE,
    domain.ReservationStatus.COMMITTED: inventory_pb2.RESERVATION_STATUS_COMMITTED,
    domain.ReservationStatus.RELEASED: inventory_pb2.RESERVATION_STATUS_RELEASED,
    domain.ReservationStatus.EXPIRED: inventory_pb2.RESERVATION_STATUS_EXPIRED,
}


def _check_location_id(v: Violations, value: str, path: str) -> None:
    v.check(bool(LOCATION_ID.match(value)), path, "must be 1-63 of a-z 0-9 -, starting alphanumeric")


def _check_text(v: Violations, value: str, path: str, *, required: bool) -> None:
    if required and not value.strip():
        v.add(path, "is required")
    v.check(len(value) <= MAX_TEXT, path, f"must be at most {MAX_TEXT} characters")


def _check_skus(v: Violations, skus: Sequence[str], path: str) -> list[str]:
    """Validate a list of SKUs; duplicates are answered once."""
    v.check(1 <= len(skus) <= MAX_SKUS, path, f"must list 1 to {MAX_SKUS} SKUs")
    for i, sku in enumerate(skus):
        check_sku(v, sku, f"{path}[{i}]")
    return list(dict.fromkeys(skus))


def _check_pairs(v: Violations, entries: Iterable[tuple[str, str]], path: str) -> None:
    seen: set[tuple[str, str]] = set()
    for i, (sku, location_id) in enumerate(entries):
        check_sku(v, sku, f"{path}[{i}].sku")
        _check_location_id(v, location_id, f"{path}[{i}].location_id")
        v.check((sku, location_id) not in seen, f"{path}[{i}]", "repeats an earlier (sku, location_id)")
        seen.add((sku, location_id))


# --- mapping ---------------------------------------------------------------------------------------


def _timestamp(value: object) -> Timestamp:
    stamp = Timestamp()
    if value is not None:
        stamp.FromDatetime(value)  # type: ignore[arg-type]
    return stamp


def location_to_pb(location: Location) -> inventory_pb2.Location:
    address = common_pb2.Address(**{k: v for k, v in location.address.items() if k in ADDRESS_FIELDS})
    address.country = location.country
    return inventory_pb2.Location(
        location_id=location.location_id,
        type=_TYPE_TO_PB[location.type],
        name=location.name,
        country=location.country,
        address=address,
        priority=location.priority,
        click_and_collect=location.click_and_collect,
        active=location.active,
        created_at=_timestamp(location.created_at),
        updated_at=_timestamp(location.updated_at),
    )


def _address(pb: common_pb2.Address) -> dict[str, str]:
    return {name: getattr(pb, name) for name in ADDRESS_FIELDS if getattr(pb, name)}


def _check_location_fields(v: Violations, pb: inventory_pb2.Location, fields: Iterable[str]) -> None:
    fields = set(fields)
    if "name" in fields:
        _check_text(v, pb.name, "location.name", required=True)
    if "country" in fields:
        v.check(bool(COUNTRY.match(pb.country)), "location.country", "must be an ISO-3166-1 alpha-2 code like DE")
    if "address" in fields:
        for name in ADDRESS_FIELDS:
            _check_text(v, getattr(pb.address, name), f"location.address.{name}", required=False)
        v.check(
            not pb.address.country or pb.address.country == pb.country,
            "location.address.country",
            "must be empty or equal location.country",
        )
    if "priority" in fields:
        v.check(0 <= pb.priority <= MAX_PRIORITY, "location.priority", f"must be 0 to {MAX_PRIORITY}")


def _location_from_pb(pb: inventory_pb2.Location) -> Location:
    return Location(
        location_id=pb.location_id,
        type=_TYPE_FROM_PB.get(pb.type, LocationType.STORE),
        name=pb.name.strip(),
        country=pb.country,
        address=_address(pb.address),
        priority=pb.priority,
        click_and_collect=pb.click_and_collect,
        active=pb.active,
    )


def stock_to_pb(level: StockLevel) -> inventory_pb2.StockLevel:
    return inventory_pb2.StockLevel(
        sku=level.sku,
        location_id=level.location_id,
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.available,
    )


def reservation_to_pb(reservation: domain.Reservation) -> inventory_pb2.Reservation:
    pb = inventory_pb2.Reservation(
        reservation_id=reservation.reservation_id,
        status=_STATUS_TO_PB[reservation.status],
        allow_split=reservation.allow_split,
        lines=[
            inventory_pb2.ReservedLine(
                sku=line.sku,
                quantity=line.quantity,
                allocations=[inventory_pb2.Allocation(location_id=a.location_id, quantity=a.quantity) for a in parts],
            )
            for line, parts in reservation.lines()
        ],
        expires_at=_timestamp(reservation.expires_at),
        created_at=_timestamp(reservation.created_at),
        updated_at=_timestamp(reservation.updated_at),
    )
    if reservation.fulfilment.is_pickup:
        pb.pickup.store_id = reservation.fulfilment.store_id
    else:
        pb.ship.country = reservation.fulfilment.ship_country
    return pb


def sku_availability(
    sku: str, rows: Sequence[Candidate], *, store_id: str, threshold: int, policy: AllocationPolicy
) -> inventory_pb2.SkuAvailability:
    ordered = sorted(rows, key=lambda c: domain.allocation_order(c, policy))
    total = sum(c.available for c in ordered)
    return inventory_pb2.SkuAvailability(
        sku=sku,
        total_available=total,
        ship_available=sum(c.available for c in ordered if domain.ships_from(c, policy)),
        store_available=sum(c.available for c in ordered if c.location_id == store_id),
        low_stock=total <= threshold,
        locations=[
            inventory_pb2.LocationAvailability(
                location_id=c.location_id,
                type=_TYPE_TO_PB[c.type],
                name=c.name,
                country=c.country,
                click_and_collect=c.click_and_collect and c.type is LocationType.STORE,
                available=c.available,
            )
            for c in ordered
        ],
    )


# --- the servicer ------------------------------------------------------------------------------------


class InventoryServicer(inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(self, runtime: Runtime, settings: InventorySettings):
        self.settings = settings
        self.policy = AllocationPolicy(
            ship_from_stores=settings.allocation_ship_from_stores, warehouses_first=settings.allocation_warehouses_first
        )
        self.inventory = Inventory(runtime.db, runtime.relay, self.policy, settings.default_low_stock_threshold)
        location_ok = lambda value: bool(LOCATION_ID.match(value))  # noqa: E731
        applier = stock_feed.StockFeedApplier(self.inventory, location_ok)
        self.feeds = feeds.feed_service(
            runtime.db, settings, stock_feed.tables, applier, noun="stock", on_commit=self.inventory.published
        )

    # ERP stock feeds (shopkit.feeds; the lines: stock_feed)

    async def StartStockFeed(self, request: feed_pb2.StartFeedRequest, context: Context) -> feed_pb2.Feed:
        return await self.feeds.start(request, context)

    async def GetStockFeed(self, request: feed_pb2.GetFeedRequest, context: Context) -> feed_pb2.Feed:
        return await self.feeds.get(request, context)

    async def ListStockFeedLines(
        self, request: feed_pb2.ListFeedLinesRequest, context: Context
    ) -> feed_pb2.ListFeedLinesResponse:
        return await self.feeds.lines(request, context)

    # locations

    async def CreateLocation(
        self, request: inventory_pb2.CreateLocationRequest, context: Context
    ) -> inventory_pb2.Location:
        require_role(context)
        v = Violations()
        pb = request.location
        _check_location_id(v, pb.location_id, "location.location_id")
        v.check(pb.type in _TYPE_FROM_PB, "location.type", "must be LOCATION_TYPE_WAREHOUSE or LOCATION_TYPE_STORE")
        _check_location_fields(v, pb, UPDATABLE)
        v.check(
            not pb.click_and_collect or pb.type == inventory_pb2.LOCATION_TYPE_STORE,
            "location.click_and_collect",
            "only stores offer click and collect",
        )
        v.raise_if_any()
        return location_to_pb(await self.inventory.create_location(_location_from_pb(pb)))

    async def UpdateLocation(
        self, request: inventory_pb2.UpdateLocationRequest, context: Context
    ) -> inventory_pb2.Location:
        require_role(context)
        v = Violations()
        pb = request.location
        _check_location_id(v, pb.location_id, "location.location_id")
        fields = list(request.update_mask.paths) or list(UPDATABLE)
        for i, path in enumerate(fields):
            v.check(path in UPDATABLE, f"update_mask.paths[{i}]", f"must be one of {', '.join(UPDATABLE)}")
        _check_location_fields(v, pb, fields)
        v.raise_if_any()
        return location_to_pb(await self.inventory.update_location(_location_from_pb(pb), fields))

    async def GetLocation(self, request: inventory_pb2.GetLocationRequest, context: Context) -> inventory_pb2.Location:
        require_role(context)
        v = Violations()
        _check_location_id(v, request.location_id, "location_id")
        v.raise_if_any()
        return location_to_pb(await self.inventory.get_location(request.location_id))

    async def ListLocations(
        self, request: inventory_pb2.ListLocationsRequest, context: Context
    ) -> inventory_pb2.ListLocationsResponse:
        require_role(context)
        v = Violations()
        v.check(
            not request.country or bool(COUNTRY.match(request.country)),
            "country",
            "must be empty or an ISO-3166-1 alpha-2 code",
        )
        v.check(request.type in (inventory_pb2.LOCATION_TYPE_UNSPECIFIED, *_TYPE_FROM_PB), "type", "unknown type")
        v.raise_if_any()
        limit = pagination.page_size(request.page.page_size)
        cursor = pagination.decode_token(request.page.page_token)
        after = str(cursor["after"]) if cursor and "after" in cursor else None
        found = await self.inventory.list_locations(
            type=_TYPE_FROM_PB.get(request.type),
            country=request.country,
            pickup_only=request.click_and_collect_only,
            include_inactive=request.include_inactive,
            after=after,
            limit=limit + 1,
        )
        page = found[:limit]
        token = pagination.encode_token({"after": page[-1].location_id}) if len(found) > limit else ""
        return inventory_pb2.ListLocationsResponse(
            locations=[location_to_pb(location) for location in page],
            page=common_pb2.PageResponse(next_page_token=token),
        )

    # stock administration

    async def AdjustStock(
        self, request: inventory_pb2.AdjustStockRequest, context: Context
    ) -> inventory_pb2.AdjustStockResponse:
        require_role(context)
        v = Violations()
        check_request_id(v, request.adjustment_id, "adjustment_id")
        check_sku(v, request.sku, "sku")
        _check_location_id(v, request.location_id, "location_id")
        v.check(
            request.delta != 0 and abs(request.delta) <= MAX_QUANTITY,
            "delta",
            f"must be non-zero and at most {MAX_QUANTITY} either way",
        )
        _check_text(v, request.reason, "reason", required=True)
        v.raise_if_any()
        level = await self.inventory.adjust(
            request.adjustment_id, request.sku, request.location_id, request.delta, request.reason.strip()
        )
        return inventory_pb2.AdjustStockResponse(stock=stock_to_pb(level))

    async def SetStock(
        self, request: inventory_pb2.SetStockRequest, context: Context
    ) -> inventory_pb2.SetStockResponse:
        require_role(context)
        v = Violations()
        v.check(1 <= len(request.entries) <= MAX_BATCH, "entries", f"must hold 1 to {MAX_BATCH} entries")
        _check_pairs(v, ((e.sku, e.location_id) for e in request.entries), "entries")
        for i, entry in enumerate(request.entries):
            v.check(0 <= entry.on_hand <= MAX_ON_HAND, f"entries[{i}].on_hand", f"must be 0 to {MAX_ON_HAND}")
        _check_text(v, request.reason, "reason", required=False)
        v.raise_if_any()
        levels = await self.inventory.set_stock([(e.sku, e.location_id, e.on_hand) for e in request.entries])
        return inventory_pb2.SetStockResponse(stock=[stock_to_pb(level) for level in levels])

    async def Restock(self, request: inventory_pb2.RestockRequest, context: Context) -> inventory_pb2.RestockResponse:
        require_role(context)
        v = Violations()
        check_request_id(v, request.restock_id, "restock_id")
        v.check(1 <= len(request.entries) <= MAX_BATCH, "entries", f"must hold 1 to {MAX_BATCH} entries")
        _check_pairs(v, ((e.sku, e.location_id) for e in request.entries), "entries")
        for i, entry in enumerate(request.entries):
            v.check(1 <= entry.quantity <= MAX_QUANTITY, f"entries[{i}].quantity", f"must be 1 to {MAX_QUANTITY}")
        _check_text(v, request.reason, "reason", required=False)
        v.raise_if_any()
        levels = await self.inventory.restock(
            request.restock_id, [(e.sku, e.location_id, e.quantity) for e in request.entries], request.reason.strip()
        )
        return inventory_pb2.RestockResponse(stock=[stock_to_pb(level) for level in levels])

    async def SetLowStockThresholds(
        self, request: inventory_pb2.SetLowStockThresholdsRequest, context: Context
    ) -> inventory_pb2.SetLowStockThresholdsResponse:
        require_role(context)
        v = Violations()
        v.check(1 <= len(request.thresholds) <= MAX_BATCH, "thresholds", f"must hold 1 to {MAX_BATCH} entries")
        seen: set[str] = set()
        for i, entry in enumerate(request.thresholds):
            check_sku(v, entry.sku, f"thresholds[{i}].sku")
            v.check(entry.sku not in seen, f"thresholds[{i}].sku", "repeats an earlier SKU")
            seen.add(entry.sku)
            v.check(
                not entry.HasField("threshold") or 0 <= entry.threshold <= MAX_QUANTITY,
                f"thresholds[{i}].threshold",
                f"must be 0 to {MAX_QUANTITY}",
            )
        v.raise_if_any()
        effective = await self.inventory.set_thresholds(
            [(entry.sku, entry.threshold if entry.HasField("threshold") else None) for entry in request.thresholds]
        )
        return inventory_pb2.SetLowStockThresholdsResponse(
            thresholds=[inventory_pb2.LowStockThreshold(sku=sku, threshold=value) for sku, value in effective]
        )

    async def GetStockLevels(
        self, request: inventory_pb2.GetStockLevelsRequest, context: Context
    ) -> inventory_pb2.GetStockLevelsResponse:
        require_role(context)
        v = Violations()
        skus = _check_skus(v, request.skus, "skus")
        v.raise_if_any()
        levels = await self.inventory.stock_levels(skus)
        return inventory_pb2.GetStockLevelsResponse(stock=[stock_to_pb(level) for level in levels])

    async def ListStockTotals(
        self, request: inventory_pb2.ListStockTotalsRequest, context: Context
    ) -> inventory_pb2.ListStockTotalsResponse:
        require_role(context)
        limit = pagination.page_size(request.page.page_size)
        cursor = pagination.decode_token(request.page.page_token)
        after = str(cursor["after"]) if cursor and "after" in cursor else None
        found = await self.inventory.stock_totals(after, limit + 1)
        page = found[:limit]
        token = pagination.encode_token({"after": page[-1][0]}) if len(found) > limit else ""
        return inventory_pb2.ListStockTotalsResponse(
            totals=[
                inventory_pb2.StockTotal(sku=sku, total_available=total, stock_version=version)
                for sku, total, version in page
            ],
            page=common_pb2.PageResponse(next_page_token=token),
        )

    # availability

    async def GetAvailability(
        self, request: inventory_pb2.GetAvailabilityRequest, context: Context
    ) -> inventory_pb2.GetAvailabilityResponse:
        v = Violations()
        skus = _check_skus(v, request.skus, "skus")
        if request.store_id:
            _check_location_id(v, request.store_id, "store_id")
        v.raise_if_any()
        rows, thresholds = await self.inventory.availability(skus, request.store_id)
        by_sku: dict[str, list[Candidate]] = {sku: [] for sku in skus}
        for row in rows:
            by_sku[row.sku].append(row)
        return inventory_pb2.GetAvailabilityResponse(
            skus=[
                sku_availability(
                    sku, by_sku[sku], store_id=request.store_id, threshold=thresholds[sku], policy=self.policy
                )
                for sku in skus
            ]
        )

    # reservations: internal calls of the checkout saga (role `service`; `admin` for operators)

    async def Reserve(self, request: inventory_pb2.ReserveRequest, context: Context) -> inventory_pb2.ReserveResponse:
        require_role(context)
        command = self._reserve_command(request)
        reservation = await self.inventory.reserve(command)
        return inventory_pb2.ReserveResponse(reservation=reservation_to_pb(reservation))

    def _reserve_command(self, request: inventory_pb2.ReserveRequest) -> ReserveCommand:
        v = Violations()
        check_request_id(v, request.reservation_id, "reservation_id")
        v.check(1 <= len(request.lines) <= MAX_LINES, "lines", f"must hold 1 to {MAX_LINES} lines")
        seen: set[str] = set()
        for i, line in enumerate(request.lines):
            check_sku(v, line.sku, f"lines[{i}].sku")
            v.check(line.sku not in seen, f"lines[{i}].sku", "repeats an earlier line's SKU")
            seen.add(line.sku)
            v.check(1 <= line.quantity <= MAX_QUANTITY, f"lines[{i}].quantity", f"must be 1 to {MAX_QUANTITY}")
        kind = request.WhichOneof("fulfilment")
        fulfilment = Fulfilment()
        if kind is None:
            v.add("fulfilment", "is required: ship or pickup")
        elif kind == "pickup":
            _check_location_id(v, request.pickup.store_id, "pickup.store_id")
            v.check(not request.allow_split, "allow_split", "pickup reservations cannot be split")
            fulfilment = Fulfilment(store_id=request.pickup.store_id)
        else:
            v.check(
                not request.ship.country or bool(COUNTRY.match(request.ship.country)),
                "ship.country",
                "must be empty or an ISO-3166-1 alpha-2 code",
            )
            fulfilment = Fulfilment(ship_country=request.ship.country)
        ttl = timedelta(seconds=self.settings.reservation_default_ttl_seconds)
        if request.HasField("ttl"):
            ttl = request.ttl.ToTimedelta()
            limit = self.settings.reservation_max_ttl_seconds
            v.check(
                timedelta(seconds=1) <= ttl <= timedelta(seconds=limit),
                "ttl",
                f"must be between 1 second and {limit:g} seconds",
            )
        v.raise_if_any()
        return ReserveCommand(
            reservation_id=request.reservation_id,
            lines=tuple(Line(line.sku, line.quantity) for line in request.lines),
            fulfilment=fulfilment,
            ttl=ttl,
            allow_split=request.allow_split,
            renew_expired=request.renew_expired,
        )

    async def Commit(self, request: inventory_pb2.CommitRequest, context: Context) -> inventory_pb2.CommitResponse:
        require_role(context)
        v = Violations()
        check_request_id(v, request.reservation_id, "reservation_id")
        v.raise_if_any()
        reservation = await self.inventory.commit(request.reservation_id)
        return inventory_pb2.CommitResponse(reservation=reservation_to_pb(reservation))

    async def Release(self, request: inventory_pb2.ReleaseRequest, context: Context) -> inventory_pb2.ReleaseResponse:
        require_role(context)
        v = Violations()
        check_request_id(v, request.reservation_id, "reservation_id")
        _check_text(v, request.reason, "reason", required=False)
        v.raise_if_any()
        reservation = await self.inventory.release(request.reservation_id, request.reason.strip())
        return inventory_pb2.ReleaseResponse(reservation=reservation_to_pb(reservation))

    async def GetReservation(
        self, request: inventory_pb2.GetReservationRequest, context: Context
    ) -> inventory_pb2.Reservation:
        require_role(context)
        v = Violations()
        check_request_id(v, request.reservation_id, "reservation_id")
        v.raise_if_any()
        return reservation_to_pb(await self.inventory.get_reservation(request.reservation_id))
