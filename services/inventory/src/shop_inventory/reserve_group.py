"""Reserve for a group of requests on the same SKUs, in one transaction (see `grouping`).

In arrival order, each request gets what it would have got alone, one after the other: its
reservation, the existing one for a repeated id, or its own refusal (INSUFFICIENT_STOCK with its own
figures, a pickup store that is not one). Only the successful requests change stock; the refused
ones leave nothing behind. The stock read happens under the SKU locks and every request's events
carry the exact figures of the moment it was applied; the conditional UPDATE and the CHECK
constraints stay the last guard against overselling.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from shop_inventory import domain, events, group_store, reservation_store
from shop_inventory.domain import (
    Allocation,
    AllocationPolicy,
    Candidate,
    Cause,
    Fulfilment,
    Line,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockVersions,
)
from shop_inventory.grouping import AGAIN, Again
from shopkit.errors import Aborted, AlreadyExists, DomainError, FailedPrecondition, NotFound, PreconditionViolation
from shopkit.sqldriver import DriverConnection

Answer = Reservation | Exception | Again


@dataclass(frozen=True)
class ReserveCommand:
    reservation_id: str
    lines: tuple[Line, ...]
    fulfilment: Fulfilment
    ttl: timedelta
    allow_split: bool
    renew_expired: bool = False  # an expired reservation of this id is reserved anew (same id)


@dataclass(frozen=True)
class Request:
    """A Reserve as it waits for its group: the command, its fingerprint, its trace headers."""

    command: ReserveCommand
    digest: str
    headers: Mapping[str, str]

    @property
    def sku_key(self) -> tuple[str, ...]:
        return tuple(sorted(line.sku for line in self.command.lines))


def insufficient_stock(shortages: Sequence[domain.Shortage], where: str) -> FailedPrecondition:
    skus = ",".join(s.sku for s in shortages)
    return FailedPrecondition(
        f"not enough stock {where} for {skus}",
        reason=domain.INSUFFICIENT_STOCK,
        metadata={"skus": skus},
        violations=[
            PreconditionViolation(domain.INSUFFICIENT_STOCK, s.sku, f"requested {s.requested}, available {s.available}")
            for s in shortages
        ],
    )


def same_request(found: Reservation, request: Request) -> Reservation | Exception:
    if found.fingerprint != request.digest:
        return AlreadyExists(
            f"reservation {request.command.reservation_id!r} exists for a different request",
            reason=domain.REQUEST_ID_REUSED,
            metadata={"reservation_id": request.command.reservation_id},
        )
    return found


class Stock:
    """The available stock of the group's SKUs as read under their locks, kept current while the
    group's requests are planned one after the other."""

    def __init__(self, stocked: Sequence[reservation_store.Stocked]):
        self.candidates = {(s.level.sku, s.level.location_id): s.candidate for s in stocked}
        self.levels = {(s.level.sku, s.level.location_id): s.level for s in stocked}

    def of(self, sku_list: Sequence[str]) -> list[Candidate]:
        wanted = set(sku_list)
        return [c for (sku, _), c in self.candidates.items() if sku in wanted]

    def take(self, allocations: Sequence[Allocation]) -> list[StockLevel]:
        """Reserve the allocations; the stock rows as they are after it, by (sku, location)."""
        for a in allocations:
            key = (a.sku, a.location_id)
            candidate = self.candidates[key]
            level = self.levels[key]
            self.candidates[key] = dataclasses.replace(candidate, available=candidate.available - a.quantity)
            self.levels[key] = StockLevel(a.sku, a.location_id, level.on_hand, level.reserved + a.quantity)
        return [self.levels[key] for key in sorted({(a.sku, a.location_id) for a in allocations})]


