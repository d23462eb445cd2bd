"""The inventory use cases. Each runs in one transaction that changes state and stages its events,
then wakes the outbox relay. Locks are taken in the order documented in `store`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shop_inventory import domain, events, reservation_store, store
from shop_inventory.domain import (
    Action,
    Allocation,
    AllocationPolicy,
    Cause,
    Fulfilment,
    Line,
    Location,
    Reservation,
    ReservationStatus,
    Shortage,
    StockLevel,
)
from shopkit.db import Database, DriverConnection
from shopkit.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    NotFound,
    PreconditionViolation,
)
from shopkit.outbox import OutboxRelay
from shopkit.outbox_driver import event_rows


def insufficient_stock(shortages: Sequence[Shortage], where: str) -> FailedPrecondition:
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


@dataclass(frozen=True)
class ReserveCommand:
    reservation_id: str
    lines: tuple[Line, ...]
    fulfilment: Fulfilment
    ttl: timedelta
    allow_split: bool


class Inventory:
    def __init__(
        self, db: Database, relay: OutboxRelay | None, policy: AllocationPolicy, default_low_stock_threshold: int
    ):
        self.db = db
        self.relay = relay
        self.policy = policy
        self.default_threshold = default_low_stock_threshold

    def _published(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    def _effective(self, own: int | None) -> int:
        return self.default_threshold if own is None else own

    def _threshold(self, own: dict[str, int | None]) -> dict[str, int]:
        return {sku: self._effective(value) for sku, value in own.items()}

    # --- locations ---------------------------------------------------------------------------

    async def create_location(self, location: Location) -> Location:
        async with self.db.transaction() as conn:
            created = await store.insert_location(conn, location)
            if created is not None:
                return created
            existing = await store.get_location(conn, location.location_id)
        assert existing is not None
        if _same_location(existing, location):
            return existing
        raise AlreadyExists(
            f"location {location.location_id!r} exists with other fields",
            reason=domain.REQUEST_ID_REUSED,
            metadata={"location_id": location.location_id},
        )

    async def update_location(self, location: Location, fields: Sequence[str]) -> Location:
        async with self.db.transaction() as conn:
            existing = await store.get_location(conn, location.location_id)
            if existing is None:
                raise NotFound("location", location.location_id)
            offers_pickup = "click_and_collect" in fields and location.click_and_collect
            if offers_pickup and existing.type is not domain.LocationType.STORE:
                raise FailedPrecondition("only stores offer click and collect", reason=domain.PICKUP_NOT_AVAILABLE)
            updated = await store.update_location(conn, location, fields)
        assert updated is not None
        return updated

    async def get_location(self, location_id: str) -> Location:
        async with self.db.driver() as conn:
            found = await reservation_store.get_location(conn, location_id)
        if found is None:
            raise NotFound("location", location_id)
        return found

    async def list_locations(
        self,
        *,
        type: domain.LocationType | None,
        country: str,
        pickup_only: bool,
        include_inactive: bool,
        after: str | None,
        limit: int,
    ) -> list[Location]:
        async with self.db.connect() as conn:
            return await store.list_locations(
                conn,
                type=type,
                country=country,
                pickup_only=pickup_only,
                include_inactive=include_inactive,
                after=after,
                limit=limit,
            )

    # --- stock administration ------------------------------------------------------------------

    async def adjust(self, adjustment_id: str, sku: str, location_id: str, delta: int, reason: str) -> StockLevel:
        lines = [{"sku": sku, "location_id": location_id, "quantity": delta}]
        levels = await self._keyed_change("adjust", adjustment_id, reason, lines, Cause.ADJUST)
        return levels[0]

    async def restock(self, restock_id: str, entries: Sequence[tuple[str, str, int]], reason: str) -> list[StockLevel]:
        lines = [{"sku": sku, "location_id": loc, "quantity": quantity} for sku, loc, quantity in entries]
        return await self._keyed_change("restock", restock_id, reason, lines, Cause.RESTOCK)

    async def set_stock(self, entries: Sequence[tuple[str, str, int]]) -> list[StockLevel]:
        async with self.db.transaction() as conn:
            levels = await self._change_on_hand(conn, entries, relative=False, cause=Cause.SET)
        self._published()
        return levels

    async def _keyed_change(
        self, kind: str, key: str, reason: str, lines: list[dict[str, Any]], cause: Cause
    ) -> list[StockLevel]:
        """A relative change that a client-chosen id makes safe to repeat."""
        digest = domain.fingerprint({"kind": kind, "reason": reason, "lines": lines})
        entries = [(str(line["sku"]), str(line["location_id"]), int(line["quantity"])) for line in lines]
        async with self.db.transaction() as conn:
            first_digest = await store.record_adjustment(conn, key, kind, digest, reason, lines)
            if first_digest is None:
                levels = await self._change_on_hand(conn, entries, relative=True, cause=cause)
            elif first_digest != digest:
                raise AlreadyExists(
                    f"{kind} id {key!r} was used for a different request",
                    reason=domain.REQUEST_ID_REUSED,
                    metadata={"id": key},
                )
            else:
                found = await store.stock_levels(conn, [sku for sku, _, _ in entries])
                current = {(lv.sku, lv.location_id): lv for lv in found}
                levels = [current.get((sku, loc), StockLevel(sku, loc, 0, 0)) for sku, loc, _ in entries]
        self._published()
        return levels

    async def _change_on_hand(
        self, conn: AsyncConnection, entries: Sequence[tuple[str, str, int]], *, relative: bool, cause: Cause
    ) -> list[StockLevel]:
        missing = await store.missing_locations(conn, [loc for _, loc, _ in entries])
        if missing:
            raise NotFound("location", missing[0])
        sku_list = [sku for sku, _, _ in entries]
        await store.ensure_skus(conn, sku_list)
        thresholds = self._threshold(await store.lock_skus(conn, sku_list))
        current = {(lv.sku, lv.location_id): lv for lv in await store.stock_levels(conn, sku_list)}
        targets, problems = domain.on_hand_targets(entries, current, relative=relative)
        if problems:
            raise FailedPrecondition(
                "on-hand cannot go below what is reserved",
                reason=domain.BELOW_RESERVED,
                violations=[
                    PreconditionViolation(
                        domain.BELOW_RESERVED,
                        f"{p.sku}@{p.location_id}",
                        f"on-hand would be {p.on_hand}, reserved is {p.reserved}",
                    )
                    for p in problems
                ],
            )
        before = await store.available_totals(conn, sku_list)
        written = {(lv.sku, lv.location_id): lv for lv in await store.put_on_hand(conn, targets)}
        after = await store.available_totals(conn, sku_list)
        changed = [lv for key, lv in written.items() if key not in current or current[key] != lv]
        await events.stock_changed(
            conn, changed, cause=cause, before=before, after=after, threshold=thresholds.__getitem__
        )
        return [written[(sku, loc)] for sku, loc, _ in entries]

    async def set_thresholds(self, thresholds: Sequence[tuple[str, int | None]]) -> list[tuple[str, int]]:
        async with self.db.transaction() as conn:
            await store.set_thresholds(conn, thresholds)
        return [(sku, self._effective(value)) for sku, value in thresholds]

    async def stock_levels(self, sku_list: Sequence[str]) -> list[StockLevel]:
        async with self.db.connect() as conn:
            return await store.stock_levels(conn, sku_list)

    # --- availability ----------------------------------------------------------------------------

    async def availability(
        self, sku_list: Sequence[str], store_id: str
    ) -> tuple[list[domain.Candidate], dict[str, int]]:
        """Available stock per active location of the SKUs and their effective thresholds."""
        async with self.db.driver() as conn:
            if store_id and await reservation_store.get_location(conn, store_id) is None:
                raise NotFound("location", store_id)
            stocked = await reservation_store.candidates(conn, sku_list)
            own = await reservation_store.thresholds_of(conn, sku_list)
        return [s.candidate for s in stocked], {sku: self._effective(own.get(sku)) for sku in sku_list}

    # --- reservations --------------------------------------------------------------------------

    async def reserve(self, command: ReserveCommand) -> Reservation:
        digest = domain.reservation_fingerprint(command.lines, command.fulfilment, command.allow_split)
        async with self.db.driver_transaction() as conn:
            refusal = None
            if command.fulfilment.is_pickup:
                refusal = await self._pickup_refusal(conn, command.fulfilment.store_id)
            created = None
            if refusal is None:
                created = await reservation_store.insert_reservation(
                    conn, command.reservation_id, command.fulfilment, command.allow_split, digest, command.ttl
                )
            if created is not None:
                allocated = await self._allocate(conn, command)
                # In the order the database returns them, so that a replay reads the same.
                ordered = tuple(sorted(allocated, key=lambda a: (a.sku, a.location_id)))
                existing = dataclasses.replace(created, allocations=ordered)
            else:  # a repeat, a concurrent Reserve with the same id that committed first, or a refusal
                found = await reservation_store.get_reservation(conn, command.reservation_id)
                if found is None:
                    assert refusal is not None
                    raise refusal
                existing = found
        if created is not None:
            self._published()
        if existing.fingerprint != digest:
            raise AlreadyExists(
                f"reservation {command.reservation_id!r} exists for a different request",
                reason=domain.REQUEST_ID_REUSED,
                metadata={"reservation_id": command.reservation_id},
            )
        return existing

    async def _pickup_refusal(self, conn: DriverConnection, store_id: str) -> DomainError | None:
        """Why a new pickup reservation at `store_id` is refused (None: it is not); a repeated
        Reserve still gets its reservation after the store changed."""
        location = await reservation_store.get_location(conn, store_id)
        if location is None:
            return NotFound("location", store_id)
        if not location.offers_pickup:
            return FailedPrecondition(
                f"location {store_id!r} is not an active click-and-collect store",
                reason=domain.PICKUP_NOT_AVAILABLE,
                metadata={"store_id": store_id},
            )
        return None

    async def _allocate(self, conn: DriverConnection, command: ReserveCommand) -> tuple[Allocation, ...]:
        """Under the SKU locks: read the stock, plan, then one statement reserves it, records the
        allocations and stages the events (whose figures the locked read makes exact)."""
        sku_list = [line.sku for line in command.lines]
        thresholds = self._threshold(await reservation_store.lock_skus(conn, sku_list))
        stocked = await reservation_store.candidates(conn, sku_list)
        available = [s.candidate for s in stocked]
        plan = domain.allocate(
            command.lines, available, command.fulfilment, allow_split=command.allow_split, policy=self.policy
        )
        if plan.shortages:
            where = f"at store {command.fulfilment.store_id}" if command.fulfilment.is_pickup else "to ship"
            raise insufficient_stock(plan.shortages, where)
        current = {(s.level.sku, s.level.location_id): s.level for s in stocked}
        levels = []
        for a in sorted(plan.allocations, key=lambda a: (a.sku, a.location_id)):
            level = current[(a.sku, a.location_id)]
            levels.append(StockLevel(a.sku, a.location_id, level.on_hand, level.reserved + a.quantity))
        before = domain.totals_by_sku(available)
        after = dict(before)
        for line in command.lines:
            after[line.sku] = after.get(line.sku, 0) - line.quantity
        staged = events.stock_events(
            levels, cause=Cause.RESERVE, before=before, after=after, threshold=thresholds.__getitem__
        )
        if not await reservation_store.reserve_stock(
            conn, command.reservation_id, plan.allocations, event_rows(staged)
        ):
            # Cannot happen while the SKU rows are locked; the conditional UPDATE is the last guard.
            raise Aborted("stock changed during allocation; retry", reason="CONCURRENT_CHANGE")
        return plan.allocations

    async def get_reservation(self, reservation_id: str) -> Reservation:
        async with self.db.driver() as conn:
            found = await reservation_store.get_reservation(conn, reservation_id)
        if found is None:
            raise NotFound("reservation", reservation_id)
        return found

    async def commit(self, reservation_id: str) -> Reservation:
        return await self._transition(reservation_id, Action.COMMIT, "")

    async def release(self, reservation_id: str, reason: str) -> Reservation:
        return await self._transition(reservation_id, Action.RELEASE, reason)

    async def _transition(self, reservation_id: str, action: Action, reason: str) -> Reservation:
        async with self.db.driver_transaction() as conn:
            reservation = await reservation_store.get_reservation(conn, reservation_id, for_update=True)
            if reservation is None:
                raise NotFound("reservation", reservation_id)
            step = domain.plan_transition(reservation.status, action, overdue=reservation.overdue)
            if step.target is not None:
                (reservation,) = await self._finish(conn, [reservation], step.target, reason)
        if step.target is not None:
            self._published()
        if step.error is not None:
            # An overdue reservation was expired above (and stays expired); then the commit fails.
            raise FailedPrecondition(
                f"reservation {reservation_id!r} is {reservation.status.value}; cannot {action.value} it",
                reason=step.error,
                metadata={"reservation_id": reservation_id, "status": reservation.status.value},
            )
        return reservation

    async def expire_due(self, limit: int) -> int:
        """Expire up to `limit` overdue reservations; safe to run on several replicas at once."""
        async with self.db.driver_transaction() as conn:
            due = await reservation_store.lock_due_reservations(conn, limit)
            if due:
                await self._finish(conn, due, ReservationStatus.EXPIRED, "")
        if due:
            self._published()
        return len(due)

    async def _finish(
        self, conn: DriverConnection, batch: Sequence[Reservation], target: ReservationStatus, reason: str
    ) -> list[Reservation]:
        """Move locked active reservations to `target`, moving their stock, with events; the
        reservations as they are now."""
        deltas: dict[tuple[str, str], tuple[int, int]] = {}
        for reservation in batch:
            for allocation in reservation.allocations:
                d_on_hand, d_reserved = domain.stock_movement(target, allocation)
                key = (allocation.sku, allocation.location_id)
                old = deltas.get(key, (0, 0))
                deltas[key] = (old[0] + d_on_hand, old[1] + d_reserved)
        sku_list = sorted({sku for sku, _ in deltas})
        thresholds = self._threshold(await reservation_store.lock_skus(conn, sku_list))
        ids = [r.reservation_id for r in batch]
        moved = await reservation_store.finish_reservations(conn, ids, target, reason, deltas)
        staged = events.stock_events(
            moved.levels,
            cause=domain.cause_of(target),
            before=moved.before,
            after=moved.after,
            threshold=thresholds.__getitem__,
        )
        staged.extend(events.reservations_finished(batch, target, reason))
        await reservation_store.outbox.add(conn, staged)
        return [
            dataclasses.replace(r, status=target, updated_at=moved.at or r.updated_at, overdue=False) for r in batch
        ]


def _same_location(existing: Location, wanted: Location) -> bool:
    keep = ("type", "name", "country", "address", "priority", "click_and_collect", "active")
    return all(getattr(existing, name) == getattr(wanted, name) for name in keep)
