"""Allocation and the reservation state machine as pure functions."""

from __future__ import annotations

import pytest

from shop_inventory import domain
from shop_inventory.domain import (
    Action,
    Allocation,
    AllocationPolicy,
    Candidate,
    Fulfilment,
    Line,
    LocationType,
    ReservationStatus,
    Shortage,
    Transition,
)

WH, ST = LocationType.WAREHOUSE, LocationType.STORE


def stock(
    sku: str,
    location_id: str,
    available: int,
    *,
    type: LocationType = WH,
    priority: int = 10,
    country: str = "DE",
    pickup: bool = False,
) -> Candidate:
    return Candidate(sku, location_id, type, country, priority, pickup, available)


def test_ship_uses_warehouses_before_stores_unless_configured() -> None:
    rows = [stock("A", "store", 10, type=ST, priority=1), stock("A", "wh", 10, priority=50)]
    ship = Fulfilment()
    assert domain.allocate([Line("A", 2)], rows, ship, allow_split=False, policy=AllocationPolicy()).allocations == (
        Allocation("A", "wh", 2),
    )
    by_priority = AllocationPolicy(warehouses_first=False)
    assert domain.allocate([Line("A", 2)], rows, ship, allow_split=False, policy=by_priority).allocations == (
        Allocation("A", "store", 2),
    )
    no_stores = AllocationPolicy(ship_from_stores=False)
    plan = domain.allocate([Line("A", 12)], rows, ship, allow_split=True, policy=no_stores)
    assert plan.shortages == (Shortage("A", 12, 10),)


def test_split_takes_locations_in_order_and_reports_the_total_when_short() -> None:
    rows = [stock("A", "a", 3, priority=1), stock("A", "b", 4, priority=2), stock("A", "c", 5, priority=3)]
    plan = domain.allocate([Line("A", 8)], rows, Fulfilment(), allow_split=True, policy=AllocationPolicy())
    assert plan.allocations == (Allocation("A", "a", 3), Allocation("A", "b", 4), Allocation("A", "c", 1))
    short = domain.allocate([Line("A", 13)], rows, Fulfilment(), allow_split=True, policy=AllocationPolicy())
    assert short.shortages == (Shortage("A", 13, 12),) and short.allocations == ()
    unsplit = domain.allocate([Line("A", 8)], rows, Fulfilment(), allow_split=False, policy=AllocationPolicy())
    assert unsplit.shortages == (Shortage("A", 8, 5),)


def test_pickup_takes_only_the_store() -> None:
    rows = [stock("A", "wh", 100), stock("A", "st", 2, type=ST, pickup=True), stock("B", "st", 9, type=ST)]
    pickup = Fulfilment(store_id="st")
    ok = domain.allocate([Line("A", 2), Line("B", 1)], rows, pickup, allow_split=False, policy=AllocationPolicy())
    assert ok.allocations == (Allocation("A", "st", 2), Allocation("B", "st", 1))
    short = domain.allocate([Line("A", 3), Line("B", 1)], rows, pickup, allow_split=False, policy=AllocationPolicy())
    assert short.shortages == (Shortage("A", 3, 2),) and short.allocations == ()


@pytest.mark.parametrize(
    ("status", "action", "overdue", "expected"),
    [
        (ReservationStatus.ACTIVE, Action.COMMIT, False, Transition(ReservationStatus.COMMITTED)),
        (ReservationStatus.ACTIVE, Action.RELEASE, False, Transition(ReservationStatus.RELEASED)),
        (
            ReservationStatus.ACTIVE,
            Action.COMMIT,
            True,
            Transition(ReservationStatus.EXPIRED, domain.RESERVATION_EXPIRED),
        ),
        (ReservationStatus.ACTIVE, Action.RELEASE, True, Transition(ReservationStatus.EXPIRED)),
        (ReservationStatus.COMMITTED, Action.COMMIT, False, Transition()),
        (ReservationStatus.COMMITTED, Action.RELEASE, False, Transition(error=domain.RESERVATION_COMMITTED)),
        (ReservationStatus.RELEASED, Action.RELEASE, False, Transition()),
        (ReservationStatus.RELEASED, Action.COMMIT, False, Transition(error=domain.RESERVATION_RELEASED)),
        (ReservationStatus.EXPIRED, Action.RELEASE, False, Transition()),
        (ReservationStatus.EXPIRED, Action.COMMIT, False, Transition(error=domain.RESERVATION_EXPIRED)),
    ],
)
def test_reservation_state_machine(
    status: ReservationStatus, action: Action, overdue: bool, expected: Transition
) -> None:
    assert domain.plan_transition(status, action, overdue=overdue) == expected


def test_low_stock_counts_only_the_downward_crossing() -> None:
    assert domain.crossed_low_stock(11, 10, 10)
    assert not domain.crossed_low_stock(10, 9, 10)
    assert not domain.crossed_low_stock(9, 11, 10)
    assert domain.crossed_low_stock(1, 0, 0)


def test_on_hand_never_below_reserved() -> None:
    current = {("A", "wh"): domain.StockLevel("A", "wh", 10, 4)}
    targets, problems = domain.on_hand_targets([("A", "wh", -6), ("B", "wh", 3)], current, relative=True)
    assert targets == [("A", "wh", 4), ("B", "wh", 3)] and problems == []
    _, problems = domain.on_hand_targets([("A", "wh", 3)], current, relative=False)
    assert problems == [domain.OnHandProblem("A", "wh", 3, 4)]
