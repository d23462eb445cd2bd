"""Inventory domain: locations, stock, allocation and the reservation state machine. No I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class LocationType(StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"


class ReservationStatus(StrEnum):
    ACTIVE = "active"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


class Cause(StrEnum):
    """Why a stock level changed (the `cause` of StockLevelChanged)."""

    RESERVE = "reserve"
    COMMIT = "commit"
    RELEASE = "release"
    EXPIRE = "expire"
    ADJUST = "adjust"
    RESTOCK = "restock"
    SET = "set"
    LOCATION_CLOSED = "location_closed"  # its stock no longer counts as available
    LOCATION_OPENED = "location_opened"


# ErrorInfo reasons callers can branch on.
INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
BELOW_RESERVED = "BELOW_RESERVED"
PICKUP_NOT_AVAILABLE = "PICKUP_NOT_AVAILABLE"
RESERVATION_COMMITTED = "RESERVATION_COMMITTED"
RESERVATION_RELEASED = "RESERVATION_RELEASED"
RESERVATION_EXPIRED = "RESERVATION_EXPIRED"
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"


@dataclass(frozen=True, slots=True)
class Location:
    location_id: str
    type: LocationType
    name: str
    country: str
    address: Mapping[str, str] = field(default_factory=dict)
    priority: int = 100
    click_and_collect: bool = False
    active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def offers_pickup(self) -> bool:
        return self.active and self.type is LocationType.STORE and self.click_and_collect


@dataclass(frozen=True, slots=True)
class StockLevel:
    sku: str
    location_id: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockVersions:
    """Each SKU's stock version, the counter its StockLevelChanged events carry (see docs/architecture.md,
    "Search projection"). A transaction holding the SKUs' rows takes the next numbers, one per event in
    staging order, and stores the last one with its change: per SKU the versions rise in commit order,
    and the stored one is that of the level as committed, which is what ListStockTotals reports."""

    def __init__(self, stored: Mapping[str, int]):
        self._stored = dict(stored)
        self._current = dict(stored)

    def take(self, sku: str) -> int:
        version = self._current.get(sku, 0) + 1
        self._current[sku] = version
        return version

    def taken(self) -> dict[str, int]:
        """The SKUs whose version moved, with their last version (what to store)."""
        return {sku: v for sku, v in sorted(self._current.items()) if v != self._stored.get(sku)}


@dataclass(frozen=True)
class LockedSkus:
    """What locking the SKUs' rows reads: their own low-stock thresholds and their stock versions."""

    thresholds: dict[str, int | None]
    versions: StockVersions


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Fulfilment:
    """Ship (optionally preferring a destination country) or pick up at `store_id`."""

    store_id: str = ""
    ship_country: str = ""

    @property
    def is_pickup(self) -> bool:
        return bool(self.store_id)


@dataclass(frozen=True, slots=True)
class AllocationPolicy:
    ship_from_stores: bool = True
    warehouses_first: bool = True


@dataclass(frozen=True, slots=True)
class Candidate:
    """Stock of a SKU at an active location, as allocation sees it."""

    sku: str
    location_id: str
    type: LocationType
    country: str
    priority: int
    click_and_collect: bool
    available: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class Allocation:
    sku: str
    location_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Shortage:
    """A line that cannot be allocated: `available` is what this fulfilment could have taken."""

    sku: str
    requested: int
    available: int


@dataclass(frozen=True, slots=True)
class AllocationPlan:
    allocations: tuple[Allocation, ...] = ()
    shortages: tuple[Shortage, ...] = ()


def ships_from(candidate: Candidate, policy: AllocationPolicy) -> bool:
    return candidate.type is LocationType.WAREHOUSE or policy.ship_from_stores


def allocation_order(
    candidate: Candidate, policy: AllocationPolicy, ship_country: str = ""
) -> tuple[int, int, int, str]:
    """Sort key: warehouses before stores (unless configured off), destination country first, priority."""
    type_rank = 1 if policy.warehouses_first and candidate.type is LocationType.STORE else 0
    abroad = 1 if ship_country and candidate.country != ship_country else 0
    return type_rank, abroad, candidate.priority, candidate.location_id


