"""SIGKILL of the stack's processes while the buyers buy, and how long each took to come back.

The victims come from a shuffled deck of the chosen processes (every process dies once before any dies
twice); a process that is not SERVING yet is passed over for the next. Unless `overlap` is set, a kill
waits until the previous victim serves again (one process down at a time: the interval is a floor), so
a machine slower to restart than the interval is not driven into a standing outage. The pids are the launcher's own
(its state file): the PostgreSQL postmaster, nats-server, each service, the payment sandbox, the
gateway. A kill counts as recovered once the launcher's row shows a new pid that is SERVING again.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shop_devstack.harness import read_state

TICK_SECONDS = 0.2


@dataclass
class Kill:
    process: str
    pid: int
    at: float  # time.monotonic() of the kill
    recovered_after: float | None = None  # seconds until SERVING again with a new pid


def _rows(data_dir: Path) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in read_state(data_dir).get("rows", [])}


class Killer:
    """Kills one process every `interval` seconds (at most `limit` in all) in a thread of its own."""

    def __init__(
        self,
        data_dir: Path,
        victims: Sequence[str],
        interval: float,
        *,
        rng: random.Random,
        limit: int | None = None,
        first_after: float | None = None,
        overlap: bool = False,
        say: Callable[[str], None] = print,
    ):
        self.data_dir = data_dir
        self.victims = list(victims)
        self.interval = interval
        self.rng = rng
        self.limit = limit
        self.first_after = interval if first_after is None else first_after
        self.overlap = overlap
        self.say = say
        self.kills: list[Kill] = []
        self._deck: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-killer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No more kills (the ones made are still watched by `wait_recovered`); idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def wait_recovered(self, timeout: float) -> bool:
        """Until every killed process serves again; False when `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while True:
            self._watch()
            if all(kill.recovered_after is not None for kill in self.kills):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(TICK_SECONDS)

    def _run(self) -> None:
        due = time.monotonic() + self.first_after
        while not self._stop.is_set():
            more = self.limit is None or len(self.kills) < self.limit
            down = any(kill.recovered_after is None for kill in self.kills)
            if more and (self.overlap or not down) and time.monotonic() >= due and self._kill_next():
                due = time.monotonic() + self.interval
            self._watch()
            self._stop.wait(TICK_SECONDS)

    def _kill_next(self) -> bool:
        rows = _rows(self.data_dir)
        for _ in range(len(self.victims)):
            if not self._deck:
                self._deck = self.rng.sample(self.victims, len(self.victims))
            name = self._deck.pop(0)
            row = rows.get(name, {})
            pending = any(k.process == name and k.recovered_after is None for k in self.kills)
            if row.get("health") != "SERVING" or not row.get("pid") or pending:
                self._deck.append(name)  # its turn comes again once it is back
                continue
            pid = int(row["pid"])
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.kills.append(Kill(name, pid, time.monotonic()))
            self.say(f"  killed {name} (pid {pid})")
            return True
        return False

    def _watch(self) -> None:
        pending = [kill for kill in self.kills if kill.recovered_after is None]
        if not pending:
            return
        rows = _rows(self.data_dir)
        now = time.monotonic()
        for kill in pending:
            row = rows.get(kill.process, {})
            if row.get("health") == "SERVING" and row.get("pid") and int(row["pid"]) != kill.pid:
                kill.recovered_after = now - kill.at
