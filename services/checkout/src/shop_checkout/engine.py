"""The saga engine: runs sagas in the background, persists every step, recovers unfinished ones.

A saga runs in its own asyncio task, not in the PlaceOrder call: a client that gives up (deadline,
disconnect) does not stop it. The task holds a lease on the checkout row; every transition is one
transaction that locks the row, checks the lease is still ours, applies the pure state machine to
the row as it is now (events may have recorded decisions meanwhile), writes it back with a renewed
lease and stages the checkout's final event. Around every external call the state is committed
twice: `Started` before it, the outcome after it, so a process that dies anywhere leaves the row
pointing at the call to repeat (idempotently) or the compensation to continue.

The recovery worker (one per replica) claims RUNNING and COMPENSATING checkouts nobody works on
(lease lapsed, never leased, or leased by a previous incarnation of this replica) with FOR UPDATE
SKIP LOCKED, cancels held checkouts whose hold expired, and starts their tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import os
import signal
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from shop_checkout import events, metrics, store
from shop_checkout.domain import rules, saga
from shop_checkout.domain.model import ACTIVE, TERMINAL, Checkout, StepKind, StepState
from shop_checkout.settings import CheckoutSettings
from shop_checkout.steps import StepExecutor
from shopkit import deadlines
from shopkit.db import Database
from shopkit.money import Money
from shopkit.outbox import OutboxRelay

log = logging.getLogger("shop_checkout.engine")

Change = Callable[[AsyncConnection, Checkout], Awaitable[Checkout]]


class LeaseLost(Exception):
    """Another runner owns the saga now (this one was too slow to renew its lease)."""


def kill_process(point: str) -> None:
    """Fault injection: die like `kill -9` would, without any cleanup."""
    os.kill(os.getpid(), signal.SIGKILL)


def policy_from(settings: CheckoutSettings) -> saga.Policy:
    return saga.Policy(
        max_attempts=settings.step_max_attempts,
        capture_on_checkout=settings.capture_on_checkout,
        reservation_ttl=timedelta(seconds=settings.reservation_ttl_seconds),
        review_hold=timedelta(seconds=settings.review_hold_seconds),
        approval_hold=timedelta(seconds=settings.approval_hold_seconds),
        hold_margin=timedelta(seconds=settings.hold_margin_seconds),
    )


class SagaEngine:
    def __init__(
        self,
        db: Database,
        relay: OutboxRelay | None,
        executor: StepExecutor,
        settings: CheckoutSettings,
        *,
        crash: Callable[[str], None] = kill_process,
    ):
        self.db = db
        self.relay = relay
        self.executor = executor
        self.settings = settings
        self.policy = executor.policy
        self.owner = f"{settings.instance_name}/{uuid.uuid4().hex[:12]}"
        self.previous_owners = _like_prefix(settings.instance_name) + "/%"
        self.crash = crash
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = False

    # --- reads ----------------------------------------------------------------------------------

    async def get(self, checkout_id: str) -> Checkout | None:
        async with self.db.connect() as conn:
            return await store.get(conn, checkout_id)

    async def find(self, customer_key: str, idempotency_key: str) -> Checkout | None:
        async with self.db.connect() as conn:
            return await store.find_by_key(conn, customer_key, idempotency_key)

    async def live_checkout_of_cart(self, cart_id: str) -> Checkout | None:
        async with self.db.connect() as conn:
            return await store.live_checkout_of_cart(conn, cart_id)

    # --- starting and waiting ---------------------------------------------------------------------

    async def create(self, checkout: Checkout) -> bool:
        """Insert a new checkout leased to this replica; False when its idempotency key is taken.
        IntegrityError (ONE_LIVE_CHECKOUT_PER_CART) when another live checkout has the cart."""
        async with self.db.transaction() as conn:
            return await store.insert_checkout(
                conn, checkout, owner=self.owner, lease_seconds=self.settings.lease_seconds
            )

    def spawn(self, checkout_id: str) -> None:
        """Run the saga of a checkout this replica holds the lease of, unless it runs already."""
        if checkout_id in self._tasks or self._stopping:
            return
        # The saga outlives the call that started it: no inherited deadline (trace context stays).
        context = contextvars.copy_context()
        context.run(deadlines.set_deadline, None)
        self._tasks[checkout_id] = asyncio.create_task(
            self._drive_safely(checkout_id), name=f"checkout-saga-{checkout_id}", context=context
        )

    async def nudge(self, checkout_id: str) -> None:
        """Make sure an active saga runs somewhere: take it over if nobody holds a live lease."""
        if checkout_id in self._tasks or self._stopping:
            return
        async with self.db.transaction() as conn:
            claimed = await store.claim(conn, checkout_id, owner=self.owner, lease_seconds=self.settings.lease_seconds)
        if claimed:
            self.spawn(checkout_id)

    async def wait_settled(self, checkout_id: str, seconds: float) -> Checkout:
        """The checkout once it completed, failed or is held, or as it is after `seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            changed = self._changed
            checkout = await self.get(checkout_id)
            assert checkout is not None
            remaining = deadline - loop.time()
            if checkout.status not in ACTIVE or remaining <= 0:
                return checkout
            # Woken by local transitions; the poll covers sagas that run on another replica.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.25))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- running a saga ---------------------------------------------------------------------------

    async def _drive_safely(self, checkout_id: str) -> None:
        try:
            await self._drive(checkout_id)
        except LeaseLost:
            log.warning("lost the lease of checkout %s; another runner goes on", checkout_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the saga of checkout %s stopped; recovery takes it up again", checkout_id)
            with contextlib.suppress(Exception):
                async with self.db.transaction() as conn:
                    await store.release_lease(conn, checkout_id, self.owner)
            self.wake_soon()
        finally:
            self._tasks.pop(checkout_id, None)
            self._notify()

    async def _drive(self, checkout_id: str) -> None:
        checkout = await self.get(checkout_id)
        retries = 0
        while checkout is not None:
            action = saga.next_action(checkout, self.policy)
            match action:
                case saga.Done() | saga.Wait():
                    return
                case saga.Skip(kind, reason):
                    checkout = await self._apply(checkout_id, saga.Skipped(kind, reason))
                case saga.Abort(failure):
                    checkout = await self._transition(checkout_id, _pure(lambda c: saga.abort(c, failure, _now())))
                case saga.Finish():
                    checkout = await self._transition(checkout_id, _pure(lambda c: saga.finish(c, _now())))
                case saga.Run(kind):
                    checkout = await self._apply(checkout_id, saga.Started(kind))
                    self._fault(f"before:{kind.value}")
                    outcome = await self._run(checkout, kind)
                    self._fault(f"after:{kind.value}")
                    checkout = await self._apply(checkout_id, outcome)
                    retries = await self._pause_if_retrying(checkout, kind, outcome, retries)
                case saga.Compensate(kind):
                    self._fault(f"before:undo:{kind.value}")
                    outcome = await self._undo(checkout, kind)
                    self._fault(f"after:undo:{kind.value}")
                    checkout = await self._apply(checkout_id, outcome)
                    retries = await self._pause_if_retrying(checkout, kind, outcome, retries)

    async def _run(self, checkout: Checkout, kind: StepKind) -> saga.Outcome:
        try:
            return await self.executor.run(checkout, kind)
        except Exception as exc:  # a bug or an unexpected answer: retried like a transient error
            log.exception("step %s of checkout %s raised", kind.value, checkout.checkout_id)
            return saga.Transient(kind, f"internal error: {type(exc).__name__}")

    async def _undo(self, checkout: Checkout, kind: StepKind) -> saga.Outcome:
        try:
            return await self.executor.undo(checkout, kind)
        except Exception as exc:
            log.exception("undoing %s of checkout %s raised", kind.value, checkout.checkout_id)
            return saga.CompensationFailed(kind, f"internal error: {type(exc).__name__}")

    async def _pause_if_retrying(self, checkout: Checkout, kind: StepKind, outcome: saga.Outcome, retries: int) -> int:
        """Back off before repeating a call that failed transiently; returns the retry count."""
        step = checkout.step(kind)
        retrying = isinstance(outcome, saga.CompensationFailed) or (
            isinstance(outcome, saga.Transient) and step is not None and step.state is StepState.RUNNING
        )
        if not retrying:
            return 0
        retries += 1
        metrics.STEP_RETRIES.labels(kind.value).inc()
        pause = min(self.settings.retry_initial_seconds * 2 ** (retries - 1), self.settings.retry_max_seconds)
        log.warning(
            "checkout %s: %s failed (%s); retry %d in %.1fs",
            checkout.checkout_id,
            kind.value,
            getattr(outcome, "error", ""),
            retries,
            pause,
        )
        await asyncio.sleep(pause)
        return retries

    async def _apply(self, checkout_id: str, outcome: saga.Outcome) -> Checkout:
        async def change(conn: AsyncConnection, current: Checkout) -> Checkout:
            effective = outcome
            if isinstance(outcome, saga.Succeeded) and isinstance(outcome.result, saga.Quoted):
                effective = await self._with_spending(conn, current, outcome, outcome.result)
            return saga.apply(current, effective, _now(), self.policy)

        return await self._transition(checkout_id, change)

    async def _with_spending(
        self, conn: AsyncConnection, current: Checkout, outcome: saga.Succeeded, quoted: saga.Quoted
    ) -> saga.Outcome:
        """Add the buyer's spending in the approval period, read under the buyer's lock in the
        transaction that records this checkout's total (so concurrent checkouts count each other)."""
        request = current.request
        since = rules.period_start(request.approval_period, current.created_at)
        if request.approval_limit is None or since is None or not request.customer.customer_id:
            return outcome
        currency = quoted.quote.totals.total.currency
        spent = await store.spent_in_period(
            conn, customer_id=request.customer.customer_id, currency=currency, since=since, exclude=current.checkout_id
        )
        return saga.Succeeded(outcome.kind, dataclasses.replace(quoted, spent_in_period=Money(spent, currency)))

    async def _transition(self, checkout_id: str, change: Change) -> Checkout:
        async with self.db.transaction() as conn:
            locked = await store.lock(conn, checkout_id)
            if locked is None or locked[1] != self.owner:
                raise LeaseLost(checkout_id)
            before = locked[0]
            after = await change(conn, before)
            await store.save(conn, after, owner=self.owner, lease_seconds=self.settings.lease_seconds)
            published = await events.stage_finished(conn, before, after)
        if published and self.relay is not None:
            self.relay.wake()
        if after.status in TERMINAL and before.status not in TERMINAL:
            code = after.failure.code.value if after.failure else ""
            metrics.CHECKOUTS_FINISHED.labels(after.status.value, code).inc()
            elapsed = (after.finished_at or after.updated_at) - after.created_at
            metrics.CHECKOUT_DURATION.labels(after.status.value).observe(elapsed.total_seconds())
        if after.status is not before.status:
            log.info(
                "checkout %s: %s -> %s",
                checkout_id,
                before.status.value,
                after.status.value,
                extra={"checkout_id": checkout_id, "step": after.current_step.kind.value if after.current_step else ""},
            )
        self._notify()
        return after

    def _fault(self, point: str) -> None:
        if not self.settings.fault_crash_at or point != self.settings.fault_crash_at:
            return
        if self.settings.fault_crash_armed_file:
            try:  # disarm first: the restarted process passes the point (and of concurrent sagas only one crashes)
                os.unlink(self.settings.fault_crash_armed_file)
            except FileNotFoundError:
                return
        log.critical("fault injection: crashing at %s", point)
        self.crash(point)

    # --- recovery -----------------------------------------------------------------------------------

    def wake_soon(self) -> None:
        """Have the recovery worker look now (after an event handler's transaction commits)."""
        asyncio.get_running_loop().call_later(0.05, self._wake.set)

    async def recover_forever(self) -> None:
        while True:
            try:
                await self.recover_once()
            except Exception:
                log.exception("recovery round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.recovery_interval_seconds)
            self._wake.clear()

    async def recover_once(self) -> list[str]:
        """Cancel expired holds, claim sagas nobody runs and run them; the ids claimed."""
        if self._stopping:
            return []
        await self.expire_holds()
        async with self.db.transaction() as conn:
            claimed = await store.claim_recoverable(
                conn,
                owner=self.owner,
                previous_owners=self.previous_owners,
                lease_seconds=self.settings.lease_seconds,
                limit=self.settings.recovery_batch_size,
            )
        for checkout_id in claimed:
            if checkout_id not in self._tasks:
                metrics.SAGAS_RECOVERED.inc()
                log.info("recovering checkout %s", checkout_id, extra={"checkout_id": checkout_id})
            self.spawn(checkout_id)
        return claimed

    async def expire_holds(self) -> int:
        now = _now()
        async with self.db.transaction() as conn:
            held = await store.lock_expired_holds(conn, now, self.settings.recovery_batch_size)
            for checkout in held:
                await store.save(conn, saga.on_hold_expired(checkout, now), owner=None, lease_seconds=0)
        for checkout in held:
            log.info("hold of checkout %s expired", checkout.checkout_id, extra={"checkout_id": checkout.checkout_id})
        return len(held)

    async def stop(self) -> None:
        """Stop running sagas and hand their leases back, so that another replica takes over now."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            async with self.db.transaction() as conn:
                released = await store.release_leases(conn, self.owner)
        except Exception:
            log.exception("could not release the leases of %s", self.owner)
            return
        if released:
            log.info("released %d saga leases", released)


def _now() -> datetime:
    return datetime.now(UTC)


def _pure(fn: Callable[[Checkout], Checkout]) -> Change:
    async def change(conn: AsyncConnection, current: Checkout) -> Checkout:
        return fn(current)

    return change


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