def allocate(
    lines: Sequence[Line],
    candidates: Iterable[Candidate],
    fulfilment: Fulfilment,
    *,
    allow_split: bool,
    policy: AllocationPolicy,
) -> AllocationPlan:
    """Where each line's stock comes from; all lines or (with shortages) none.

    Pickup takes every line from the store. Shipping prefers one location for the whole order, then one
    location per line, then (when allowed) splits a line over locations, always in allocation order.
    """
    by_sku: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        if candidate.available > 0:
            by_sku.setdefault(candidate.sku, []).append(candidate)
    if fulfilment.is_pickup:
        return _allocate_pickup(lines, by_sku, fulfilment.store_id)
    for options in by_sku.values():
        options[:] = [c for c in options if ships_from(c, policy)]
        options.sort(key=lambda c: allocation_order(c, policy, fulfilment.ship_country))
    whole = _single_location_for_all(lines, by_sku)
    if whole is not None:
        return AllocationPlan(tuple(Allocation(line.sku, whole, line.quantity) for line in lines))
    allocations: list[Allocation] = []
    shortages: list[Shortage] = []
    for line in lines:
        options = by_sku.get(line.sku, [])
        single = next((c for c in options if c.available >= line.quantity), None)
        if single is not None:
            allocations.append(Allocation(line.sku, single.location_id, line.quantity))
            continue
        total = sum(c.available for c in options)
        if not allow_split or total < line.quantity:
            best = total if allow_split else max((c.available for c in options), default=0)
            shortages.append(Shortage(line.sku, line.quantity, best))
            continue
        allocations.extend(_split(line, options))
    if shortages:
        return AllocationPlan(shortages=tuple(shortages))
    return AllocationPlan(tuple(allocations))


def _allocate_pickup(lines: Sequence[Line], by_sku: Mapping[str, list[Candidate]], store_id: str) -> AllocationPlan:
    allocations: list[Allocation] = []
    shortages: list[Shortage] = []
    for line in lines:
        here = next((c.available for c in by_sku.get(line.sku, []) if c.location_id == store_id), 0)
        if here >= line.quantity:
            allocations.append(Allocation(line.sku, store_id, line.quantity))
        else:
            shortages.append(Shortage(line.sku, line.quantity, here))
    if shortages:
        return AllocationPlan(shortages=tuple(shortages))
    return AllocationPlan(tuple(allocations))


def _single_location_for_all(lines: Sequence[Line], by_sku: Mapping[str, list[Candidate]]) -> str | None:
    """The first location (in the first line's order) that can ship every line, so the order ships once."""
    if len(lines) < 2:
        return None
    stock = {(c.sku, c.location_id): c.available for options in by_sku.values() for c in options}
    for candidate in by_sku.get(lines[0].sku, []):
        if all(stock.get((line.sku, candidate.location_id), 0) >= line.quantity for line in lines):
            return candidate.location_id
    return None


def _split(line: Line, options: Sequence[Candidate]) -> list[Allocation]:
    allocations: list[Allocation] = []
    remaining = line.quantity
    for candidate in options:
        take = min(remaining, candidate.available)
        allocations.append(Allocation(line.sku, candidate.location_id, take))
        remaining -= take
        if remaining == 0:
            break
    return allocations


