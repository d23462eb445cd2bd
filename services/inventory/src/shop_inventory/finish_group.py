"""Commit and Release for a group of requests, in one transaction (see `grouping`).

The reservations are locked in id order, then their SKUs; one statement moves the stock of every
reservation that leaves `active` and sets its status. Each request gets what it would have got alone
in arrival order, and its events carry the figures of that moment: the statement returns the stock
rows after the whole group and their totals before it, and the group's own deltas, replayed in
order, give the figures in between exactly (the SKU rows are locked).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from shop_inventory import domain, events, group_store, reservation_store
from shop_inventory.domain import Action, Reservation, ReservationStatus, StockLevel
from shop_inventory.grouping import AGAIN, Again
from shopkit.errors import FailedPrecondition, NotFound
from shopkit.sqldriver import DriverConnection

Answer = Reservation | Exception | Again


@dataclass(frozen=True)
class Finish:
    """A Commit or Release as it waits for its group, with its trace headers."""

    reservation_id: str
    action: Action
    reason: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class _Move:
    request: Finish
    reservation: Reservation
    target: ReservationStatus


async def finish_group(
    conn: DriverConnection, requests: Sequence[Finish], threshold: Callable[[int | None], int]
) -> tuple[list[Answer], bool]:
    """Every request's answer, in the caller's transaction; and whether any reservation changed."""
    first_of: dict[str, int] = {}
    for i, request in enumerate(requests):
        first_of.setdefault(request.reservation_id, i)
    ids = sorted(first_of)
    found = {r.reservation_id: r for r in await reservation_store.get_reservations(conn, ids, for_update=True)}
    steps: dict[int, domain.Transition] = {}
    moves: list[_Move] = []
    for i, request in enumerate(requests):
        reservation = found.get(request.reservation_id)
        if first_of[request.reservation_id] != i or reservation is None:
            continue
        step = steps[i] = domain.plan_transition(reservation.status, request.action, overdue=reservation.overdue)
        if step.target is not None:
            moves.append(_Move(request, reservation, step.target))
    if moves:
        for reservation in await _move(conn, moves, threshold):
            found[reservation.reservation_id] = reservation

    answers: list[Answer] = []
    for i, request in enumerate(requests):
        reservation = found.get(request.reservation_id)
        if first_of[request.reservation_id] != i:
            answers.append(AGAIN)  # a repeat of an id of this group goes after it, as it would alone
        elif reservation is None:
            answers.append(NotFound("reservation", request.reservation_id))
        elif (error := steps[i].error) is not None:
            # An overdue reservation was expired (and stays expired); then the commit fails.
            answers.append(
                FailedPrecondition(
                    f"reservation {request.reservation_id!r} is {reservation.status.value}; "
                    f"cannot {request.action.value} it",
                    reason=error,
                    metadata={"reservation_id": request.reservation_id, "status": reservation.status.value},
                )
            )
        else:
            answers.append(reservation)
    return answers, bool(moves)


async def _move(
    conn: DriverConnection, moves: Sequence[_Move], threshold: Callable[[int | None], int]
) -> list[Reservation]:
    """Move the stock of the reservations and set their status, with each request's events; the
    reservations as they are now."""
    steps: list[list[tuple[tuple[str, str], int, int]]] = []
    deltas: dict[tuple[str, str], tuple[int, int]] = {}
    for move in moves:
        step = []
        for allocation in move.reservation.allocations:
            d_on_hand, d_reserved = domain.stock_movement(move.target, allocation)
            key = (allocation.sku, allocation.location_id)
            old = deltas.get(key, (0, 0))
            deltas[key] = (old[0] + d_on_hand, old[1] + d_reserved)
            step.append((key, d_on_hand, d_reserved))
        steps.append(sorted(step))
    sku_list = sorted({sku for sku, _ in deltas})
    locked = await reservation_store.lock_skus(conn, sku_list)
    thresholds = {sku: threshold(value) for sku, value in locked.thresholds.items()}
    targets = [(m.reservation.reservation_id, m.target, m.request.reason) for m in moves]
    moved = await reservation_store.finish_reservations(conn, targets, deltas)

    # Replay the group from the rows as they were before it.
    levels = {}
    for level in moved.levels:
        d_on_hand, d_reserved = deltas[(level.sku, level.location_id)]
        levels[(level.sku, level.location_id)] = (level.on_hand - d_on_hand, level.reserved - d_reserved)
    totals = dict(moved.before)
    staged = group_store.Events()
    for move, step in zip(moves, steps, strict=True):
        before = {key[0]: totals.get(key[0], 0) for key, _, _ in step}
        changed = []
        for key, d_on_hand, d_reserved in step:
            on_hand, reserved = levels[key]
            levels[key] = (on_hand + d_on_hand, reserved + d_reserved)
            changed.append(StockLevel(key[0], key[1], on_hand + d_on_hand, reserved + d_reserved))
            if key in moved.active:
                totals[key[0]] = totals.get(key[0], 0) + d_on_hand - d_reserved
        out = events.stock_events(
            changed,
            cause=domain.cause_of(move.target),
            before=before,
            after=totals,
            threshold=thresholds.__getitem__,
            versions=locked.versions,
        )
        out.extend(events.reservations_finished([move.reservation], move.target, move.request.reason))
        staged.add(out, move.request.headers)
    await group_store.stage_events(conn, staged)
    await reservation_store.save_versions(conn, locked.versions)
    return [
        dataclasses.replace(
            m.reservation, status=m.target, updated_at=moved.at or m.reservation.updated_at, overdue=False
        )
        for m in moves
    ]
