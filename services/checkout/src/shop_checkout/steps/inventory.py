"""The saga's inventory calls: RESERVE_STOCK (Reserve) and its undo (Release), COMMIT_STOCK
(Commit; an approval that outlived the stock hold reserves the same lines anew first), and the
pickup store (GetLocation) that the quote and the fraud assessment look up.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, timedelta

import grpc
from google.protobuf.duration_pb2 import Duration

from shop.inventory.v1 import inventory_pb2
from shop_checkout.domain.model import Checkout, FailureCode, Pickup, StepKind
from shop_checkout.domain.outcomes import Compensated, Failed, Outcome, Reserved, StockCommitted, Succeeded
from shop_checkout.domain.saga import reservation_ttl
from shop_checkout.domain.transitions import Policy
from shop_checkout.peers import PeerError, Peers
from shop_checkout.steps.messages import failure_message, pickup_message

RESERVATION_EXPIRED = "RESERVATION_EXPIRED"  # inventory's reason
STOCK_LAPSED = (
    "The stock held for this order ran out while it waited for its approvals and is no longer available; "
    "the order was cancelled and nothing was charged. Please order again (or ask for a new quote)."
)


async def pickup_store(peers: Peers, store_id: str) -> inventory_pb2.Location | None:
    """A pickup store; None when it is no active click-and-collect store."""
    try:
        location = await peers.call(
            "inventory",
            peers.inventory.GetLocation,
            inventory_pb2.GetLocationRequest(location_id=store_id),
        )
    except PeerError as exc:
        if exc.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return None
        raise
    usable = location.type == inventory_pb2.LOCATION_TYPE_STORE and location.click_and_collect and location.active
    return location if usable else None


async def pickup_country(peers: Peers, store_id: str) -> str | None:
    """The country of a pickup store; None when it is no active click-and-collect store."""
    location = await pickup_store(peers, store_id)
    return location.country if location is not None else None


def reserve_request(c: Checkout, ttl: timedelta, *, allow_split: bool) -> inventory_pb2.ReserveRequest:
    quantities: dict[str, int] = {}
    for line in c.cart.lines:
        quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
    duration = Duration()
    duration.FromTimedelta(ttl)
    request = inventory_pb2.ReserveRequest(
        reservation_id=c.checkout_id,
        lines=[inventory_pb2.ReservationLine(sku=sku, quantity=q) for sku, q in sorted(quantities.items())],
        ttl=duration,
    )
    fulfilment = c.request.fulfilment
    if isinstance(fulfilment, Pickup):
        request.pickup.store_id = fulfilment.store_id
    else:
        request.ship.country = fulfilment.address.country
        request.allow_split = allow_split
    return request


async def reserve_stock(peers: Peers, policy: Policy, c: Checkout, *, allow_split: bool) -> Outcome:
    kind = StepKind.RESERVE_STOCK
    fulfilment = c.request.fulfilment
    request = reserve_request(c, reservation_ttl(c, policy), allow_split=allow_split)
    try:
        response = await peers.call("inventory", peers.inventory.Reserve, request)
    except PeerError as exc:
        if exc.reason == "INSUFFICIENT_STOCK":
            short = "; ".join(f"{v.subject.removeprefix('sku:')}: {v.description}" for v in exc.info.preconditions)
            message = f"Not enough stock{' (' + short + ')' if short else ''}."
            return Failed(kind, FailureCode.OUT_OF_STOCK, message)
        if exc.reason == "PICKUP_NOT_AVAILABLE" or exc.code is grpc.StatusCode.NOT_FOUND:
            store = fulfilment.store_id if isinstance(fulfilment, Pickup) else ""
            return Failed(kind, FailureCode.PICKUP_UNAVAILABLE, pickup_message(store))
        raise
    reservation = response.reservation
    if reservation.status != inventory_pb2.RESERVATION_STATUS_ACTIVE:
        # A repeat found the reservation of an earlier attempt already released or expired.
        return Failed(kind, FailureCode.OUT_OF_STOCK, "The items could no longer be held for you.")
    return Succeeded(kind, Reserved(reservation.expires_at.ToDatetime(tzinfo=UTC)))


async def commit_stock(peers: Peers, policy: Policy, c: Checkout, *, allow_split: bool) -> Outcome:
    kind = StepKind.COMMIT_STOCK
    request = inventory_pb2.CommitRequest(reservation_id=c.checkout_id)
    try:
        await peers.call("inventory", peers.inventory.Commit, request)
    except PeerError as exc:
        lapsed = exc.reason == RESERVATION_EXPIRED and c.approval_required
        if lapsed:
            # A long approval outlived the stock hold: the same lines again, under the same id
            # (the order's reservation_id stays valid), then the commit.
            refused = await _reserve_again(peers, policy, c, allow_split=allow_split)
            if refused is not None:
                return refused
            return await commit_stock(
                peers, policy, dataclasses.replace(c, approval_required=False), allow_split=allow_split
            )
        if exc.code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
            return Failed(kind, FailureCode.STOCK_COMMIT_FAILED, failure_message(FailureCode.STOCK_COMMIT_FAILED))
        raise
    return Succeeded(kind, StockCommitted())


async def _reserve_again(peers: Peers, policy: Policy, c: Checkout, *, allow_split: bool) -> Failed | None:
    """Reserve an approved order's lapsed reservation anew; a Failed COMMIT_STOCK when the stock
    is gone (the order is cancelled and nothing is charged: the buyer re-orders or re-quotes)."""
    request = reserve_request(c, policy.reservation_ttl, allow_split=allow_split)
    request.renew_expired = True
    try:
        await peers.call("inventory", peers.inventory.Reserve, request)
    except PeerError as exc:
        if exc.reason != "INSUFFICIENT_STOCK":
            raise
        return Failed(StepKind.COMMIT_STOCK, FailureCode.OUT_OF_STOCK, STOCK_LAPSED)
    return None


async def release_stock(peers: Peers, c: Checkout) -> Outcome:
    kind = StepKind.RESERVE_STOCK
    reason = c.failure.code.value if c.failure else "checkout_failed"
    request = inventory_pb2.ReleaseRequest(reservation_id=c.checkout_id, reason=reason)
    try:
        await peers.call("inventory", peers.inventory.Release, request)
    except PeerError as exc:
        if exc.code is grpc.StatusCode.NOT_FOUND:
            return Compensated(kind, note="nothing was reserved")
        if exc.reason == "RESERVATION_COMMITTED":
            return Compensated(kind, note="stock was committed; the order's cancellation gives it back")
        raise
    return Compensated(kind, note="stock released")
