"""The return use cases. Each runs in the unit of work of the return's order: lock the order, read its
returns, decide (`domain.returning`), then write the order's decision (history, refund, effects),
the return, a replacement order of an exchange, the effects that carry data (restock, the
replacement's stock) and the return's events — all in one transaction; after commit, wake the
outbox relay and the effect worker."""

from __future__ import annotations

from google.protobuf.message import Message

from shop.order.v1 import events_pb2
from shop_order import loading, placing, recording, return_codec, return_store
from shop_order.catalog_terms import CatalogTerms
from shop_order.domain import returning
from shop_order.domain.model import Actor, Effect, EffectKind, Order
from shop_order.domain.returning import ReturnDecision
from shop_order.domain.returns import InspectCommand, RequestCommand, Return, ReturnStatus
from shop_order.operations import Orders, now
from shopkit.db import DriverConnection
from shopkit.errors import NotFound

RETURN_REQUESTED = "shop.order.return_requested"
RETURN_RECEIVED = "shop.order.return_received"
RETURN_INSPECTED = "shop.order.return_inspected"
RETURN_REFUNDED = "shop.order.return_refunded"


class Returns:
    def __init__(self, orders: Orders, catalog: CatalogTerms):
        self.orders = orders
        self.db = orders.db
        self.catalog = catalog

    # --- reads -------------------------------------------------------------------------------------

    async def get(self, actor: Actor, return_id: str) -> tuple[Return, Order]:
        async with self.db.driver() as conn:
            order_id = await return_store.order_of(conn, return_id)
            order = None if order_id is None else await loading.load_order(conn, order_id=order_id)
            found = () if order is None else await return_store.of_order(conn, order.order_id)
        ret = next((r for r in found if r.return_id == return_id), None)
        if ret is None or order is None or not returning.can_see(order, actor):
            raise NotFound("return", return_id)
        return ret, order

    async def list_returns(self, actor: Actor, order_id: str) -> tuple[tuple[Return, ...], Order]:
        async with self.db.driver() as conn:
            order = await loading.load_order(conn, order_id=order_id)
            if order is None or not returning.can_see(order, actor):
                raise NotFound("order", order_id)
            return await return_store.of_order(conn, order_id), order

    # --- steps -------------------------------------------------------------------------------------

    async def request(self, order_id: str, command: RequestCommand, actor: Actor) -> tuple[Return, Order]:
        async with self.db.driver() as conn:  # NOT_FOUND before asking the catalog
            seen = await loading.load_order(conn, order_id=order_id)
        if seen is None or not returning.can_see(seen, actor):
            raise NotFound("order", order_id)
        wanted = {q.line_id for q in command.lines}
        skus = [line.sku for line in seen.lines if line.line_id in wanted]
        terms = await self.catalog.terms([*skus, *(q.exchange_sku for q in command.lines if q.exchange_sku)])
        return await self._step(
            order_id, actor, lambda order, returns: returning.request(order, returns, command, terms, actor, now())
        )

    async def receive(self, return_id: str, location_id: str, actor: Actor) -> tuple[Return, Order]:
        returning.check_staff(actor)
        order_id = await self._order_of(return_id)
        return await self._step(
            order_id,
            actor,
            lambda order, returns: returning.receive(order, _one(returns, return_id), location_id, actor, now()),
        )

    async def inspect(self, return_id: str, command: InspectCommand, actor: Actor) -> tuple[Return, Order]:
        returning.check_staff(actor)
        ret, _ = await self.get(actor, return_id)
        terms = await self.catalog.terms(line.exchange_sku for line in ret.lines if line.exchange_sku)
        return await self._step(
            ret.order_id,
            actor,
            lambda order, returns: returning.inspect(
                order, returns, _one(returns, return_id), command, terms, actor, now()
            ),
        )

    async def _order_of(self, return_id: str) -> str:
        async with self.db.driver() as conn:
            order_id = await return_store.order_of(conn, return_id)
        if order_id is None:
            raise NotFound("return", return_id)
        return order_id

    async def _step(self, order_id: str, actor: Actor, decide: returning.Decide) -> tuple[Return, Order]:
        async with self.db.driver_transaction() as conn:
            locked = await loading.lock_order(conn, order_id)
            if locked is None or not returning.can_see(locked.order, actor):
                raise NotFound("order", order_id)
            returns = await return_store.of_order(conn, order_id)
            decision = decide(locked.order, returns)
            order = await self._write(conn, locked, returns, decision)
        if decision.changed:
            if self.orders.relay is not None:
                self.orders.relay.wake()
            if self.orders.effects is not None and (decision.order.effects or decision.restock or decision.replacement):
                self.orders.effects.wake()
        return decision.ret, order

    async def _write(
        self, conn: DriverConnection, locked: loading.Locked, returns: tuple[Return, ...], decision: ReturnDecision
    ) -> Order:
        order = await recording.record(conn, locked, decision.order)
        ret = decision.ret
        if decision.new:
            await return_store.insert_return(conn, ret)
        elif decision.changed:
            await return_store.update_return(conn, _one(returns, ret.return_id), ret)
        if not decision.changed:
            return order
        if decision.replacement is not None:
            placed = await placing.insert_order(conn, decision.replacement)
            replacement = decision.replacement.order if placed is None else placed.order
            method = replacement.fulfilment_method
            payload = {
                "lines": [{"sku": line.sku, "quantity": line.quantity} for line in replacement.lines],
                "store_id": method.store_id,
                "country": method.ship_to.country if method.ship_to else "",
            }
            key = f"order:{replacement.order_id}:reserve-stock"
            await return_store.owe(conn, replacement.order_id, Effect(EffectKind.RESERVE_STOCK, key), payload)
        if decision.restock:
            key = f"return:{ret.return_id}:restock"
            payload = return_store.restock_payload(decision.restock, f"return {ret.return_id} of order {order.number}")
            await return_store.owe(conn, order.order_id, Effect(EffectKind.RESTOCK, key), payload)
        await placing.outbox_writer.add(conn, _events(decision, order))
        return order


def _one(returns: tuple[Return, ...], return_id: str) -> Return:
    found = next((r for r in returns if r.return_id == return_id), None)
    if found is None:
        raise NotFound("return", return_id)
    return found


def _events(decision: ReturnDecision, order: Order) -> list[tuple[str, Message, str]]:
    ret = decision.ret
    body = return_codec.order_return(ret, order)
    oid = order.order_id
    if decision.new:
        return [(RETURN_REQUESTED, events_pb2.ReturnRequested(order_return=body), oid)]
    if ret.status is ReturnStatus.RECEIVED:
        return [(RETURN_RECEIVED, events_pb2.ReturnReceived(order_return=body), oid)]
    staged: list[tuple[str, Message, str]] = [(RETURN_INSPECTED, events_pb2.ReturnInspected(order_return=body), oid)]
    if ret.status in (ReturnStatus.REFUNDED, ReturnStatus.EXCHANGED):
        staged.append((RETURN_REFUNDED, events_pb2.ReturnRefunded(order_return=body), oid))
    return staged
