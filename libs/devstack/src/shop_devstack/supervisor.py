"""Keeps the started components running: restarts one that exits, with exponential backoff.

A component that ran for a while before it died is restarted quickly; one that keeps dying right
after its start waits 0.5 s, 1 s, 2 s ... up to 30 s between attempts, so a crash loop doesn't eat
the machine. Health is probed often while a component starts and every few seconds after.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Sequence

from shop_devstack.components import EXITED, STARTING, STOPPED, Component
from shop_devstack.health import SERVING
from shop_devstack.processes import tail

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
STABLE_AFTER_SECONDS = 30.0  # an exit after this long resets the backoff
PROBE_INTERVAL_SERVING = 2.0
TICK_SECONDS = 0.2
STARTUP_CRASH_LIMIT = 3  # exits while starting before `wait_serving` gives up


class StartupFailure(Exception):
    def __init__(self, component: Component, reason: str):
        self.component = component
        self.reason = reason
        log_tail = tail(component.log_path, 25)
        super().__init__(
            f"{component.name} {reason}.\n--- last lines of {component.log_path} ---\n{log_tail or '(empty)'}\n---"
        )


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def backoff_delay(quick_failures: int) -> float:
    return float(min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, quick_failures - 1)))


Snapshot = tuple[tuple[str, str, int | None, int], ...]


class Supervisor:
    def __init__(self, say: Callable[[str], None], on_change: Callable[[], None]):
        self.components: list[Component] = []
        self.say = say
        self.on_change = on_change
        self._stopping = False
        self._last_probe: dict[str, float] = {}
        self._snapshot: Snapshot = ()

    def add(self, component: Component) -> None:
        self.components.append(component)

    def get(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def snapshot(self) -> Snapshot:
        return tuple((c.name, c.health, c.pid, c.restarts) for c in self.components)

    async def run(self) -> None:
        """Watch until `stop_watching()`; call as a task."""
        while not self._stopping:
            await self.tick()
            await asyncio.sleep(TICK_SECONDS)

    def stop_watching(self) -> None:
        self._stopping = True

    async def tick(self) -> None:
        now = time.monotonic()
        for component in list(self.components):
            if self._stopping:
                return
            await self._handle_exit(component, now)
        due = [c for c in self.components if c.alive() and self._probe_due(c, now)]
        results = await asyncio.gather(*(c.probe() for c in due), return_exceptions=True)
        for component, result in zip(due, results, strict=True):
            self._last_probe[component.name] = now
            if isinstance(result, BaseException):
                continue
            if result != component.health and not (component.health == STARTING and result != SERVING):
                if component.health == STARTING and result == SERVING and component.kind != "infra":
                    took = now - component.started_at
                    self.say(f"{component.name} is SERVING ({took:.1f} s after its start)")
                component.health = result
        self._notify()

    def _probe_due(self, component: Component, now: float) -> bool:
        if component.health != SERVING:
            return True
        return now - self._last_probe.get(component.name, 0.0) >= PROBE_INTERVAL_SERVING

    async def _handle_exit(self, component: Component, now: float) -> None:
        if component.alive() or component.health == STOPPED:
            return
        if component.retry_at is None:
            ran = now - component.started_at
            component.quick_failures = 0 if ran >= STABLE_AFTER_SECONDS else component.quick_failures + 1
            delay = backoff_delay(component.quick_failures)
            component.exit_status = component.returncode()
            component.health = EXITED
            component.retry_at = now + delay
            self.say(
                f"{component.name} {describe_exit(component.exit_status)} after {ran:.1f} s; "
                f"restarting in {delay:.1f} s (log: {component.log_path})"
            )
            self._notify()
        elif now >= component.retry_at:
            component.restarts += 1
            try:
                await component.launch()
            except Exception as exc:  # a start that fails counts as a quick exit
                self.say(f"{component.name} could not be restarted: {exc}")
                component.retry_at = None
                component.started_at = now
            self._notify()

    def _notify(self) -> None:
        snapshot = self.snapshot()
        if snapshot != self._snapshot:
            self._snapshot = snapshot
            self.on_change()

    async def wait_serving(self, names: Sequence[str], limit: float) -> None:
        """Until every named component is SERVING; StartupFailure on a crash loop or after `limit` s."""
        deadline = time.monotonic() + limit
        pending = [self.get(name) for name in names]
        while pending:
            for component in pending:
                if component.restarts >= STARTUP_CRASH_LIMIT and component.health == EXITED:
                    raise StartupFailure(
                        component,
                        f"{describe_exit(component.exit_status)} {component.restarts + 1} times while starting",
                    )
            if time.monotonic() >= deadline:
                component = pending[0]
                raise StartupFailure(
                    component, f"did not report SERVING within {limit:.0f} s (health: {component.health})"
                )
            await asyncio.sleep(TICK_SECONDS)
            pending = [c for c in pending if c.health != SERVING]

    async def stop(self, names: Sequence[str], grace: float) -> None:
        """Stop the named components at once (SIGTERM, then SIGKILL after `grace`)."""
        chosen = [c for c in self.components if c.name in names]
        for component in chosen:
            component.health = STOPPED
        await asyncio.gather(*(c.stop(grace) for c in chosen), return_exceptions=True)
        for component in chosen:
            if component.stop_report:
                self.say(f"{component.name} {component.stop_report} (log: {component.log_path})")
            with contextlib.suppress(Exception):
                await component.close()
