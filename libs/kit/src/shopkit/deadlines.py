"""Deadline propagation: outgoing calls inherit what is left of the incoming call's deadline.

grpc.aio does not do this by itself. The server interceptor records the incoming deadline in a
context variable; the client interceptor uses the remaining time as the outgoing timeout.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("shop_deadline", default=None)


def set_deadline(time_remaining: float | None) -> None:
    _deadline.set(None if time_remaining is None else time.monotonic() + time_remaining)


def remaining(default: float) -> float:
    """Seconds left for an outgoing call: the caller's remaining time, or `default` when it set none."""
    deadline = _deadline.get()
    if deadline is None:
        return default
    return max(0.0, deadline - time.monotonic())
