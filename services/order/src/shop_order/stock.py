"""Giving a cancelled order's stock back to inventory; restocking returned units; reserving and
committing the stock of an exchange's replacement order.

An active reservation (a held order, or a confirmed one whose checkout had not committed it yet) is
released. A committed one has already left the stock, but nothing of a cancelled order shipped, so
its allocations are restocked where they were taken from; the restock id makes that happen once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc

from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop_order.payments import Outcome
from shopkit.auth import metadata_for
from shopkit.clients import make_channel
from shopkit.errors import parse_rpc_error
from shopkit.tls import Tls

SERVICE = metadata_for("service")
RESERVATION_COMMITTED = "RESERVATION_COMMITTED"  # inventory's ErrorInfo reason
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
)


class StockReturner:
    def __init__(self, inventory_addr: str, timeout: float, tls: Tls | None = None):
        self.channel = make_channel(
            inventory_addr,
            [inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"]],
            default_timeout=timeout,
            tls=tls,
        )
        self.stub = inventory_pb2_grpc.InventoryServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close(grace=None)

    async def give_back(self, reservation_id: str, key: str) -> Outcome:
        """Release the reservation, or restock it if it was committed (restock id `key`)."""
        try:
            released = await self.stub.Release(
                inventory_pb2.ReleaseRequest(reservation_id=reservation_id, reason="order_cancelled"), metadata=SERVICE
            )
            return Outcome(True, reference=f"released:{released.reservation.reservation_id}")
        except grpc.aio.AioRpcError as error:
            info = parse_rpc_error(error)
            if info.code is grpc.StatusCode.NOT_FOUND:
                return Outcome(True, reference="no-reservation")
            if info.reason != RESERVATION_COMMITTED:
                return _failure(info.code, f"release: {info.code.name} {info.reason} {info.message}")
        return await self._restock(reservation_id, key)

    async def _restock(self, reservation_id: str, key: str) -> Outcome:
        try:
            reservation = await self.stub.GetReservation(
                inventory_pb2.GetReservationRequest(reservation_id=reservation_id), metadata=SERVICE
            )
            entries = [
                inventory_pb2.RestockEntry(sku=line.sku, location_id=a.location_id, quantity=a.quantity)
                for line in reservation.lines
                for a in line.allocations
            ]
            await self.stub.Restock(
                inventory_pb2.RestockRequest(
                    restock_id=key, entries=entries, reason=f"order cancelled (reservation {reservation_id})"
                ),
                metadata=SERVICE,
            )
        except grpc.aio.AioRpcError as error:
            info = parse_rpc_error(error)
            return _failure(info.code, f"restock: {info.code.name} {info.reason} {info.message}")
        return Outcome(True, reference=f"restocked:{key}")

    async def restock(self, payload: Mapping[str, Any], key: str) -> Outcome:
        """Put a return's accepted sellable units back where they were received (restock id `key`:
        inventory applies it once)."""
        entries = [
            inventory_pb2.RestockEntry(sku=e["sku"], location_id=e["location_id"], quantity=int(e["quantity"]))
            for e in payload.get("entries", [])
        ]
        if not entries:
            return Outcome(True, reference="nothing-to-restock")
        try:
            await self.stub.Restock(
                inventory_pb2.RestockRequest(restock_id=key, entries=entries, reason=str(payload.get("reason", ""))),
                metadata=SERVICE,
            )
        except grpc.aio.AioRpcError as error:
            info = parse_rpc_error(error)
            return _failure(info.code, f"restock: {info.code.name} {info.reason} {info.message}")
        return Outcome(True, reference=f"restocked:{key}")

    async def reserve_and_commit(self, reservation_id: str, payload: Mapping[str, Any]) -> Outcome:
        """Take a replacement order's stock: Reserve under its reservation id (a repeat returns the same
        reservation), then Commit it (committing a committed one is a no-op)."""
        request = inventory_pb2.ReserveRequest(
            reservation_id=reservation_id,
            lines=[inventory_pb2.ReservationLine(sku=x["sku"], quantity=int(x["quantity"])) for x in payload["lines"]],
            allow_split=True,
        )
        if payload.get("store_id"):
            request.pickup.store_id = str(payload["store_id"])
            request.allow_split = False
        else:
            request.ship.country = str(payload.get("country", ""))
        try:
            await self.stub.Reserve(request, metadata=SERVICE)
            await self.stub.Commit(inventory_pb2.CommitRequest(reservation_id=reservation_id), metadata=SERVICE)
        except grpc.aio.AioRpcError as error:
            info = parse_rpc_error(error)
            return _failure(info.code, f"reserve: {info.code.name} {info.reason} {info.message}")
        return Outcome(True, reference=f"committed:{reservation_id}")


def _failure(code: grpc.StatusCode, error: str) -> Outcome:
    return Outcome(False, retryable=code in RETRYABLE, error=error[:500])
