"""The cart use cases.

A change of a cart runs in three steps (`Carts._change`):
1. plan it on the cart as read and price the result with pricing, holding no lock;
2. lock the cart's row; if its version moved meanwhile (a concurrent change committed), plan again
   on the stored cart and price again while holding the lock, so concurrent changes queue up on
   the row instead of overwriting each other (no lost updates, no retry storms);
3. write the cart, its lines and its events in that transaction, then wake the outbox relay.
Peer calls that do not depend on the cart's state (catalog, inventory) happen before step 1.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]

from shop_cart import domain, events, store
from shop_cart.domain import Cart, CartStatus, CustomerContext, Draft, Limits, Sellability
from shop_cart.peers import PeerFailed, Peers
from shop_cart.settings import CartSettings
from shopkit.auth import Caller
from shopkit.db import Database, DriverConnection
from shopkit.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from shopkit.outbox import OutboxRelay

log = logging.getLogger("shop_cart.operations")

Clock = Callable[[], datetime]
Plan = Callable[[Cart], Draft | None]
Finish = Callable[[Cart], Cart]
AfterSave = Callable[[DriverConnection, Cart], Awaitable[None]]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class View:
    """A cart as answered: `stale` when its snapshot expired and pricing could not renew it."""

    cart: Cart
    stale: bool = False


@dataclass(frozen=True)
class AddRequest:
    request_id: str
    fingerprint: str


def _reprice(cart: Cart) -> Draft | None:
    return Draft(cart) if cart.status is CartStatus.ACTIVE else None


class Carts:
    def __init__(
        self, db: Database, relay: OutboxRelay | None, peers: Peers, settings: CartSettings, clock: Clock = system_clock
    ):
        self.db = db
        self.relay = relay
        self.peers = peers
        self.clock = clock
        self.limits = Limits(settings.max_line_quantity, settings.max_lines)
        self.price_ttl = timedelta(seconds=settings.price_snapshot_ttl_seconds)
        self.idle_ttl = timedelta(seconds=settings.cart_idle_ttl_seconds)
        self.request_retention = timedelta(seconds=settings.request_retention_seconds)

    def _published(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    # --- reads -------------------------------------------------------------------------------------

    async def _read(self, cart_id: uuid.UUID) -> Cart | None:
        async with self.db.driver() as conn:
            return await store.get_cart(conn, cart_id)

    async def visible(self, who: Caller, cart_id: uuid.UUID) -> Cart:
        """The cart, if the caller may see it; NOT_FOUND otherwise, so ids of others' carts do not leak."""
        cart = await self._read(cart_id)
        if cart is None or not domain.visible_to(cart, who.customer_id, who.is_admin):
            raise NotFound("cart", str(cart_id))
        return cart

    async def get(self, who: Caller, cart_id: uuid.UUID) -> View:
        return await self._renewed(await self.visible(who, cart_id))

    async def active_of(self, who: Caller, customer_id: str) -> View:
        if not (who.is_admin or who.customer_id == customer_id):
            raise NotFound("cart", f"active cart of customer {customer_id}")
        async with self.db.driver() as conn:
            cart = await store.active_cart_of(conn, customer_id)
        if cart is None:
            raise NotFound("cart", f"active cart of customer {customer_id}")
        return await self._renewed(cart)

    async def _renewed(self, cart: Cart) -> View:
        """The cart with a current price snapshot: an expired one is renewed with pricing; when pricing
        cannot answer, the last snapshot is returned marked stale rather than failing the read."""
        if not domain.needs_repricing(cart, self.clock()):
            return View(cart)
        try:
            renewed, _ = await self._change(cart, _reprice, activity=False)
        except (Unavailable, PeerFailed) as error:
            log.warning(
                "answering with a stale price snapshot", extra={"cart_id": str(cart.cart_id), "reason": error.reason}
            )
            return View(cart, stale=True)
        return View(renewed)

    # --- the change machinery ------------------------------------------------------------------------

    async def _replayed(self, conn: DriverConnection, cart: Cart, request: AddRequest) -> tuple[Cart, uuid.UUID] | None:
        found = await store.recorded_request(conn, cart.cart_id, request.request_id)
        if found is None:
            return None
        fingerprint, line_id = found
        if fingerprint != request.fingerprint:
            raise AlreadyExists(
                f"request_id {request.request_id!r} was used for a different line",
                reason=domain.REQUEST_ID_REUSED,
                metadata={"request_id": request.request_id},
            )
        return cart, line_id

    async def _change(
        self,
        current: Cart,
        plan: Plan,
        *,
        activity: bool = True,
        request: AddRequest | None = None,
        finish: Finish | None = None,
        after_save: AfterSave | None = None,
    ) -> tuple[Cart, uuid.UUID | None]:
        """Plan, price and store one change (see the module docstring). `finish` checks or adjusts
        the priced cart before it is stored (raising rolls everything back)."""
        draft = plan(current)
        if draft is None:
            return current, None
        quote = await self.peers.quote(draft.cart)
        async with self.db.driver_transaction() as conn:
            locked = await store.get_cart(conn, current.cart_id, for_update=True)
            assert locked is not None  # carts are never deleted
            if request is not None:
                replayed = await self._replayed(conn, locked, request)
                if replayed is not None:
                    return replayed
            if locked.version != current.version:
                draft = plan(locked)
                if draft is None:
                    return locked, None
                quote = await self.peers.quote(draft.cart)
            now = self.clock()
            after = domain.priced(draft, quote, now, self.price_ttl)
            if finish is not None:
                after = finish(after)
            after = domain.stamped(locked, after, now, activity=activity)
            await store.save_cart(conn, locked, after)
            if request is not None and draft.line_id is not None:
                await store.record_request(
                    conn, locked.cart_id, request.request_id, request.fingerprint, draft.line_id, now
                )
            if after_save is not None:
                await after_save(conn, after)
        if after_save is not None:
            self._published()
        return after, draft.line_id

    # --- creating ----------------------------------------------------------------------------------------

    async def create(self, who: Caller, context: CustomerContext, request_id: str) -> View:
        if context.customer_id and not (who.is_admin or who.customer_id == context.customer_id):
            raise PermissionDenied(
                "a cart can only be created for the signed-in customer",
                reason="CUSTOMER_MISMATCH",
                metadata={"customer_id": context.customer_id},
            )
        cart = domain.new_cart(uuid.uuid4(), context, self.clock(), self.price_ttl)
        async with self.db.driver_transaction() as conn:
            if context.customer_id:
                if await store.insert_cart(conn, cart):
                    return View(cart)
                existing = await store.active_cart_of(conn, context.customer_id)
            else:
                if await store.insert_cart(conn, cart, request_id):
                    return View(cart)
                existing = await store.cart_by_guest_request(conn, request_id)
        if existing is None:  # the customer's active cart ended between the insert and the read
            raise Aborted("the customer's cart changed meanwhile; try again", reason="CONCURRENT_CHANGE")
        if not context.customer_id and (existing.customer_id or existing.context != context):
            raise AlreadyExists(
                f"request_id {request_id!r} was used for another cart",
                reason=domain.REQUEST_ID_REUSED,
                metadata={"request_id": request_id},
            )
        return await self._renewed(existing)

    # --- lines ---------------------------------------------------------------------------------------------

    async def add_line(
        self, who: Caller, cart_id: uuid.UUID, sku: str, quantity: int, request_id: str, expected_version: int
    ) -> tuple[View, uuid.UUID]:
        current = await self.visible(who, cart_id)
        request = AddRequest(request_id, f"{sku}\n{quantity}")
        async with self.db.driver() as conn:
            replayed = await self._replayed(conn, current, request)
        if replayed is not None:
            return View(replayed[0]), replayed[1]
        domain.require_writable(current, expected_version)
        facts = (await self.peers.variants([sku], current.context.channel)).get(sku)
        if facts is None or facts.sellability is Sellability.NOT_SELLABLE:
            # A draft, or a product of another channel, is answered like a SKU that does not exist:
            # the answer must not tell a shopper that it does.
            raise InvalidArgument([FieldViolation("sku", f"the catalog has no SKU {sku}")])
        domain.require_sellable(facts)
        stock = await self.peers.availability_if_reachable([sku])
        available = None if stock is None else stock.get(sku, 0)
        line_id, now = uuid.uuid4(), self.clock()

        def plan(cart: Cart) -> Draft:
            domain.require_writable(cart, expected_version)
            return domain.add_line(cart, facts, quantity, available, self.limits, line_id, now)

        cart, chosen = await self._change(current, plan, request=request)
        assert chosen is not None
        return View(cart), chosen

    async def update_line(
        self, who: Caller, cart_id: uuid.UUID, line_id: uuid.UUID, quantity: int, expected_version: int
    ) -> View:
        current = await self.visible(who, cart_id)
        domain.require_writable(current, expected_version)
        line = domain.find_line(current, line_id)
        facts, available = None, None
        if quantity > 0:  # the changed line is validated again
            facts = (await self.peers.variants([line.sku], current.context.channel)).get(line.sku)
            facts = facts or domain.gone_from_catalog(line)
            stock = await self.peers.availability_if_reachable([line.sku])
            available = None if stock is None else stock.get(line.sku, 0)

        def plan(cart: Cart) -> Draft | None:
            domain.require_writable(cart, expected_version)
            return domain.set_quantity(cart, line_id, quantity, facts, available, self.limits)

        cart, _ = await self._change(current, plan)
        return View(cart)

    async def remove_line(self, who: Caller, cart_id: uuid.UUID, line_id: uuid.UUID, expected_version: int) -> View:
        current = await self.visible(who, cart_id)

        def plan(cart: Cart) -> Draft | None:
            domain.require_writable(cart, expected_version)
            return domain.remove_line(cart, line_id)

        cart, _ = await self._change(current, plan)
        return View(cart)

    # --- coupon ----------------------------------------------------------------------------------------------

    async def apply_coupon(self, who: Caller, cart_id: uuid.UUID, code: str, expected_version: int) -> View:
        current = await self.visible(who, cart_id)
        code = domain.normalise_code(code)

        def plan(cart: Cart) -> Draft | None:
            domain.require_writable(cart, expected_version)
            return domain.set_coupon(cart, code)

        def refuse_unusable(cart: Cart) -> Cart:
            coupon = cart.coupon
            if coupon is not None and coupon.unusable:
                raise FailedPrecondition(
                    f"coupon {code} cannot be used: {coupon.description or coupon.reason}",
                    reason=domain.COUPON_INVALID,
                    metadata={"coupon_code": code, "coupon_reason": coupon.reason},
                )
            return cart

        cart, _ = await self._change(current, plan, finish=refuse_unusable)
        return View(cart)

    async def remove_coupon(self, who: Caller, cart_id: uuid.UUID, expected_version: int) -> View:
        current = await self.visible(who, cart_id)

        def plan(cart: Cart) -> Draft | None:
            domain.require_writable(cart, expected_version)
            return domain.set_coupon(cart, None)

        cart, _ = await self._change(current, plan)
        return View(cart)

    # --- refresh -------------------------------------------------------------------------------------------------

    async def refresh(self, who: Caller, cart_id: uuid.UUID) -> View:
        """Every line against catalog and inventory, then a new quote. Unlike a line change, an
        explicit refresh needs inventory to answer."""
        current = await self.visible(who, cart_id)
        domain.require_active(current)
        skus = [line.sku for line in current.lines]
        facts = await self.peers.variants(skus, current.context.channel)
        stock = await self.peers.availability(skus)
        looked_up = frozenset(skus)

        def plan(cart: Cart) -> Draft:
            domain.require_active(cart)
            return domain.refresh_lines(cart, looked_up, facts, stock)

        cart, _ = await self._change(current, plan)
        return View(cart)

    # --- merge at login -------------------------------------------------------------------------------------------

    async def merge(self, who: Caller, guest_cart_id: uuid.UUID, context: CustomerContext) -> View:
        if not (who.is_admin or who.customer_id == context.customer_id):
            raise PermissionDenied(
                "carts can only be merged into the signed-in customer's cart",
                reason="CUSTOMER_MISMATCH",
                metadata={"customer_id": context.customer_id},
            )
        try:
            return await self._merge_once(guest_cart_id, context)
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name != "carts_active_customer_key":
                raise
            # The customer got an active cart while the guest cart was being adopted: merge into it.
            return await self._merge_once(guest_cart_id, context)

    async def _merge_once(self, guest_cart_id: uuid.UUID, context: CustomerContext) -> View:
        customer_id = context.customer_id
        guest = await self._read(guest_cart_id)
        if guest is None:
            raise NotFound("cart", str(guest_cart_id))
        if guest.customer_id:  # adopted by an earlier merge, or not a guest cart at all
            if guest.customer_id != customer_id:
                raise NotFound("cart", str(guest_cart_id))
            return await self._customer_view(customer_id, guest)
        if guest.status is CartStatus.MERGED:
            assert guest.merged_into is not None
            target = await self._read(guest.merged_into)
            if target is None or target.customer_id != customer_id:
                raise NotFound("cart", str(guest_cart_id))
            return await self._customer_view(customer_id, target)
        domain.require_active(guest)
        async with self.db.driver() as conn:
            target = await store.active_cart_of(conn, customer_id)
        if target is None:
            return await self._adopt(guest, context)
        return await self._merge_pair(guest, target)

    async def _customer_view(self, customer_id: str, fallback: Cart) -> View:
        """A repeated merge answers with the customer's active cart as it is."""
        async with self.db.driver() as conn:
            active = await store.active_cart_of(conn, customer_id)
        return await self._renewed(active or fallback)

    async def _adopt(self, guest: Cart, context: CustomerContext) -> View:
        def plan(cart: Cart) -> Draft:
            if cart.customer_id or cart.status is not CartStatus.ACTIVE:
                raise Aborted("the guest cart changed meanwhile; try again", reason="CONCURRENT_CHANGE")
            return domain.adopt(cart, context)

        async def announce(conn: DriverConnection, cart: Cart) -> None:
            await events.merged(conn, str(guest.cart_id), cart)

        cart, _ = await self._change(guest, plan, finish=domain.drop_unusable_coupon, after_save=announce)
        return View(cart)

    async def _merge_pair(self, guest: Cart, target: Cart) -> View:
        draft = domain.merge_into(target, guest, self.limits, uuid.uuid4)
        quote = await self.peers.quote(draft.cart)
        async with self.db.driver_transaction() as conn:
            pair = await store.get_carts(conn, [guest.cart_id, target.cart_id], for_update=True)
            locked = {cart.cart_id: cart for cart in pair}
            g, t = locked[guest.cart_id], locked[target.cart_id]
            if g.status is CartStatus.MERGED and g.merged_into == t.cart_id:
                return View(t)  # a concurrent merge of the same carts finished first
            domain.require_active(g)
            if g.customer_id or t.status is not CartStatus.ACTIVE:
                raise Aborted("the carts changed meanwhile; try again", reason="CONCURRENT_CHANGE")
            if (g.version, t.version) != (guest.version, target.version):
                draft = domain.merge_into(t, g, self.limits, uuid.uuid4)
                quote = await self.peers.quote(draft.cart)
            now = self.clock()
            after = domain.priced(draft, quote, now, self.price_ttl)
            if t.coupon is None:  # the coupon came from the guest: kept only if the customer can use it
                after = domain.drop_unusable_coupon(after)
            after = domain.stamped(t, after, now, activity=True)
            await store.save_cart(conn, t, after)
            await store.save_cart(conn, g, domain.merged(g, t.cart_id, now))
            await events.merged(conn, str(g.cart_id), after)
        self._published()
        return View(after)

    # --- lifecycle -------------------------------------------------------------------------------------------------

    async def check_out(self, cart_id: uuid.UUID, checkout_id: str, order_id: str) -> View:
        async with self.db.driver_transaction() as conn:
            cart = await store.get_cart(conn, cart_id, for_update=True)
            if cart is None:
                raise NotFound("cart", str(cart_id))
            after = domain.checked_out(cart, checkout_id, order_id, self.clock())
            if after is None:
                return View(cart)
            await store.save_cart(conn, cart, after)
            await events.checked_out(conn, after)
        self._published()
        return View(after)

    async def abandon_idle(self, limit: int) -> int:
        """Mark up to `limit` carts idle for longer than the TTL ABANDONED; safe on several replicas."""
        now = self.clock()
        async with self.db.driver_transaction() as conn:
            idle = await store.lock_idle_carts(conn, now - self.idle_ttl, limit)
            if idle:
                await store.mark_abandoned(conn, [cart.cart_id for cart in idle], now)
                await events.abandoned(conn, idle)
        if idle:
            self._published()
        return len(idle)

    async def forget_old_requests(self, limit: int) -> int:
        """Delete up to `limit` AddCartLine request ids older than the retention; safe on several replicas."""
        async with self.db.transaction() as conn:
            return await store.delete_requests_before(conn, self.clock() - self.request_retention, limit)
