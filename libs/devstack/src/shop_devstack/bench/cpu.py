"""Server CPU from /proc: utime + stime of each process, before and after a measured run.

PostgreSQL counts as one process: the postmaster, its live children (backends, walwriter ...) and,
through the postmaster's cutime/cstime, the children it reaped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from the state on (field 3 of proc(5))


def process_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime (and cutime + cstime with `reaped_children`) in seconds; 0 when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / TICKS


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def postgres_seconds(postmaster: int) -> float:
    return process_seconds(postmaster, reaped_children=True) + sum(process_seconds(c) for c in children(postmaster))


@dataclass(frozen=True)
class Processes:
    """The server processes of a run by name; `postgres` is the postmaster (its children counted with it)."""

    pids: Mapping[str, int]

    def snapshot(self) -> dict[str, float]:
        return {
            name: postgres_seconds(pid) if name == "postgres" else process_seconds(pid)
            for name, pid in self.pids.items()
        }


def spent(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds per process between two snapshots."""
    return {name: max(0.0, after.get(name, 0.0) - before.get(name, 0.0)) for name in before}
