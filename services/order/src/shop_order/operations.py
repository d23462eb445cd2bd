"""The order use cases. Each runs in one transaction: lock the order, decide (pure domain), write the
order, its history, its events (outbox) and the effects it owes other systems; after commit, wake
the outbox relay and the effect worker."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from shop_order import invoice_operations, loading, owed, placing, recording, store
from shop_order.domain import decisions
from shop_order.domain.chain import ApprovalChain
from shop_order.domain.decisions import Decision, FulfilCommand, RefundCommand
from shop_order.domain.invoices import InvoiceTerms
from shop_order.domain.model import (
    SYSTEM,
    Actor,
    CancellationReason,
    EffectKind,
    FulfilmentRecord,
    Order,
    OrderStatus,
    PaymentStatus,
    RefundRecord,
)
from shopkit.db import Database, DriverConnection
from shopkit.errors import Aborted, FailedPrecondition, NotFound, Unavailable
from shopkit.money import Money
from shopkit.outbox import OutboxRelay

PAYMENT_PROVIDER_UNAVAILABLE = "PAYMENT_PROVIDER_UNAVAILABLE"
PAYMENT_CAPTURE_FAILED = "PAYMENT_CAPTURE_FAILED"
PAYMENT_OPERATION_IN_PROGRESS = "PAYMENT_OPERATION_IN_PROGRESS"


def now() -> datetime:
    return datetime.now(UTC)


class Effects(Protocol):
    """The effect worker as the use cases see it (effects.EffectWorker)."""

    def wake(self) -> None: ...

    async def perform(self, *, effect_id: int = 0, key: str = "") -> Order | None: ...


class CaptureInDoubt(Exception):
    """A cancellation met a capture that is being performed or was tried before: settle it first."""

    def __init__(self, effect_id: int):
        super().__init__(f"capture effect {effect_id} is unsettled")
        self.effect_id = effect_id


@dataclasses.dataclass(frozen=True)
class ListQuery:
    customer_id: str
    account_id: str
    statuses: tuple[OrderStatus, ...]
    after: tuple[datetime, str] | None
    limit: int
    full: bool
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive


class Orders:
    def __init__(self, db: Database, relay: OutboxRelay | None, *, capture_on_fulfilment: bool):
        self.db = db
        self.relay = relay
        self.capture_on_fulfilment = capture_on_fulfilment
        self.effects: Effects | None = None

    def _committed(self, decision: Decision, *, wake_effects: bool = True) -> None:
        if decision.changed and self.relay is not None:
            self.relay.wake()
        if wake_effects and decision.effects and self.effects is not None:
            self.effects.wake()

    # --- creation and reads ----------------------------------------------------------------------

    async def create(
        self,
        draft: Order,
        *,
        approval_required: bool,
        approval_limit: Money | None,
        actor: Actor,
        chain: ApprovalChain | None = None,
        invoice_terms: InvoiceTerms | None = None,
    ) -> Order:
        decision = decisions.place(
            draft,
            approval_required=approval_required,
            approval_limit=approval_limit,
            actor=actor,
            now=now(),
            chain=chain,
        )
        # A new order owes no calls yet (placing decides no effects): the whole unit of work is one
        # prepared statement on the driver; an invoice order's also weighs the account's credit and
        # issues its invoice (invoice_operations.place).
        assert not decision.effects, "a new order owes no effects"
        if invoice_terms is not None:
            placed = await invoice_operations.place(self.db, decision, invoice_terms)
        else:
            async with self.db.driver() as conn:
                placed = await placing.insert_order(conn, decision)
        if placed is not None:
            self._committed(placed)
            return placed.order
        # The checkout placed its order before (or a concurrent call just did): the same order again.
        async with self.db.driver() as conn:
            existing = await loading.load_order(conn, checkout_id=draft.checkout_id)
        assert existing is not None
        decisions.check_same_order(existing, draft)
        return existing

    async def get(self, actor: Actor, *, order_id: str = "", number: str = "", full: bool = False) -> Order:
        async with self.db.driver() as conn:
            order = await loading.load_order(conn, order_id=order_id, number=number, with_history=full)
        if order is None or not decisions.can_see(order, actor):
            # Someone else's order is as unknown as a missing one: ids do not leak existence.
            raise NotFound("order", order_id or number)
        return order

    async def list_orders(self, query: ListQuery) -> list[Order]:
        async with self.db.connect() as conn:
            return await store.list_orders(
                conn,
                customer_id=query.customer_id,
                account_id=query.account_id,
                statuses=query.statuses,
                after=query.after,
                limit=query.limit,
                with_history=query.full,
                created_after=query.created_after,
                created_before=query.created_before,
            )

    async def pending_approvals(
        self, approver_id: str, account_id: str, after: tuple[datetime, str] | None, limit: int, full: bool
    ) -> list[Order]:
        async with self.db.connect() as conn:
            return await store.list_pending_approvals(
                conn, approver_id=approver_id, account_id=account_id, after=after, limit=limit, with_history=full
            )

    # --- transitions -------------------------------------------------------------------------------

    async def _change(
        self,
        order_id: str,
        actor: Actor,
        decide: Callable[[Order], Decision],
        *,
        check_visible: bool = True,
        before_write: Callable[[DriverConnection, Decision], Awaitable[None]] | None = None,
        wake_effects: bool = True,
    ) -> tuple[Order, Decision]:
        async with self.db.driver_transaction() as conn:
            locked = await loading.lock_order(conn, order_id)
            if locked is None or (check_visible and not decisions.can_see(locked.order, actor)):
                raise NotFound("order", order_id)
            decision = decide(locked.order)
            if before_write is not None:
                await before_write(conn, decision)
            order = await recording.record(conn, locked, decision)
        self._committed(decision, wake_effects=wake_effects)
        return order, decision

    async def release_fraud_hold(self, order_id: str, review_id: str, actor: Actor) -> Order:
        order, _ = await self._change(
            order_id, actor, lambda o: decisions.release_fraud_hold(o, review_id, actor, now())
        )
        return order

    async def approve(self, order_id: str, actor: Actor, note: str) -> Order:
        # Another account's approver is refused with PERMISSION_DENIED (the decision checks), not NOT_FOUND.
        order, _ = await self._change(
            order_id, actor, lambda o: decisions.approve(o, actor, note, now()), check_visible=False
        )
        return order

    async def reject(self, order_id: str, actor: Actor, note: str) -> Order:
        order, _ = await self._change(
            order_id, actor, lambda o: decisions.reject(o, actor, note, now()), check_visible=False
        )
        return order

    async def cancel(self, order_id: str, reason: CancellationReason, actor: Actor, note: str) -> Order:
        for _ in range(3):
            try:
                order, _ = await self._change(
                    order_id,
                    actor,
                    lambda o: decisions.cancel(o, reason, actor, note, now()),
                    before_write=_settle_pending_capture,
                )
                return order
            except CaptureInDoubt as doubt:
                if self.effects is not None:
                    await self.effects.perform(effect_id=doubt.effect_id)
        raise Aborted(
            "a capture of this order's payment is still in progress at the provider; retry shortly",
            reason=PAYMENT_OPERATION_IN_PROGRESS,
            metadata={"order_id": order_id},
        )

    async def capture(self, order_id: str, actor: Actor) -> Order:
        # The capture is performed right away, so the worker is not woken for it (it would only
        # wait for this call's lock); one that fails is retried by the worker when it is due.
        order, decision = await self._change(order_id, actor, decisions.request_capture, wake_effects=False)
        if not decision.effects:
            return order
        key = decision.effects[0].key
        captured = await self._perform(key)
        if captured is not None and captured.payment_status is not PaymentStatus.AUTHORISED:
            return captured
        order = await self.get(actor, order_id=order_id)
        if order.payment_status is not PaymentStatus.AUTHORISED:
            return order
        async with self.db.driver() as conn:
            effect = await owed.find(conn, key)
        if effect is not None and effect.status == "pending":
            raise Unavailable(
                "the payment provider has not confirmed the capture yet; it is retried, call again",
                reason=PAYMENT_PROVIDER_UNAVAILABLE,
                metadata={"order_id": order_id},
            )
        if effect is not None and effect.status == "failed":
            raise FailedPrecondition(
                f"the payment provider refused the capture: {effect.last_error}",
                reason=PAYMENT_CAPTURE_FAILED,
                metadata={"order_id": order_id},
            )
        raise decisions.refuse(order, "PAYMENT_NOT_CAPTURABLE", "the capture was superseded by a cancellation")

    async def fulfil(self, order_id: str, command: FulfilCommand, actor: Actor) -> tuple[Order, FulfilmentRecord]:
        order, decision = await self._change(
            order_id, actor, lambda o: decisions.fulfil(o, command, actor, now(), capture=self.capture_on_fulfilment)
        )
        assert decision.fulfilment is not None
        return order, decision.fulfilment

    async def refund(self, order_id: str, command: RefundCommand, actor: Actor) -> tuple[Order, RefundRecord]:
        order, decision = await self._change(order_id, actor, lambda o: decisions.refund(o, command, actor, now()))
        assert decision.refund is not None
        refund = decision.refund
        if decision.effects:
            # Best effort now, so that the answer carries the provider's refund id; the worker retries.
            await self._perform(decision.effects[0].key)
            order = await self.get(actor, order_id=order_id)
            refund = order.refund(refund.refund_id) or refund
        return order, refund

    async def _perform(self, key: str) -> Order | None:
        """Perform an owed effect now; the order after it when its outcome changed the order."""
        if self.effects is None:
            return None
        return await self.effects.perform(key=key)

    # --- the completion sweeper -------------------------------------------------------------------

    async def complete_due(self, return_window: timedelta, limit: int) -> int:
        """Complete up to `limit` orders fulfilled longer than `return_window` ago (any replica)."""
        async with self.db.driver_transaction() as conn:
            due = await loading.due_for_completion(conn, now() - return_window, limit)
            for order_id in due:
                locked = await loading.lock_order(conn, order_id)
                assert locked is not None
                await recording.record(conn, locked, decisions.complete(locked.order, SYSTEM, now()))
        if due and self.relay is not None:
            self.relay.wake()
        return len(due)


async def _settle_pending_capture(conn: DriverConnection, decision: Decision) -> None:
    """A cancellation that voids the authorisation must not race a capture of it: a capture never
    tried is dropped; one being performed or tried before (its outcome is unknown) is settled first."""
    if not any(effect.kind is EffectKind.VOID for effect in decision.effects):
        return
    pending, lockable = await owed.pending(conn, decision.order.order_id, EffectKind.CAPTURE)
    locked = {effect.id for effect in lockable}
    for effect in pending:
        if effect.id not in locked or effect.attempts > 0:
            raise CaptureInDoubt(effect.id)
    await owed.supersede(conn, [effect.id for effect in lockable])