def totals_by_sku(candidates: Iterable[Candidate]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for candidate in candidates:
        totals[candidate.sku] = totals.get(candidate.sku, 0) + max(candidate.available, 0)
    return totals


def crossed_low_stock(before: int, after: int, threshold: int) -> bool:
    """Low stock means total availability at or below the threshold; only the downward crossing counts."""
    return before > threshold >= after


# --- reservations -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: str
    status: ReservationStatus
    fulfilment: Fulfilment
    allow_split: bool
    allocations: tuple[Allocation, ...]
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    fingerprint: str = ""
    overdue: bool = False  # active but past expires_at (not yet swept)

    def lines(self) -> list[tuple[Line, list[Allocation]]]:
        """Requested lines (sum of their allocations) with the allocations, by SKU."""
        grouped: dict[str, list[Allocation]] = {}
        for allocation in self.allocations:
            grouped.setdefault(allocation.sku, []).append(allocation)
        return [(Line(sku, sum(a.quantity for a in parts)), parts) for sku, parts in sorted(grouped.items())]


class Action(StrEnum):
    COMMIT = "commit"
    RELEASE = "release"


@dataclass(frozen=True, slots=True)
class Transition:
    """What a Commit or Release does: move to `target` (None: nothing), then fail with `error` if set."""

    target: ReservationStatus | None = None
    error: str | None = None


_ALREADY = {
    (Action.COMMIT, ReservationStatus.COMMITTED): Transition(),
    (Action.COMMIT, ReservationStatus.RELEASED): Transition(error=RESERVATION_RELEASED),
    (Action.COMMIT, ReservationStatus.EXPIRED): Transition(error=RESERVATION_EXPIRED),
    (Action.RELEASE, ReservationStatus.COMMITTED): Transition(error=RESERVATION_COMMITTED),
    (Action.RELEASE, ReservationStatus.RELEASED): Transition(),
    (Action.RELEASE, ReservationStatus.EXPIRED): Transition(),
}


def plan_transition(status: ReservationStatus, action: Action, *, overdue: bool) -> Transition:
    """The reservation state machine. Repeating a transition is a no-op; releasing an expired
    reservation is too (its stock is already back). An overdue reservation expires first."""
    if status is ReservationStatus.ACTIVE:
        if overdue:
            return Transition(ReservationStatus.EXPIRED, RESERVATION_EXPIRED if action is Action.COMMIT else None)
        return Transition(ReservationStatus.COMMITTED if action is Action.COMMIT else ReservationStatus.RELEASED)
    return _ALREADY[(action, status)]


def stock_movement(target: ReservationStatus, allocation: Allocation) -> tuple[int, int]:
    """(on_hand delta, reserved delta) when a reservation moves to `target`."""
    if target is ReservationStatus.COMMITTED:
        return -allocation.quantity, -allocation.quantity
    return 0, -allocation.quantity


def cause_of(target: ReservationStatus) -> Cause:
    return {
        ReservationStatus.COMMITTED: Cause.COMMIT,
        ReservationStatus.RELEASED: Cause.RELEASE,
        ReservationStatus.EXPIRED: Cause.EXPIRE,
    }[target]


def fingerprint(payload: object) -> str:
    """A stable digest of a request, to tell a repeated request from a different one with the same id."""
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(raw).hexdigest()


def reservation_fingerprint(lines: Sequence[Line], fulfilment: Fulfilment, allow_split: bool) -> str:
    return fingerprint(
        {
            "lines": sorted((line.sku, line.quantity) for line in lines),
            "store": fulfilment.store_id,
            "country": fulfilment.ship_country,
            "split": allow_split,
        }
    )


# --- stock changes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OnHandProblem:
    sku: str
    location_id: str
    on_hand: int
    reserved: int


def on_hand_targets(
    entries: Sequence[tuple[str, str, int]], current: Mapping[tuple[str, str], StockLevel], *, relative: bool
) -> tuple[list[tuple[str, str, int]], list[OnHandProblem]]:
    """New on-hand per (sku, location) from deltas (`relative`) or absolute values; on-hand may never
    drop below what is reserved there."""
    targets: list[tuple[str, str, int]] = []
    problems: list[OnHandProblem] = []
    for sku, location_id, value in entries:
        level = current.get((sku, location_id), StockLevel(sku, location_id, 0, 0))
        on_hand = level.on_hand + value if relative else value
        if on_hand < level.reserved or on_hand < 0:
            problems.append(OnHandProblem(sku, location_id, on_hand, level.reserved))
        targets.append((sku, location_id, on_hand))
    return targets, problems
