"""Who may call which method of the notifications service (see shopkit.access): the operators'
tooling reads what was mailed; no other service calls it (it learns everything from events)."""

from __future__ import annotations

from shopkit.access import TOOLING, Callers, allow

CALLERS: Callers = {
    "ListNotifications": allow(TOOLING),
    "GetNotification": allow(TOOLING),
}
