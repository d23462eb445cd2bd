"""The launcher's state file (read by `shop-dev status` and tests) and the status table."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shop_devstack.processes import cmdline, pid_alive


@dataclass
class Row:
    name: str
    kind: str  # infra | service
    address: str
    health: str
    pid: int | None
    restarts: int | None
    log: str = ""


@dataclass
class State:
    launcher_pid: int
    data_dir: str
    port_offset: int
    phase: str  # starting | seeding | running | stopping | stopped | failed
    rows: list[Row] = field(default_factory=list)
    updated_at: float = 0.0

    def write(self, path: Path) -> None:
        self.updated_at = time.time()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> State | None:
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        rows = [Row(**row) for row in raw.pop("rows", [])]
        return cls(rows=rows, **raw)

    def launcher_running(self) -> bool:
        return (
            self.phase != "stopped"
            and pid_alive(self.launcher_pid)
            and any("shop-dev" in part or "shop_devstack" in part for part in cmdline(self.launcher_pid))
        )


def render_table(rows: Sequence[Row]) -> str:
    headers = ("SERVICE", "ADDRESS", "HEALTH", "PID", "RESTARTS")
    cells = [(r.name, r.address, r.health, _dash(r.pid), _dash(r.restarts)) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells]
    return "\n".join(lines)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)