async def reserve_group(
    conn: DriverConnection,
    requests: Sequence[Request],
    policy: AllocationPolicy,
    threshold: Callable[[int | None], int],
) -> list[Answer]:
    """Every request's answer, in the caller's transaction (a driver transaction)."""
    answers: dict[int, Answer] = {}
    first_of: dict[str, int] = {}  # reservation id -> index of its first request in the group
    for i, request in enumerate(requests):
        first_of.setdefault(request.command.reservation_id, i)
    firsts = [i for i, r in enumerate(requests) if first_of[r.command.reservation_id] == i]

    refusals = await _pickup_refusals(conn, [requests[i] for i in firsts])
    inserted = await group_store.insert_reservations(
        conn,
        [
            group_store.NewReservation(
                r.command.reservation_id, r.command.fulfilment, r.command.allow_split, r.digest, r.command.ttl
            )
            for r in (requests[i] for i in firsts)
            if r.command.reservation_id not in refusals
        ],
    )
    # A repeat, a concurrent Reserve of the same id that committed first, or a refusal.
    others = [requests[i].command.reservation_id for i in firsts if requests[i].command.reservation_id not in inserted]
    existing = {r.reservation_id: r for r in await reservation_store.get_reservations(conn, others)} if others else {}
    new = [i for i in firsts if requests[i].command.reservation_id in inserted]
    for i in firsts:
        reservation_id = requests[i].command.reservation_id
        if reservation_id in existing:
            answers[i] = existing[reservation_id]
        elif reservation_id in refusals:
            answers[i] = refusals[reservation_id]
        elif reservation_id not in inserted:  # taken, then gone again before we could read it
            answers[i] = Aborted("the reservation id changed hands; retry", reason="CONCURRENT_CHANGE")

    events_out = group_store.Events()
    allocated: dict[str, tuple[Allocation, ...]] = {}
    refused: list[str] = []
    if new:
        sku_list = sorted({line.sku for i in new for line in requests[i].command.lines})
        locked = await reservation_store.lock_skus(conn, sku_list)
        thresholds = {sku: threshold(own) for sku, own in locked.thresholds.items()}
        stock = Stock(await reservation_store.candidates(conn, sku_list))
        for i in new:
            request = requests[i]
            outcome = _plan(request, stock, policy, thresholds, locked.versions, events_out)
            reservation_id = request.command.reservation_id
            if isinstance(outcome, Exception):
                answers[i] = outcome
                refused.append(reservation_id)
                continue
            allocated[reservation_id] = outcome
            row = inserted[reservation_id]
            answers[i] = Reservation(
                reservation_id=reservation_id,
                status=ReservationStatus.ACTIVE,
                fulfilment=request.command.fulfilment,
                allow_split=request.command.allow_split,
                # In the order the database returns them, so that a replay reads the same.
                allocations=tuple(sorted(outcome, key=lambda a: (a.sku, a.location_id))),
                expires_at=row.expires_at,
                created_at=row.created_at,
                updated_at=row.updated_at,
                fingerprint=request.digest,
            )
        if not await group_store.apply_reserves(conn, allocated, refused, events_out):
            # Cannot happen while the SKU rows are locked; the conditional UPDATE is the last guard.
            raise Aborted("stock changed during allocation; retry", reason="CONCURRENT_CHANGE")
        await reservation_store.save_versions(conn, locked.versions)

    result: list[Answer] = []
    for i, request in enumerate(requests):
        answer = answers[first_of[request.command.reservation_id]]
        if isinstance(answer, Reservation):
            result.append(same_request(answer, request))
        elif i == first_of[request.command.reservation_id]:
            result.append(answer)
        else:  # its first request was refused: it goes again, as it would have after it alone
            result.append(AGAIN)
    return result


def _plan(
    request: Request,
    stock: Stock,
    policy: AllocationPolicy,
    thresholds: Mapping[str, int],
    versions: StockVersions,
    events_out: group_store.Events,
) -> tuple[Allocation, ...] | Exception:
    """Allocate one request from the group's current stock; stage its events with their figures."""
    command = request.command
    sku_list = [line.sku for line in command.lines]
    available = stock.of(sku_list)
    plan = domain.allocate(command.lines, available, command.fulfilment, allow_split=command.allow_split, policy=policy)
    if plan.shortages:
        where = f"at store {command.fulfilment.store_id}" if command.fulfilment.is_pickup else "to ship"
        return insufficient_stock(plan.shortages, where)
    before = domain.totals_by_sku(available)
    after = dict(before)
    for line in command.lines:
        after[line.sku] = after.get(line.sku, 0) - line.quantity
    levels = stock.take(plan.allocations)
    staged = events.stock_events(
        levels, cause=Cause.RESERVE, before=before, after=after, threshold=thresholds.__getitem__, versions=versions
    )
    events_out.add(staged, request.headers)
    return plan.allocations


async def _pickup_refusals(conn: DriverConnection, requests: Sequence[Request]) -> dict[str, DomainError]:
    """Why new pickup reservations are refused, by reservation id (a repeated Reserve still gets its
    reservation after the store changed)."""
    stores = {r.command.fulfilment.store_id for r in requests if r.command.fulfilment.is_pickup}
    found = {store_id: await reservation_store.get_location(conn, store_id) for store_id in sorted(stores)}
    refusals: dict[str, DomainError] = {}
    for request in requests:
        store_id = request.command.fulfilment.store_id
        if not store_id:
            continue
        location = found[store_id]
        if location is None:
            refusals[request.command.reservation_id] = NotFound("location", store_id)
        elif not location.offers_pickup:
            refusals[request.command.reservation_id] = FailedPrecondition(
                f"location {store_id!r} is not an active click-and-collect store",
                reason=domain.PICKUP_NOT_AVAILABLE,
                metadata={"store_id": store_id},
            )
    return refusals
