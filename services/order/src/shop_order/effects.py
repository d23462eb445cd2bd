"""The effect worker: performs the calls committed decisions owe the payment provider (capture,
void, refund) and inventory (give the stock of a cancelled order back, restock returned units,
take the stock of an exchange's replacement order).

A decision records each effect in the order's transaction (table order_effects), so a crash never
loses one. The worker claims one due effect at a time with FOR UPDATE SKIP LOCKED (replicas share
the work; an effect is in flight on one worker at a time), calls the other system with the
effect's deterministic idempotency key (`order:<id>:capture`, ...), and in the same transaction
marks it done and applies the result to the order (a capture moves the payment to CAPTURED). A
crash between the call and the commit leaves the effect pending; the retry sends the same key and
the provider answers with the first result instead of applying it twice. Failures are retried with
exponential backoff; effects of one order on one target run in the order they were recorded.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from shop_order import loading, owed, recording
from shop_order.domain import decisions
from shop_order.domain.model import SYSTEM, EffectKind, Order
from shop_order.owed import OwedEffect
from shop_order.payments import Outcome, PaymentProvider
from shop_order.stock import StockReturner
from shopkit import tracing
from shopkit.db import Database, DriverConnection
from shopkit.outbox import OutboxRelay
from shopkit.waits import wait_event

log = logging.getLogger("shop_order.effects")


class EffectWorker:
    def __init__(
        self,
        db: Database,
        relay: OutboxRelay | None,
        payments: PaymentProvider,
        stock: StockReturner,
        *,
        max_attempts: int,
        max_backoff: float,
        poll_interval: float,
        retry_window: timedelta = timedelta(0),
    ):
        self.db = db
        self.relay = relay
        self.payments = payments
        self.stock = stock
        self.max_attempts = max_attempts
        self.retry_window = retry_window
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._tracer = tracing.tracer("shop_order.effects")

    def wake(self) -> None:
        """Look for due effects now: called after a transaction that recorded some commits."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                found = await self.perform_due()
            except Exception:
                log.exception("effect round failed; retrying")
                found = False
                await asyncio.sleep(1.0)
            if not found:
                await wait_event(self._wake, self.poll_interval)

    async def perform_due(self) -> bool:
        """Perform one due effect; False when none is due."""
        if not await owed.any_due(self.db):
            return False
        async with self.db.driver_transaction() as conn:
            effect = await owed.claim_due(conn)
            if effect is None:
                return False
            changed = await self._perform(conn, effect)
        self._committed(changed)
        return True

    async def perform(self, *, effect_id: int = 0, key: str = "") -> Order | None:
        """Perform one effect (by id or idempotency key) now, waiting for a worker that holds it;
        nothing if it is settled. The order after it when the outcome changed the order."""
        async with self.db.driver_transaction() as conn:
            effect = await owed.lock(conn, effect_id=effect_id, key=key)
            if effect is None or effect.status != "pending":
                return None
            changed = await self._perform(conn, effect)
        self._committed(changed)
        return changed

    def _committed(self, changed: Order | None) -> None:
        if changed is not None and self.relay is not None:
            self.relay.wake()

    async def _perform(self, conn: DriverConnection, effect: OwedEffect) -> Order | None:
        """Call, then record the outcome in the effect's transaction (whose lock on the effect is
        held throughout); the order after it if the order changed. An unexpected error counts as a
        failed attempt."""
        kind = EffectKind(effect.kind)
        with self._tracer.start_as_current_span(
            f"order effect {kind.value}",
            context=tracing.extract_context(effect.trace_headers),
            attributes={
                "shop.order_id": effect.order_id,
                "shop.effect": kind.value,
                "shop.attempt": effect.attempts + 1,
            },
        ):
            return await self._perform_traced(conn, kind, effect)

    async def _perform_traced(self, conn: DriverConnection, kind: EffectKind, effect: OwedEffect) -> Order | None:
        try:
            outcome = await self._call(kind, effect)
            if outcome.done:
                async with conn.driver.transaction():  # a savepoint: if applying fails, the attempt still counts
                    return await self._apply(conn, kind, effect, outcome)
        except Exception as exc:
            log.exception("order effect raised", extra={"order_id": effect.order_id, "effect": kind.value})
            outcome = Outcome(False, retryable=True, error=f"{type(exc).__name__}: {exc}"[:500])
        await self._failed(conn, kind, effect, outcome)
        return None

    async def _failed(self, conn: DriverConnection, kind: EffectKind, effect: OwedEffect, outcome: Outcome) -> None:
        """Retry later, or mark the effect failed: at once when the outcome says retrying cannot help; a
        failure that may pass only once it has had both its attempts and its time (an outage of the
        provider must not turn a confirmed order's capture into a failure, however often it is tried)."""
        attempts = effect.attempts + 1
        owed_for = datetime.now(UTC) - effect.created_at
        if outcome.retryable and (attempts < self.max_attempts or owed_for < self.retry_window):
            delay = min(self.max_backoff, 0.5 * 2 ** min(effect.attempts, 20))
            await owed.retry_later(conn, effect.id, timedelta(seconds=delay), outcome.error)
            log.warning(
                "order effect failed; will retry",
                extra={"order_id": effect.order_id, "effect": kind.value, "attempts": attempts, "error": outcome.error},
            )
        else:
            await owed.finish(conn, effect.id, "failed", error=outcome.error)
            # Money or stock an operator must look at: the order's decision stands, the call failed.
            log.error(
                "order effect failed for good",
                extra={"order_id": effect.order_id, "effect": kind.value, "attempts": attempts, "error": outcome.error},
            )

    async def _call(self, kind: EffectKind, effect: OwedEffect) -> Outcome:
        key = effect.idempotency_key
        authorisation = effect.authorisation_id
        if kind is EffectKind.CAPTURE:
            return await self.payments.capture(authorisation, effect.amount, key)
        if kind is EffectKind.VOID:
            return await self.payments.void(authorisation, key)
        if kind is EffectKind.REFUND:
            return await self.payments.refund(authorisation, effect.amount, key)
        if kind is EffectKind.RESTOCK:
            return await self.stock.restock(effect.payload, key)
        if kind is EffectKind.RESERVE_STOCK:
            return await self.stock.reserve_and_commit(effect.reservation_id, effect.payload)
        return await self.stock.give_back(effect.reservation_id, key)

    async def _apply(
        self, conn: DriverConnection, kind: EffectKind, effect: OwedEffect, outcome: Outcome
    ) -> Order | None:
        """Mark the effect succeeded and apply its outcome to the order."""
        if kind is EffectKind.CAPTURE:
            locked = await loading.lock_order(conn, effect.order_id)
            assert locked is not None
            decision = decisions.captured(locked.order, outcome.amount or effect.amount, SYSTEM, datetime.now(UTC))
            order = await recording.record(conn, locked, decision, succeeded=(effect.id, outcome.reference))
            return order if decision.changed else None
        await owed.finish(conn, effect.id, "succeeded", reference=outcome.reference)
        if kind is EffectKind.REFUND:
            await owed.set_provider_refund_id(conn, effect.order_id, effect.refund_id, outcome.reference)
        return None
