"""The inventory use cases. Each runs in one transaction that changes state and stages its events,
then wakes the outbox relay. Locks are taken in the order documented in `store`. Reserve, Commit and
Release run in groups of the concurrent requests of this process (`grouping`): one transaction for
a group, one answer for each request."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shop_inventory import domain, events, finish_group, reservation_store, reserve_group, store
from shop_inventory.domain import (
    Action,
    AllocationPolicy,
    Cause,
    Location,
    Reservation,
    ReservationStatus,
    StockLevel,
)
from shop_inventory.grouping import Groups
from shop_inventory.reserve_group import ReserveCommand
from shopkit import tracing
from shopkit.db import Database, DriverConnection
from shopkit.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PreconditionViolation,
)
from shopkit.outbox import OutboxRelay


class Inventory:
    def __init__(
        self, db: Database, relay: OutboxRelay | None, policy: AllocationPolicy, default_low_stock_threshold: int
    ):
        self.db = db
        self.relay = relay
        self.policy = policy
        self.default_threshold = default_low_stock_threshold
        self._reserves = Groups[reserve_group.Request, Reservation]("inventory.Reserve group", self._reserve_group)
        self._finishes = Groups[finish_group.Finish, Reservation]("inventory.Finish group", self._finish_group)

    @property
    def groups_run(self) -> tuple[int, int]:
        """Transactions run for Reserves and for Commits/Releases (several requests each under load)."""
        return self._reserves.groups, self._finishes.groups

    def _published(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    def published(self) -> None:
        """Events were staged by the caller's committed transaction (an ERP feed's batch)."""
        self._published()

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
            if "active" in fields and location.active != existing.active:
                updated = await self._open_or_close(conn, location, fields)
            else:
                updated = await store.update_location(conn, location, fields)
        self._published()
        assert updated is not None
        return updated

    async def _open_or_close(self, conn: AsyncConnection, location: Location, fields: Sequence[str]) -> Location | None:
        """Closing a location takes its stock out of every SKU's available total (reopening puts it
        back): a StockLevelChanged per SKU stocked there, with the SKU's next version, so readers such
        as search see the new totals. The SKUs are locked first, as every stock change locks them."""
        sku_list = await store.skus_at(conn, location.location_id)
        locked = await store.lock_skus(conn, sku_list)
        before = await store.available_totals(conn, sku_list)
        updated = await store.update_location(conn, location, fields)
        after = await store.available_totals(conn, sku_list)
        levels = [lv for lv in await store.stock_levels(conn, sku_list) if lv.location_id == location.location_id]
        await events.stock_changed(
            conn,
            levels,
            cause=Cause.LOCATION_OPENED if location.active else Cause.LOCATION_CLOSED,
            before=before,
            after=after,
            threshold=self._threshold(locked.thresholds).__getitem__,
            versions=locked.versions,
        )
        await store.save_versions(conn, locked.versions)
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

    async def change_on_hand(
        self, conn: AsyncConnection, entries: Sequence[tuple[str, str, int]], relative: bool, cause: Cause
    ) -> list[StockLevel]:
        """The stock change on the caller's transaction (an ERP feed's batch; the caller wakes the relay)."""
        return await self._change_on_hand(conn, entries, relative=relative, cause=cause)

    async def _change_on_hand(
        self, conn: AsyncConnection, entries: Sequence[tuple[str, str, int]], *, relative: bool, cause: Cause
    ) -> list[StockLevel]:
        missing = await store.missing_locations(conn, [loc for _, loc, _ in entries])
        if missing:
            raise NotFound("location", missing[0])
        sku_list = [sku for sku, _, _ in entries]
        await store.ensure_skus(conn, sku_list)
        locked = await store.lock_skus(conn, sku_list)
        thresholds = self._threshold(locked.thresholds)
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
            conn,
            changed,
            cause=cause,
            before=before,
            after=after,
            threshold=thresholds.__getitem__,
            versions=locked.versions,
        )
        await store.save_versions(conn, locked.versions)
        return [written[(sku, loc)] for sku, loc, _ in entries]

    async def set_thresholds(self, thresholds: Sequence[tuple[str, int | None]]) -> list[tuple[str, int]]:
        async with self.db.transaction() as conn:
            await store.set_thresholds(conn, thresholds)
        return [(sku, self._effective(value)) for sku, value in thresholds]

    async def stock_levels(self, sku_list: Sequence[str]) -> list[StockLevel]:
        async with self.db.connect() as conn:
            return await store.stock_levels(conn, sku_list)

    async def stock_totals(self, after: str | None, limit: int) -> list[tuple[str, int, int]]:
        async with self.db.connect() as conn:
            return await store.stock_totals(conn, after, limit)

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
        """Reserve in a group with the concurrent Reserves of the same SKUs (see `grouping`)."""
        digest = domain.reservation_fingerprint(command.lines, command.fulfilment, command.allow_split)
        if command.renew_expired:
            await self._drop_expired(command.reservation_id, digest)
        request = reserve_group.Request(command, digest, tracing.inject_headers())
        return await self._reserves.submit(request.sku_key, request)

    async def _drop_expired(self, reservation_id: str, digest: str) -> None:
        """Forget an expired reservation of the same request (its stock went back when it expired,
        and its expiry was published), so that the Reserve that follows makes it anew under its id.
        Another request's reservation stays: that Reserve is then REQUEST_ID_REUSED, as always."""
        async with self.db.driver_transaction() as conn:
            found = await reservation_store.get_reservation(conn, reservation_id, for_update=True)
            if found is not None and found.status is ReservationStatus.EXPIRED and found.fingerprint == digest:
                await reservation_store.delete_expired(conn, reservation_id)

    async def _reserve_group(self, requests: Sequence[reserve_group.Request]) -> list[reserve_group.Answer]:
        async with self.db.driver_transaction() as conn:
            answers = await reserve_group.reserve_group(conn, requests, self.policy, self._effective)
        if any(isinstance(answer, Reservation) for answer in answers):
            self._published()
        return answers

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
        """Commit or Release in a group with the concurrent ones of this process (see `grouping`)."""
        request = finish_group.Finish(reservation_id, action, reason, tracing.inject_headers())
        return await self._finishes.submit(None, request)

    async def _finish_group(self, requests: Sequence[finish_group.Finish]) -> list[finish_group.Answer]:
        async with self.db.driver_transaction() as conn:
            answers, changed = await finish_group.finish_group(conn, requests, self._effective)
        if changed:
            self._published()
        return answers

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
        locked = await reservation_store.lock_skus(conn, sku_list)
        thresholds = self._threshold(locked.thresholds)
        targets = [(r.reservation_id, target, reason) for r in batch]
        moved = await reservation_store.finish_reservations(conn, targets, deltas)
        staged = events.stock_events(
            moved.levels,
            cause=domain.cause_of(target),
            before=moved.before,
            after=moved.after,
            threshold=thresholds.__getitem__,
            versions=locked.versions,
        )
        staged.extend(events.reservations_finished(batch, target, reason))
        await reservation_store.outbox.add(conn, staged)
        await reservation_store.save_versions(conn, locked.versions)
        return [
            dataclasses.replace(r, status=target, updated_at=moved.at or r.updated_at, overdue=False) for r in batch
        ]


def _same_location(existing: Location, wanted: Location) -> bool:
    keep = ("type", "name", "country", "address", "priority", "click_and_collect", "active")
    return all(getattr(existing, name) == getattr(wanted, name) for name in keep)
