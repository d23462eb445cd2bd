"""The saga engine: runs sagas in the background, persists every step, recovers unfinished ones.

A saga runs in its own asyncio task, not in the PlaceOrder call: a client that gives up (deadline,
disconnect) does not stop it. The task holds a lease on the checkout row and keeps the checkout in
memory. Before every external call it writes one version: the previous call's outcome, whatever
needs no call (skips, an abort, the finish) and the start of this call, folded by the pure state
machine, in one UPDATE that applies only while the lease is ours and the row's `version` is the one
we wrote; an event handler's write in between bumps the version, and the step is re-applied to the
row as it is now. So a process that dies anywhere leaves the row pointing at the call to repeat
(idempotently) or the compensation to continue. The write that ends a checkout stages its final
event in the same transaction; a quote that counts a buyer's period spending takes a locked
transaction for it.

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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from shop_checkout import events, metrics, rows, store
from shop_checkout.domain import holds, outcomes, rules, saga, transitions
from shop_checkout.domain.model import TERMINAL, Checkout, StepKind, StepState
from shop_checkout.settings import CheckoutSettings
from shop_checkout.steps.executor import StepExecutor
from shop_checkout.waiting import Waiters
from shopkit import deadlines, tracing
from shopkit.db import Database
from shopkit.money import Money
from shopkit.outbox import OutboxRelay
from shopkit.waits import wait_event

log = logging.getLogger("shop_checkout.engine")

# A step folded into the checkout as it is now; with the buyer's period spending when it was read.
Change = Callable[[Checkout, Money | None], Checkout]


class LeaseLost(Exception):
    """Another runner owns the saga now (this one was too slow to renew its lease)."""


def kill_process(point: str) -> None:
    """Fault injection: die like `kill -9` would, without any cleanup."""
    os.kill(os.getpid(), signal.SIGKILL)


def policy_from(settings: CheckoutSettings) -> transitions.Policy:
    return transitions.Policy(
        max_attempts=settings.step_max_attempts,
        retry_budget=timedelta(seconds=settings.step_retry_budget_seconds),
        capture_on_checkout=settings.capture_on_checkout,
        reservation_ttl=timedelta(seconds=settings.reservation_ttl_seconds),
        review_hold=timedelta(seconds=settings.review_hold_seconds),
        approval_hold=timedelta(seconds=settings.approval_hold_seconds),
        approval_stock_hold=timedelta(seconds=settings.approval_stock_hold_seconds),
        hold_margin=timedelta(seconds=settings.hold_margin_seconds),
        action_timeout=timedelta(seconds=settings.action_timeout_seconds),
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
        self.waiters = Waiters(self.get, lambda checkout_id: checkout_id in self._tasks)
        self._wake = asyncio.Event()
        self._stopping = False

    # --- reads ----------------------------------------------------------------------------------

    async def get(self, checkout_id: str) -> Checkout | None:
        loaded = await rows.load(self.db, checkout_id)
        return loaded.checkout if loaded is not None else None

    async def find(self, customer_key: str, idempotency_key: str) -> Checkout | None:
        return await rows.find_by_key(self.db, customer_key, idempotency_key)

    async def live_checkout_of_cart(self, cart_id: str) -> Checkout | None:
        async with self.db.connect() as conn:
            return await store.live_checkout_of_cart(conn, cart_id)

    # --- starting and waiting ---------------------------------------------------------------------

    async def create(self, checkout: Checkout) -> bool:
        """Insert a new checkout leased to this replica and run its saga; False when its idempotency
        key is taken. rows.CartTaken when another live checkout has the cart."""
        version = await rows.insert_checkout(
            self.db, checkout, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        if version is None:
            return False
        self.spawn(checkout.checkout_id, rows.Loaded(checkout, self.owner, version))
        return True

    def spawn(self, checkout_id: str, known: rows.Loaded | None = None) -> None:
        """Run the saga of a checkout this replica holds the lease of, unless it runs already.
        `known`: the row as this replica just wrote it (saves reading it back)."""
        if checkout_id in self._tasks or self._stopping:
            return
        # The saga outlives the call that started it: no inherited deadline (trace context stays).
        context = contextvars.copy_context()
        context.run(deadlines.set_deadline, None)
        self._tasks[checkout_id] = asyncio.create_task(
            self._drive_safely(checkout_id, known), name=f"checkout-saga-{checkout_id}", context=context
        )

    async def nudge(self, checkout_id: str) -> None:
        """Make sure an active saga runs somewhere: take it over if nobody holds a live lease."""
        if checkout_id in self._tasks or self._stopping:
            return
        async with self.db.transaction() as conn:
            claimed = await store.claim(conn, checkout_id, owner=self.owner, lease_seconds=self.settings.lease_seconds)
        if claimed:
            self.spawn(checkout_id)

    async def check_action(self, checkout_id: str) -> bool:
        """A checkout waiting for the customer's action asks the provider again now (the client came
        back): it runs here, from AUTHORISE_PAYMENT, which reads the authorisation. False when it was
        not waiting (any more): answered, expired, or being checked already."""
        if self._stopping:
            return False
        async with self.db.transaction() as conn:
            locked = await store.lock(conn, checkout_id)
            if locked is None:
                return False
            checking = holds.on_action_check(locked[0], _now())
            if checking is locked[0]:
                return False
            await store.save(conn, checking, owner=self.owner, lease_seconds=self.settings.lease_seconds)
        self.spawn(checkout_id)
        return True

    async def check_due_actions(self) -> list[str]:
        """The poll: checkouts that waited `ACTION_POLL_SECONDS` for the customer's action since their
        last check ask the provider again (a client that only polls GetCheckout still gets its order)."""
        before = _now() - timedelta(seconds=self.settings.action_poll_seconds)
        with tracing.untraced():  # a poll: the checks it starts are traced when they run
            async with self.db.connect() as conn:
                due = await store.has_actions_due(conn, before)
        if not due:
            return []
        async with self.db.transaction() as conn:
            waiting = await store.lock_actions_due(conn, before, self.settings.recovery_batch_size)
            now = _now()
            for checkout in waiting:
                checking = holds.on_action_check(checkout, now)
                await store.save(conn, checking, owner=self.owner, lease_seconds=self.settings.lease_seconds)
        for checkout in waiting:
            self.spawn(checkout.checkout_id)
        return [checkout.checkout_id for checkout in waiting]

    async def wait_settled(self, checkout_id: str, seconds: float) -> Checkout:
        """The checkout once it completed, failed or is held, or as it is after `seconds`."""
        return await self.waiters.settled(checkout_id, seconds)

    # --- running a saga ---------------------------------------------------------------------------

    async def _drive_safely(self, checkout_id: str, known: rows.Loaded | None) -> None:
        try:
            await self._drive(checkout_id, known)
        except LeaseLost:
            log.warning("lost the lease of checkout %s; another runner goes on", checkout_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the saga of checkout %s stopped; recovery takes it up again", checkout_id)
            with contextlib.suppress(Exception):
                async with self.db.transaction() as conn:
                    await store.release_lease(conn, checkout_id, self.owner)
            self.wake_recovery()
        finally:
            self._tasks.pop(checkout_id, None)
            self.waiters.announce(checkout_id, None)

    async def _drive(self, checkout_id: str, known: rows.Loaded | None) -> None:
        """Run the saga to its end or its next hold. Every call is preceded by one write that records
        the previous call's outcome, whatever needs no call, and the start of this call."""
        loaded = known or await rows.load(self.db, checkout_id)
        if loaded is None:
            return
        if loaded.owner != self.owner:
            raise LeaseLost(checkout_id)
        run = _Run(loaded.checkout, loaded.version)
        await self._record(run, None)  # start the next call (a running one again, after a recovery)
        retries = 0
        while True:
            match saga.next_action(run.checkout, self.policy):
                case outcomes.Run(kind):
                    self._fault(f"before:{kind.value}")
                    outcome = await self._run(run.checkout, kind)
                    self._fault(f"after:{kind.value}")
                    await self._record(run, outcome)
                    retries = await self._pause_if_retrying(run, kind, outcome, retries)
                case outcomes.Compensate(kind):
                    self._fault(f"before:undo:{kind.value}")
                    outcome = await self._undo(run.checkout, kind)
                    self._fault(f"after:undo:{kind.value}")
                    await self._record(run, outcome)
                    retries = await self._pause_if_retrying(run, kind, outcome, retries)
                case _:  # Wait or Done: every write folds skips, aborts and the finish (saga.advance)
                    return

    async def _run(self, checkout: Checkout, kind: StepKind) -> outcomes.Outcome:
        try:
            return await self.executor.run(checkout, kind)
        except Exception as exc:  # a bug or an unexpected answer: retried like a transient error
            log.exception("step %s of checkout %s raised", kind.value, checkout.checkout_id)
            return outcomes.Transient(kind, f"internal error: {type(exc).__name__}")

    async def _undo(self, checkout: Checkout, kind: StepKind) -> outcomes.Outcome:
        try:
            return await self.executor.undo(checkout, kind)
        except Exception as exc:
            log.exception("undoing %s of checkout %s raised", kind.value, checkout.checkout_id)
            return outcomes.CompensationFailed(kind, f"internal error: {type(exc).__name__}")

    async def _pause_if_retrying(self, run: _Run, kind: StepKind, outcome: outcomes.Outcome, retries: int) -> int:
        """Back off before repeating a call that failed transiently; returns the retry count."""
        step = run.checkout.step(kind)
        retrying = isinstance(outcome, outcomes.CompensationFailed) or (
            isinstance(outcome, outcomes.Transient) and step is not None and step.state is StepState.RUNNING
        )
        if not retrying:
            return 0
        retries += 1
        metrics.STEP_RETRIES.labels(kind.value).inc()
        pause = min(self.settings.retry_initial_seconds * 2 ** (retries - 1), self.settings.retry_max_seconds)
        log.warning(
            "checkout %s: %s failed (%s); retry %d in %.1fs",
            run.checkout.checkout_id,
            kind.value,
            getattr(outcome, "error", ""),
            retries,
            pause,
        )
        await asyncio.sleep(pause)
        return retries

    async def _record(self, run: _Run, outcome: outcomes.Outcome | None) -> None:
        """Persist `outcome` (if any) and what follows it up to the next call, in one write; `run`
        holds the new version. Nothing is written when nothing changes."""

        def change(current: Checkout, spent: Money | None) -> Checkout:
            now = _now()
            effective = outcome
            if (
                spent is not None
                and isinstance(outcome, outcomes.Succeeded)
                and isinstance(outcome.result, outcomes.Quoted)
            ):
                effective = outcomes.Succeeded(outcome.kind, dataclasses.replace(outcome.result, spent_in_period=spent))
            after = saga.apply(current, effective, now, self.policy) if effective is not None else current
            return saga.advance(after, self.policy, now)

        before = run.checkout
        quoted = self._quote_to_count(before, outcome)
        if quoted is not None:
            after, version = await self._write_with_spending(run, change, quoted)
        else:
            after, version = await self._write(run, change)
        run.checkout, run.version = after, version
        self._finished(before, after)
        self.waiters.announce(after.checkout_id, after)

    def _quote_to_count(self, current: Checkout, outcome: outcomes.Outcome | None) -> outcomes.Quoted | None:
        """The quote of a buyer with an approval limit per period, whose spending is read under a lock."""
        if not (isinstance(outcome, outcomes.Succeeded) and isinstance(outcome.result, outcomes.Quoted)):
            return None
        request = current.request
        since = rules.period_start(request.approval_period, current.created_at)
        counted = request.approval_limit is not None and since is not None and bool(request.customer.customer_id)
        return outcome.result if counted else None

    async def _write(self, run: _Run, change: Change) -> tuple[Checkout, int]:
        """One conditional UPDATE while nothing else wrote the row (with the checkout's final event when
        it ends, in one transaction); re-applied to the row as it is now when an event did."""
        current, version = run.checkout, run.version
        while True:
            after = change(current, None)
            if after is current:  # nothing to record (a saga spawned as it was held or ended)
                return current, version
            final = events.finished_event(current, after)
            written = await rows.write(
                self.db,
                after,
                owner=self.owner,
                version=version,
                lease_seconds=self.settings.lease_seconds,
                events=[final] if final else (),
            )
            if written is not None:
                if final and self.relay is not None:
                    self.relay.wake()
                return after, written
            loaded = await rows.load(self.db, current.checkout_id)
            if loaded is None or loaded.owner != self.owner:
                raise LeaseLost(current.checkout_id)
            current, version = loaded.checkout, loaded.version

    async def _write_with_spending(self, run: _Run, change: Change, quoted: outcomes.Quoted) -> tuple[Checkout, int]:
        """The change in a transaction on the locked row: with the buyer's spending read under the
        buyer's lock (so concurrent checkouts count each other), and the checkout's final event."""
        checkout_id = run.checkout.checkout_id
        async with self.db.transaction() as conn:
            locked = await store.lock(conn, checkout_id)
            if locked is None or locked[1] != self.owner:
                raise LeaseLost(checkout_id)
            before = locked[0]
            spent = await self._spent(conn, before, quoted)
            after = change(before, spent)
            version = await store.save(conn, after, owner=self.owner, lease_seconds=self.settings.lease_seconds)
            published = await events.stage_finished(conn, before, after)
        if published and self.relay is not None:
            self.relay.wake()
        return after, version

    async def _spent(self, conn: AsyncConnection, current: Checkout, quoted: outcomes.Quoted) -> Money:
        """What the buyer spent in the approval period before this checkout."""
        request = current.request
        since = rules.period_start(request.approval_period, current.created_at)
        assert since is not None
        currency = quoted.quote.totals.total.currency
        spent = await store.spent_in_period(
            conn, customer_id=request.customer.customer_id, currency=currency, since=since, exclude=current.checkout_id
        )
        return Money(spent, currency)

    def _finished(self, before: Checkout, after: Checkout) -> None:
        if after.status in TERMINAL and before.status not in TERMINAL:
            code = after.failure.code.value if after.failure else ""
            metrics.CHECKOUTS_FINISHED.labels(after.status.value, code).inc()
            elapsed = (after.finished_at or after.updated_at) - after.created_at
            metrics.CHECKOUT_DURATION.labels(after.status.value).observe(elapsed.total_seconds())
        if after.status is not before.status:
            step = after.current_step.kind.value if after.current_step else ""
            log.info(
                "checkout %s: %s -> %s",
                after.checkout_id,
                before.status.value,
                after.status.value,
                extra={"checkout_id": after.checkout_id, "step": step},
            )

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

    def wake_recovery(self) -> None:
        """Have the recovery worker look now (called once what it should find has committed)."""
        self._wake.set()

    async def recover_forever(self) -> None:
        while True:
            try:
                await self.recover_once()
            except Exception:
                log.exception("recovery round failed; retrying")
            await wait_event(self._wake, self.settings.recovery_interval_seconds)
            self._wake.clear()

    async def recover_once(self) -> list[str]:
        """Cancel expired holds, claim sagas nobody runs and run them; the ids claimed."""
        if self._stopping:
            return []
        await self.expire_holds()
        await self.check_due_actions()
        with tracing.untraced():  # a poll: the sagas it claims are traced when they run
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
        with tracing.untraced():  # a poll: when it finds holds to expire, the expiry is traced
            async with self.db.connect() as conn:
                due = await store.has_expired_holds(conn, now)
        if not due:
            return 0
        async with self.db.transaction() as conn:
            held = await store.lock_expired_holds(conn, now, self.settings.recovery_batch_size)
            for checkout in held:
                await store.save(conn, holds.on_hold_expired(checkout, now), owner=None, lease_seconds=0)
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


class _Run:
    """A saga this replica runs: the checkout as last written, and its version."""

    def __init__(self, checkout: Checkout, version: int):
        self.checkout = checkout
        self.version = version


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
